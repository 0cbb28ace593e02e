"""Writing an index: a new version beside the current one, swapped in on commit."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sqlite3
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from core.documents import Chunk, Page
from core.errors import IndexFormatError, write_failed
from core.hashing import text_hash
from core.lexical import expand_identifiers, plain_words
from core.onnx_encoder import ExportedEncoder
from core.settings import Settings

from .lexical import choose_lexical_engine, write_tantivy
from .manifest import (
    LEXICAL,
    MANIFEST,
    MODEL,
    SENTENCES,
    STORE,
    VECTORS,
    Adaptation,
    Counts,
    EncoderInfo,
    Manifest,
    VectorIndexInfo,
)
from .schema import SCHEMA, StoredChunk
from .vector_kinds import (
    HNSW_EF_CONSTRUCTION,
    HNSW_EF_SEARCH,
    HNSW_M,
    IVFPQ_K_FACTOR,
    IVFPQ_MIN_CHUNKS,
    choose_vector_index,
    to_hnsw,
    to_ivfpq,
)
from .versions import clean_stale_builds, finished_name, fsync, new_version_dir, prune_versions, swap_in, write_durably

logger = logging.getLogger(__name__)

#: Words the vocabulary keeps at most, the most frequent (a wiki of millions of pages has
#: millions of one-off words; a spelling is suggested from the frequent ones).
VOCABULARY_MAX = 500_000


def searchable_text(chunk_text: str, code: str) -> str:
    """What the lexical leg indexes of a chunk: its text, and a query page's code
    (so ``Q146`` or ``wdt:P18`` find the queries that use them)."""
    return "\n\n".join(part for part in (chunk_text, code) if part)


def _link(source: Path, dest: Path) -> None:
    """A hard link (a version's files never change), or a copy across file systems."""
    try:
        os.link(source, dest)
    except OSError:
        shutil.copyfile(source, dest)


def _link_tree(source: Path, dest: Path) -> None:
    for path in sorted(source.rglob("*")):
        to = dest / path.relative_to(source)
        if path.is_dir():
            to.mkdir(parents=True, exist_ok=True)
        else:
            to.parent.mkdir(parents=True, exist_ok=True)
            _link(path, to)


def relabel_version(
    target: Path, manifest: Manifest, encoder: ExportedEncoder | None, model: Path | None, publish: bool = True
) -> Path:
    """A new version of ``target`` that shares the current one's store and vectors (hard
    links: a version's files never change) under another ``manifest``, with ``encoder``
    to read queries (none: the model ``manifest`` names reads them) and the adapted
    model's files from ``model``: what changes only how queries are read, in the time
    of a link, however large the index."""
    manifest = manifest.replace(encoder=encoder.info if encoder is not None else None)
    current = target.resolve()
    clean_stale_builds(target)
    building = new_version_dir(target)
    try:
        building.mkdir()
        for name in (STORE, VECTORS, SENTENCES):
            _link(current / name, building / name)
        if (current / LEXICAL).is_dir():
            _link_tree(current / LEXICAL, building / LEXICAL)
        if encoder is not None:
            for name in (encoder.info.onnx, encoder.info.tokenizer):
                _link(encoder.directory / name, building / name)
        if model is not None:
            _link_tree(model, building / MODEL)
        write_durably(building / MANIFEST, manifest.to_json())
        final = finished_name(building)
        building.rename(final)
    except OSError as exc:
        shutil.rmtree(building, ignore_errors=True)
        raise write_failed(target, exc) from None
    if publish:
        publish_version(target, final)
    return final


def publish_version(target: Path, version: Path) -> None:
    """Make a finished version the one ``target`` names; the one it replaces is kept
    (for rollback and for readers that have it open), older ones removed."""
    previous = target.resolve() if target.is_symlink() else None
    try:
        swap_in(target, version)
    except OSError as exc:
        raise write_failed(target, exc) from None
    prune_versions(target, keep={version} | ({previous} if previous else set()))
    logger.info("index %s now points at %s", target, version.name)


def rewrite_manifest(version: Path, manifest: Manifest) -> None:
    """Replace the manifest of a finished version that is not yet published."""
    write_durably(version / MANIFEST, manifest.to_json())


class IndexWriter:
    """Writes a new index version beside ``target``; ``commit`` swaps it in."""

    def __init__(self, target: str | Path, dimensions: int):
        self.target = Path(target)
        self.dimensions = dimensions
        parent = self.target.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise IndexFormatError(f"{parent}: cannot create index directory: {exc.strerror}") from None
        clean_stale_builds(self.target)
        self.version_dir = new_version_dir(self.target)
        try:
            self.version_dir.mkdir()
            self.conn = sqlite3.connect(self.version_dir / STORE)
            self.conn.executescript("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;" + SCHEMA)
            self.sentence_file = open(self.version_dir / SENTENCES, "wb")  # noqa: SIM115 (closed on commit or abort)
        except (OSError, sqlite3.OperationalError) as exc:
            self.abort()
            raise write_failed(self.target, exc) from None
        self.vectors: Any = faiss.IndexFlatIP(dimensions)  # flat while written; its final type at commit
        self.pages = 0
        self.words: Counter[str] = Counter()  # the vocabulary, counted as pages are added
        self.aliases = 0
        self.sentences = 0
        self.encoder: EncoderInfo | None = None
        self.adaptation: Adaptation | None = None

    @property
    def chunk_count(self) -> int:
        return int(self.vectors.ntotal)

    def add_page(
        self, page: Page, chunks: Sequence[Chunk | StoredChunk], vectors: np.ndarray, source_hash: str | None = None
    ) -> int:
        """Add a page and its chunks; returns the id of its first chunk.
        ``source_hash``: of a page carried over from an earlier version (its text is not at hand)."""
        if len(chunks) != len(vectors):
            raise ValueError("one vector per chunk")
        cur = self.conn.execute(
            "INSERT INTO pages (page_id, title, namespace, rev_id, timestamp, url, code, code_language, action_url, "
            "text_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                page.page_id,
                page.title,
                page.namespace,
                page.rev_id,
                page.timestamp,
                page.url,
                page.code,
                page.code_language,
                page.action_url,
                source_hash or page.source_hash,
            ),
        )
        page_row = cur.lastrowid
        self.conn.executemany(
            "INSERT INTO categories (page, name) VALUES (?, ?)", [(page_row, name) for name in page.categories]
        )
        first = self.chunk_count
        title_terms = expand_identifiers(page.title, names=True)
        rows = [(first + i, page_row, c.ordinal, c.section, c.anchor, c.text, c.key) for i, c in enumerate(chunks)]
        self.conn.executemany(
            "INSERT INTO chunks (id, page, ordinal, section, anchor, text, hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        self.words.update(plain_words(page.title))
        fts_rows = []
        for i, c in enumerate(chunks):
            self.words.update(plain_words(c.text))
            text = searchable_text(c.text, page.code)
            fts_rows.append(
                (first + i, page.title, c.section, text, expand_identifiers(f"{c.section} {text}"), title_terms)
            )
        self.conn.executemany(
            "INSERT INTO chunks_fts (rowid, title, section, text, terms, title_terms) VALUES (?, ?, ?, ?, ?, ?)",
            fts_rows,
        )
        if len(chunks):
            self.vectors.add(np.ascontiguousarray(vectors, dtype=np.float32))
        self.pages += 1
        return first

    def add_sentences(self, chunk_id: int, texts: Sequence[str], vectors: np.ndarray) -> None:
        """The answer line's sentences of one chunk, with their vectors (stored as float16)."""
        if len(texts) != len(vectors):
            raise ValueError("one vector per sentence")
        first = self.sentences
        self.conn.executemany(
            "INSERT INTO sentences (id, chunk, text, hash) VALUES (?, ?, ?, ?)",
            [(first + i, chunk_id, text, text_hash(text)) for i, text in enumerate(texts)],
        )
        self.sentence_file.write(np.ascontiguousarray(vectors, dtype=np.float16).tobytes())
        self.sentences += len(texts)

    def add_alias(self, title: str, target: str) -> None:
        name, _, anchor = target.partition("#")
        self.conn.execute(
            "INSERT OR REPLACE INTO aliases (title, target, anchor) VALUES (?, ?, ?)",
            (title, name.strip(), anchor),
        )
        self.conn.execute(
            "INSERT INTO aliases_fts (title, terms, target) VALUES (?, ?, ?)",
            (title, expand_identifiers(title, names=True), name.strip()),
        )
        self.aliases += 1

    def add_encoder(self, directory: Path, info: EncoderInfo) -> None:
        """Store the query encoder's files with this version (hard links when possible)."""
        for name in (info.onnx, info.tokenizer):
            _link(directory / name, self.version_dir / name)
        self.encoder = info

    def add_model(self, directory: Path, adaptation: Adaptation) -> None:
        """Store an adapted model's files with this version: the next build embeds with them."""
        _link_tree(directory, self.version_dir / MODEL)
        self.adaptation = adaptation

    def commit(self, manifest: Manifest, settings: Settings, publish: bool = True) -> Path:
        """Finish the files, then make this version the one ``target`` names (unless
        not ``publish``: then the caller judges it first, and publishes or removes it).
        The vector index and the lexical engine are chosen by ``settings`` and the index's size."""
        index = self._finish_vectors(settings.vector_index, settings.flat_max_chunks, settings.vector_memory_mb)
        lexical = choose_lexical_engine(settings.lexical_engine, self.chunk_count, settings.fts5_max_chunks)
        counts = Counts(self.pages, self.chunk_count, self.aliases, dict(manifest.counts.skipped), self.sentences)
        manifest = manifest.replace(
            counts=counts,
            index=index,
            lexical_engine=lexical,
            encoder=self.encoder or manifest.encoder,
            adaptation=self.adaptation or manifest.adaptation,
            model=replace(manifest.model, dimensions=self.dimensions),
        )
        try:
            self.conn.executemany(
                "INSERT INTO vocabulary (word, count) VALUES (?, ?)", self.words.most_common(VOCABULARY_MAX)
            )
            self.conn.commit()
            self.conn.execute("ANALYZE")
            self.conn.commit()
            if lexical == "tantivy":
                write_tantivy(self.conn, self.version_dir / LEXICAL)
            self.conn.close()
            faiss.write_index(self.vectors, str(self.version_dir / VECTORS))
            self.sentence_file.close()
            write_durably(self.version_dir / MANIFEST, manifest.to_json())
            for name in (STORE, VECTORS, SENTENCES):
                fsync(self.version_dir / name)
            final = finished_name(self.version_dir)
            self.version_dir.rename(final)
            self.version_dir = final
        except (OSError, RuntimeError, ValueError, sqlite3.Error) as exc:
            self.abort()
            raise write_failed(self.target, exc) from None
        if publish:
            publish_version(self.target, final)
        return final

    def _finish_vectors(self, vector_index: str, flat_max: int, memory_mb: int) -> VectorIndexInfo:
        """Turn the flat vectors into the chosen index type; what it is, for the manifest."""
        kind = choose_vector_index(vector_index, self.chunk_count, self.dimensions, flat_max, memory_mb)
        if kind == "ivfpq" and self.chunk_count < IVFPQ_MIN_CHUNKS:
            logger.warning(
                "IVF-PQ needs at least %d chunks to train on, this index has %d: kept exact (flat)",
                IVFPQ_MIN_CHUNKS,
                self.chunk_count,
            )
            kind = "flat"
        started = time.monotonic()
        if kind == "hnsw":
            self.vectors = to_hnsw(self.vectors)
            return VectorIndexInfo(
                faiss="IndexHNSWFlat",
                chosen=vector_index,
                M=HNSW_M,
                ef_construction=HNSW_EF_CONSTRUCTION,
                ef_search=HNSW_EF_SEARCH,
                graph_build_s=round(time.monotonic() - started, 2),
            )
        if kind == "ivfpq":
            self.vectors = to_ivfpq(self.vectors)
            ivf: Any = faiss.downcast_index(faiss.extract_index_ivf(self.vectors))
            return VectorIndexInfo(
                faiss="IndexRefine(IndexIVFPQ, IndexFlatIP)",
                chosen=vector_index,
                nlist=int(ivf.nlist),
                pq_m=int(ivf.pq.M),
                nprobe=int(ivf.nprobe),
                k_factor=IVFPQ_K_FACTOR,
                graph_build_s=round(time.monotonic() - started, 2),
            )
        return VectorIndexInfo(faiss="IndexFlatIP", chosen=vector_index)

    def abort(self) -> None:
        """Drop the half-written version; the current index is untouched."""
        conn = getattr(self, "conn", None)
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        sentence_file = getattr(self, "sentence_file", None)
        if sentence_file is not None:
            with contextlib.suppress(OSError):  # its buffer cannot be flushed to a full disk: it is dropped anyway
                sentence_file.close()
        shutil.rmtree(self.version_dir, ignore_errors=True)
