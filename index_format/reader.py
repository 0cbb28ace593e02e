"""Reading an index: the manifest, the vectors and the store of one version."""

from __future__ import annotations

import itertools
import logging
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from core.documents import Page
from core.errors import IndexFormatError

from .lexical import TantivyLexical
from .lookups import TextLookups, as_json
from .manifest import LEXICAL, MANIFEST, SENTENCES, STORE, VECTORS, Manifest, VectorIndexInfo, first_line, read_manifest
from .schema import ChunkRow, StoredChunk
from .versions import versions

logger = logging.getLogger(__name__)
#: Pages whose categories ``stored_pages`` reads in one query.
_PAGE_BATCH = 1000


def read_vectors(path: Path, info: VectorIndexInfo) -> Any:
    """The FAISS index, memory-mapped (a version's files never change) and set to
    search as the manifest says. Mapped vectors are page cache the kernel can drop,
    not the process's own memory, and loading takes no time whatever the size."""
    vectors = faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC)
    if hasattr(vectors, "hnsw") and info.ef_search:
        vectors.hnsw.efSearch = info.ef_search
    if info.nprobe:
        faiss.extract_index_ivf(vectors).nprobe = info.nprobe
    if info.k_factor and hasattr(vectors, "k_factor"):
        vectors.k_factor = info.k_factor
    return vectors


class NotAnIndex(IndexFormatError):
    """The path holds something else: never overwritten, even with --replace."""


class Index(TextLookups):
    """A loaded, read-only index. Safe to share between threads."""

    def __init__(self, path: Path, version_dir: Path, manifest: Manifest, vectors: Any):
        self.path = path
        self.version_dir = version_dir
        self.manifest = manifest
        self.vectors = vectors
        self.sentence_vectors: np.ndarray | None = None  # float16 rows, memory-mapped
        self.tantivy: TantivyLexical | None = None  # the lexical leg of a large index (else FTS5)
        self._local = threading.local()

    @classmethod
    def open(cls, path: str | Path) -> Index:
        path = Path(path)
        if not path.exists():
            raise IndexFormatError(f"{path}: no index here (build one with: wikisearch build DUMP --index {path})")
        version_dir = path.resolve()
        manifest = read_manifest(version_dir, display=path)
        for name in (VECTORS, STORE):
            if not (version_dir / name).is_file():
                raise IndexFormatError(f"{path}: index is incomplete: {name} is missing")
        try:
            vectors = read_vectors(version_dir / VECTORS, manifest.index)
        except RuntimeError as exc:
            raise IndexFormatError(f"{path}: {VECTORS} is corrupt: {first_line(exc)}") from None
        index = cls(path, version_dir, manifest, vectors)
        index._check(path)
        if manifest.lexical_engine == "tantivy":
            if not (version_dir / LEXICAL).is_dir():
                raise IndexFormatError(f"{path}: index is incomplete: {LEXICAL} is missing")
            index.tantivy = TantivyLexical(version_dir / LEXICAL)
        index.sentence_vectors = index._open_sentences(path)
        return index

    def _open_sentences(self, display: Path) -> np.ndarray | None:
        """The answer line's sentence vectors; None for an index stored without them."""
        count, dims = self.manifest.counts.sentences, self.vectors.d
        if count == 0:
            return None
        path = self.version_dir / SENTENCES
        size = path.stat().st_size if path.is_file() else -1
        if size != count * dims * 2:
            raise IndexFormatError(
                f"{display}: index is inconsistent: manifest says {count} sentences, {SENTENCES} holds "
                f"{max(size, 0) // (dims * 2)}; rebuild it"
            )
        return np.memmap(path, dtype=np.float16, mode="r", shape=(count, dims))

    def _check(self, display: Path) -> None:
        expected = self.manifest.counts.chunks
        dims = self.manifest.model.dimensions or self.vectors.d
        try:
            stored = self.db().execute("SELECT count(*) FROM chunks").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise IndexFormatError(f"{display}: {STORE} is corrupt: {exc}") from None
        if not (self.vectors.ntotal == stored == expected) or self.vectors.d != dims:
            raise IndexFormatError(
                f"{display}: index is inconsistent: manifest says {expected} chunks, "
                f"FAISS holds {self.vectors.ntotal}, SQLite {stored}; rebuild it"
            )

    @property
    def model_name(self) -> str:
        return self.manifest.model.name

    def db(self) -> sqlite3.Connection:
        """This thread's read-only connection to the store."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            uri = f"file:{self.version_dir / STORE}?mode=ro"
            try:
                conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
                conn.execute("PRAGMA query_only = 1")
            except sqlite3.DatabaseError as exc:
                raise IndexFormatError(f"{self.path}: cannot open {STORE}: {exc}") from None
            self._local.conn = conn
        return conn

    # ------------------------------------------------------------ vectors

    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Nearest chunks by inner product of normalised vectors (cosine)."""
        k = min(k, self.vectors.ntotal)
        if k <= 0:
            return []
        scores, ids = self.vectors.search(np.asarray(vector, dtype=np.float32).reshape(1, -1), k)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def vectors_of(self, ids: Sequence[int]) -> np.ndarray:
        """The stored vectors of these chunk ids, in order."""
        return self.vectors.reconstruct_batch(np.asarray(ids, dtype=np.int64))

    def sentences_of(self, chunk_ids: Sequence[int]) -> tuple[list[tuple[int, str]], np.ndarray]:
        """The answer line's sentences of these chunks — (chunk id, text) in
        chunk then text order — and their vectors (float32)."""
        if self.sentence_vectors is None or not chunk_ids:
            return [], np.zeros((0, self.vectors.d), dtype=np.float32)
        marks = ",".join("?" * len(chunk_ids))
        rows = (
            self.db()
            .execute(
                f"SELECT id, chunk, text FROM sentences WHERE chunk IN ({marks}) ORDER BY chunk, id", list(chunk_ids)
            )
            .fetchall()
        )
        order = {cid: i for i, cid in enumerate(chunk_ids)}
        rows.sort(key=lambda row: (order[row[1]], row[0]))
        vectors = self.sentence_vectors[[row[0] for row in rows]].astype(np.float32)
        return [(int(chunk), str(text)) for _, chunk, text in rows], vectors

    # ------------------------------------------------------------ rows

    def chunks(self, ids: Sequence[int]) -> dict[int, ChunkRow]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.db().execute(
            "SELECT c.id, p.title, c.section, c.anchor, c.text, p.url, p.page_id, p.rev_id, p.namespace, "
            "p.code, p.code_language, p.action_url, p.timestamp "
            f"FROM chunks c JOIN pages p ON p.id = c.page WHERE c.id IN ({marks})",
            list(ids),
        )
        found = {row[0]: ChunkRow(*row[:13]) for row in rows}
        named = self.categories_of(sorted({row.title for row in found.values()}))
        return {cid: replace(row, categories=named.get(row.title, ())) for cid, row in found.items()}

    def chunk_at(self, title: str, anchor: str) -> int | None:
        """The first chunk of a page's section (where a redirect to ``Page#anchor`` lands)."""
        row = (
            self.db()
            .execute(
                "SELECT c.id FROM chunks c JOIN pages p ON p.id = c.page WHERE p.title = ? AND c.anchor = ? "
                "ORDER BY c.ordinal LIMIT 1",
                (title, anchor),
            )
            .fetchone()
        )
        return int(row[0]) if row else None

    def titles_starting(self, prefix: str, limit: int) -> list[tuple[str, str, str]]:
        """Pages and redirects whose title starts with ``prefix``, read in the title
        indexes' order (not a scan): (title, the redirect's target or "", the URL of
        the page, or of the redirect's target)."""
        end = prefix + "\U0010ffff"
        db = self.db()
        pages = db.execute(
            "SELECT title, '', url FROM pages WHERE title >= ? AND title < ? ORDER BY title LIMIT ?",
            (prefix, end, limit),
        ).fetchall()
        redirects = db.execute(
            "SELECT a.title, a.target, p.url FROM aliases a JOIN pages p ON p.title = a.target "
            "WHERE a.title >= ? AND a.title < ? ORDER BY a.title LIMIT ?",
            (prefix, end, limit),
        ).fetchall()
        return [(str(t), str(target), str(url)) for t, target, url in sorted(pages + redirects)[:limit]]

    def chunk_pages(self) -> np.ndarray:
        """The page row of every chunk, indexed by chunk id."""
        rows = self.db().execute("SELECT page FROM chunks ORDER BY id").fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def page_rows(self) -> Iterator[tuple[int, str, int, str]]:
        """(page row, title, namespace, revision timestamp) of every page, in row order."""
        for row_id, title, namespace, timestamp in self.db().execute(
            "SELECT id, title, namespace, timestamp FROM pages ORDER BY id"
        ):
            yield int(row_id), str(title), int(namespace), str(timestamp)

    def openings(self) -> dict[str, int]:
        """Each page's first chunk (ordinal 0) by title."""
        rows = self.db().execute("SELECT p.title, c.id FROM chunks c JOIN pages p ON p.id = c.page WHERE c.ordinal = 0")
        return {str(title): int(cid) for title, cid in rows}

    def aliases(self, targets: Iterable[str] | None = None) -> Iterator[tuple[str, str]]:
        """(redirect title, target page title) pairs; with ``targets``, only those to these pages."""
        if targets is None:
            rows = self.db().execute("SELECT title, target FROM aliases")
        else:
            among = "SELECT value FROM json_each(?)"
            rows = self.db().execute(
                f"SELECT title, target FROM aliases WHERE target IN ({among})", (as_json(targets),)
            )
        for alias, target in rows:
            yield str(alias), str(target)

    def alias_rows(self) -> Iterator[tuple[str, str]]:
        """(redirect title, ``Target`` or ``Target#anchor``): the aliases as a build adds them."""
        for alias, target, anchor in self.db().execute("SELECT title, target, anchor FROM aliases ORDER BY title"):
            yield str(alias), f"{target}#{anchor}" if anchor else str(target)

    def stored_pages(self, rows: Iterable[int] | None = None) -> Iterator[tuple[Page, str, list[StoredChunk]]]:
        """Every page (or, with ``rows``, those of these page rows: ``page_rows``) with
        its source hash and chunks, to carry into a new version unchanged (the page's
        ``text`` is not stored: it is empty here). One query over pages and chunks
        in page order, not one per page."""
        among = "" if rows is None else "WHERE p.id IN (SELECT value FROM json_each(?)) "
        found = self.db().execute(
            "SELECT p.id, p.page_id, p.title, p.namespace, p.rev_id, p.timestamp, p.url, p.code, p.code_language, "
            "p.action_url, p.text_hash, c.ordinal, c.section, c.anchor, c.text, c.hash "
            f"FROM pages p JOIN chunks c ON c.page = p.id {among}ORDER BY p.id, c.ordinal",
            () if rows is None else (as_json(rows),),
        )
        pages: list[tuple[Page, str, list[StoredChunk]]] = []
        for _, grouped in itertools.groupby(found, key=lambda row: row[0]):
            chunks = list(grouped)
            _, page_id, title, ns, rev_id, timestamp, url, code, language, action, source_hash = chunks[0][:11]
            page = Page(
                title, ns, page_id, rev_id, timestamp, "", url, code=code, code_language=language, action_url=action
            )
            pages.append((page, str(source_hash), [StoredChunk(title, *row[11:]) for row in chunks]))
            if len(pages) >= _PAGE_BATCH:
                yield from self._with_categories(pages)
                pages = []
        yield from self._with_categories(pages)

    def _with_categories(
        self, pages: list[tuple[Page, str, list[StoredChunk]]]
    ) -> Iterator[tuple[Page, str, list[StoredChunk]]]:
        named = self.categories_of(page.title for page, _, _ in pages)
        for page, source_hash, chunks in pages:
            yield replace(page, categories=named.get(page.title, ())), source_hash, chunks

    def newest_timestamp(self) -> str:
        """The newest revision timestamp of the pages: where a dump leaves off."""
        row = self.db().execute("SELECT max(timestamp) FROM pages").fetchone()
        return str(row[0] or "")

    def alias_target(self, title: str) -> str | None:
        row = self.db().execute("SELECT target FROM aliases WHERE title = ?", (title,)).fetchone()
        return str(row[0]) if row else None

    # ------------------------------------------------------------ for rebuilds

    def page_chunk_hashes(self) -> dict[str, tuple[int, tuple[str, ...]]]:
        """title → (rev_id, chunk hashes in order), to tell what a rebuild changed."""
        result: dict[str, tuple[int, list[str]]] = {}
        rows = self.db().execute(
            "SELECT p.title, p.rev_id, c.hash FROM chunks c JOIN pages p ON p.id = c.page ORDER BY c.page, c.ordinal"
        )
        for title, rev_id, digest in rows:
            result.setdefault(title, (rev_id, []))[1].append(digest)
        return {title: (rev, tuple(hashes)) for title, (rev, hashes) in result.items()}

    def stored_chunks(self, title: str, source_hash: str) -> list[StoredChunk] | None:
        """The chunks of a page whose source text is unchanged, to reuse without parsing."""
        rows = (
            self.db()
            .execute(
                "SELECT c.ordinal, c.section, c.anchor, c.text, c.hash FROM chunks c JOIN pages p ON p.id = c.page "
                "WHERE p.title = ? AND p.text_hash = ? ORDER BY c.ordinal",
                (title, source_hash),
            )
            .fetchall()
        )
        return [StoredChunk(title, *row) for row in rows] or None

    def vectors_for(self, hashes: Iterable[str]) -> dict[str, np.ndarray]:
        """Stored vectors of the chunks whose embedded text has these hashes."""
        found = self._ids_by_hash("chunks", hashes)
        if not found:
            return {}
        vectors = self.vectors_of(list(found.values()))
        return {digest: vectors[i] for i, digest in enumerate(found)}

    def sentence_vectors_for(self, hashes: Iterable[str]) -> dict[str, np.ndarray]:
        """Stored vectors of the sentences with these text hashes."""
        if self.sentence_vectors is None:
            return {}
        found = self._ids_by_hash("sentences", hashes)
        return {digest: np.asarray(self.sentence_vectors[row], dtype=np.float32) for digest, row in found.items()}

    def _ids_by_hash(self, table: str, hashes: Iterable[str]) -> dict[str, int]:
        """One row id of ``table`` (chunks or sentences) per text hash found."""
        wanted = list(set(hashes))
        found: dict[str, int] = {}
        for start in range(0, len(wanted), 500):
            part = wanted[start : start + 500]
            marks = ",".join("?" * len(part))
            for row, digest in self.db().execute(f"SELECT id, hash FROM {table} WHERE hash IN ({marks})", part):
                found.setdefault(digest, int(row))
        return found

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def open_index(path: str | Path) -> Index:
    """Open the index at ``path``; if its current version is broken, fall back to
    the newest older version that loads (logged), so a bad swap never takes a
    search service down."""
    path = Path(path)
    try:
        return Index.open(path)
    except IndexFormatError as exc:
        if not path.is_symlink():
            raise
        current = path.resolve()
        for version in sorted(versions(path), key=lambda p: p.name, reverse=True):
            if version.resolve() == current:
                continue
            try:
                index = Index.open(version)
            except IndexFormatError:
                continue
            logger.error("%s: %s; serving the previous version %s instead", path, exc, version.name)
            index.path = path
            return index
        raise


def existing_manifest(path: Path) -> Manifest | None:
    """The manifest of the index at ``path``, None if there is none yet.

    Refuses a path that holds something other than a wikisearch index, so a
    mistyped ``--index`` never overwrites someone's directory.
    """
    if not path.exists() and not path.is_symlink():
        return None
    if path.is_symlink() and not path.exists():
        return None  # dangling link from a removed version: rebuild over it
    if path.is_dir() and not any(path.iterdir()):
        return None
    if not path.is_dir():
        raise NotAnIndex(f"{path}: exists and is not an index directory")
    if not path.is_symlink() and not (path / MANIFEST).is_file():
        raise NotAnIndex(f"{path}: not a wikisearch index ({MANIFEST} is missing); refusing to replace it")
    return read_manifest(path.resolve(), display=path)
