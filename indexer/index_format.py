"""The one module that owns the on-disk index format.

An index is a directory::

    manifest.json   format version, model, source, counts, build stats
    vectors.faiss   normalised vectors; FAISS id == chunks.id in SQLite; exact
                    (IndexFlatIP) up to FLAT_MAX_CHUNKS, HNSW beyond (see
                    choose_vector_index)
    store.sqlite    pages, chunks, aliases, and an FTS5 table over chunk text

The path the user names (``data/indexes/mediawiki-docs``) is a symlink to a
versioned sibling directory (``.mediawiki-docs.<stamp>``). A build writes a new
version beside it and swaps the symlink with one atomic rename, so readers see
the old index or the new one, never half of one, and a failed or killed build
leaves the old one untouched. The previous version is kept for rollback and
for readers that still have it open.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from .documents import Chunk, Page
from .errors import IndexFormatError
from .hashing import text_hash
from .lexical import expand_identifiers
from .settings import VECTOR_INDEXES

logger = logging.getLogger(__name__)

FORMAT_VERSION = 3
MANIFEST = "manifest.json"
VECTORS = "vectors.faiss"
STORE = "store.sqlite"

#: Up to this many chunks an exact (flat) scan keeps a query within its 15 ms
#: budget: measured 10.8 ms for 72k × 384 floats on these 2 cores (bench/scale.py),
#: so ~7.5 ms at 50k, beside ~6 ms to encode the query. Beyond, HNSW.
FLAT_MAX_CHUNKS = 50_000
#: HNSW graph degree and breadths, measured on the 23k SPARQL records index
#: (72k chunks, bench/scale.py): recall@10 against exact search 0.97 at ~0.6 ms
#: a query (efConstruction 80 / efSearch 128 gave 0.91), +256 bytes a vector.
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 200
HNSW_EF_SEARCH = 256

SCHEMA = """
CREATE TABLE pages (
    id INTEGER PRIMARY KEY,
    page_id INTEGER NOT NULL,
    title TEXT NOT NULL UNIQUE,
    namespace INTEGER NOT NULL,
    rev_id INTEGER NOT NULL,
    timestamp TEXT NOT NULL,
    url TEXT NOT NULL,
    code TEXT NOT NULL DEFAULT '',
    code_language TEXT NOT NULL DEFAULT '',
    action_url TEXT NOT NULL DEFAULT '',
    text_hash TEXT NOT NULL DEFAULT ''  -- sha256 of the source text: unchanged pages skip parsing
);
CREATE TABLE chunks (
    id INTEGER PRIMARY KEY,          -- the chunk's FAISS id
    page INTEGER NOT NULL REFERENCES pages(id),
    ordinal INTEGER NOT NULL,
    section TEXT NOT NULL,
    anchor TEXT NOT NULL,
    text TEXT NOT NULL,
    hash TEXT NOT NULL               -- sha256 of the embedded text: the reuse key
);
CREATE INDEX chunks_page ON chunks(page);
CREATE INDEX chunks_hash ON chunks(hash);
CREATE TABLE aliases (
    title TEXT PRIMARY KEY,          -- a redirect's title
    target TEXT NOT NULL,            -- the page it points to
    anchor TEXT NOT NULL DEFAULT ''
);
-- Lexical search; rowid = chunks.id. "terms" holds the identifier variants of the
-- chunk (see lexical.py), "title_terms" those of the page title alone: a setting's
-- name ($wgUseRCPatrol: "use rc patrol") says what the page is about.
CREATE VIRTUAL TABLE chunks_fts USING fts5(
    title, section, text, terms, title_terms, tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE VIRTUAL TABLE aliases_fts USING fts5(
    title, terms, target UNINDEXED, tokenize = 'porter unicode61 remove_diacritics 2'
);
"""


@dataclass(frozen=True)
class StoredChunk:
    """A chunk read back from an index: what the writer needs, with its reuse key."""

    page_title: str
    ordinal: int
    section: str
    anchor: str
    text: str
    key: str


class NotAnIndex(IndexFormatError):
    """The path holds something else: never overwritten, even with --replace."""


@dataclass(frozen=True)
class ChunkRow:
    """A stored chunk with its page, as the search needs it."""

    id: int
    title: str
    section: str
    anchor: str
    text: str
    url: str
    page_id: int
    rev_id: int
    namespace: int
    code: str
    code_language: str
    action_url: str


# ---------------------------------------------------------------- reading


class Index:
    """A loaded, read-only index. Safe to share between threads."""

    def __init__(self, path: Path, version_dir: Path, manifest: dict[str, Any], vectors: Any):
        self.path = path
        self.version_dir = version_dir
        self.manifest = manifest
        self.vectors = vectors
        self._local = threading.local()
        self._titles: dict[str, list[str]] | None = None
        self._titles_lock = threading.Lock()
        self._chunk_pages: np.ndarray | None = None
        self._page_titles: dict[int, str] = {}
        self._openings: dict[str, int] | None = None

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
            vectors = faiss.read_index(str(version_dir / VECTORS))
        except RuntimeError as exc:
            raise IndexFormatError(f"{path}: {VECTORS} is corrupt: {_first_line(exc)}") from None
        if hasattr(vectors, "hnsw"):
            vectors.hnsw.efSearch = int(manifest.get("index", {}).get("ef_search", HNSW_EF_SEARCH))
        index = cls(path, version_dir, manifest, vectors)
        index._check(path)
        return index

    def _check(self, display: Path) -> None:
        expected = int(self.manifest.get("counts", {}).get("chunks", -1))
        dims = int(self.manifest.get("model", {}).get("dimensions") or self.vectors.d)
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
        return str(self.manifest["model"]["name"])

    @property
    def counts(self) -> dict[str, Any]:
        return dict(self.manifest.get("counts", {}))

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

    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Nearest chunks by inner product of normalised vectors (cosine)."""
        k = min(k, self.vectors.ntotal)
        if k <= 0:
            return []
        scores, ids = self.vectors.search(np.asarray(vector, dtype=np.float32).reshape(1, -1), k)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def chunks(self, ids: Sequence[int]) -> dict[int, ChunkRow]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.db().execute(
            "SELECT c.id, p.title, c.section, c.anchor, c.text, p.url, p.page_id, p.rev_id, p.namespace, "
            "p.code, p.code_language, p.action_url "
            f"FROM chunks c JOIN pages p ON p.id = c.page WHERE c.id IN ({marks})",
            list(ids),
        )
        return {row[0]: ChunkRow(*row) for row in rows}

    def chunk_titles(self, ids: Sequence[int]) -> dict[int, str]:
        """Page title of each chunk id, from a table loaded once (a join per
        query cost more than the vector search)."""
        with self._titles_lock:
            if self._chunk_pages is None:
                rows = self.db().execute("SELECT page FROM chunks ORDER BY id").fetchall()
                self._chunk_pages = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
                self._page_titles = dict(self.db().execute("SELECT id, title FROM pages").fetchall())
        pages, titles = self._chunk_pages, self._page_titles
        return {int(i): titles[int(pages[i])] for i in ids if 0 <= i < len(pages)}

    def _openings_table(self) -> dict[str, int]:
        """Each page's first chunk (ordinal 0) by title, loaded once."""
        with self._titles_lock:
            if self._openings is None:
                rows = self.db().execute(
                    "SELECT p.title, c.id FROM chunks c JOIN pages p ON p.id = c.page WHERE c.ordinal = 0"
                )
                self._openings = {str(title): int(cid) for title, cid in rows}
            return self._openings

    def opening_scores(self, vector: np.ndarray, titles: Sequence[str]) -> dict[str, float]:
        """Cosine of each page's first chunk — its opening: the lead of an
        article, the whole of a short page — with ``vector``."""
        openings = self._openings_table()
        known = [t for t in titles if t in openings]
        if not known:
            return {}
        ids = np.fromiter((openings[t] for t in known), dtype=np.int64, count=len(known))
        scores = self.vectors.reconstruct_batch(ids) @ np.asarray(vector, dtype=np.float32)
        return dict(zip(known, (float(s) for s in scores), strict=True))

    def first_chunk(self, title: str) -> int | None:
        return self._openings_table().get(title)

    #: BM25 weights of the FTS columns: title, section path, text, identifier variants.
    BM25_WEIGHTS = (4.0, 2.0, 1.0, 1.0, 3.0)

    def lexical(self, expression: str, k: int) -> list[tuple[int, float]]:
        """Chunks matching a (safe, pre-built) FTS5 expression, by BM25; higher is better."""
        weights = ", ".join(str(w) for w in self.BM25_WEIGHTS)
        try:
            rows = self.db().execute(
                f"SELECT rowid, -bm25(chunks_fts, {weights}) FROM chunks_fts WHERE chunks_fts MATCH ? "
                "ORDER BY bm25(chunks_fts, " + weights + ") LIMIT ?",
                (expression, k),
            )
            return [(int(cid), float(score)) for cid, score in rows]
        except sqlite3.OperationalError as exc:
            logger.warning("lexical search failed for %r: %s", expression, exc)
            return []

    def lexical_aliases(self, expression: str, k: int) -> list[tuple[str, float]]:
        """Pages whose redirect titles match, with the redirect's BM25."""
        try:
            rows = self.db().execute(
                "SELECT target, -bm25(aliases_fts, 4.0, 1.5) FROM aliases_fts WHERE aliases_fts MATCH ? "
                "ORDER BY bm25(aliases_fts, 4.0, 1.5) LIMIT ?",
                (expression, k),
            )
            return [(str(target), float(score)) for target, score in rows]
        except sqlite3.OperationalError as exc:
            logger.warning("alias search failed for %r: %s", expression, exc)
            return []

    def titles_named(self, name: str, normalise: Callable[[str], str]) -> list[str]:
        """Pages whose title, or a redirect to them, reads ``name`` once normalised."""
        with self._titles_lock:
            if self._titles is None:
                table: dict[str, list[str]] = {}
                db = self.db()
                for (title,) in db.execute("SELECT title FROM pages"):
                    table.setdefault(normalise(title), []).append(title)
                pages = {t for ts in table.values() for t in ts}
                for alias, target in db.execute("SELECT title, target FROM aliases"):
                    if target in pages:
                        table.setdefault(normalise(alias), []).append(target)
                self._titles = table
        return list(dict.fromkeys(self._titles.get(name, [])))

    def alias_target(self, title: str) -> str | None:
        row = self.db().execute("SELECT target FROM aliases WHERE title = ?", (title,)).fetchone()
        return str(row[0]) if row else None

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
        wanted = list(set(hashes))
        found: dict[str, int] = {}
        for start in range(0, len(wanted), 500):
            part = wanted[start : start + 500]
            marks = ",".join("?" * len(part))
            for chunk_id, digest in self.db().execute(f"SELECT id, hash FROM chunks WHERE hash IN ({marks})", part):
                found.setdefault(digest, chunk_id)
        if not found:
            return {}
        ids = np.array(list(found.values()), dtype=np.int64)
        vectors = self.vectors.reconstruct_batch(ids)
        return {digest: vectors[i] for i, digest in enumerate(found)}

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
        for version in sorted(_versions(path), key=lambda p: p.name, reverse=True):
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


def read_manifest(directory: Path, display: Path | None = None) -> dict[str, Any]:
    display = display or directory
    path = directory / MANIFEST
    if not path.is_file():
        raise IndexFormatError(f"{display}: not a wikisearch index ({MANIFEST} is missing)")
    try:
        manifest = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexFormatError(f"{display}: {MANIFEST} is unreadable: {_first_line(exc)}") from None
    if not isinstance(manifest, dict) or "format_version" not in manifest or "model" not in manifest:
        raise IndexFormatError(f"{display}: {MANIFEST} is not a wikisearch manifest")
    version = manifest["format_version"]
    if version != FORMAT_VERSION:
        raise IndexFormatError(
            f"{display}: index format version {version}, this wikisearch reads version {FORMAT_VERSION}; "
            "rebuild it with --replace"
        )
    return manifest


def existing_manifest(path: Path) -> dict[str, Any] | None:
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


# ---------------------------------------------------------------- writing


def choose_vector_index(kind: str, chunks: int, flat_max: int = FLAT_MAX_CHUNKS) -> str:
    """flat or hnsw: what ``auto`` picks for an index of ``chunks`` chunks."""
    if kind not in VECTOR_INDEXES:
        raise IndexFormatError(f"vector index must be one of {', '.join(VECTOR_INDEXES)}, not {kind!r}")
    if kind == "auto":
        return "flat" if chunks <= flat_max else "hnsw"
    return kind


def to_hnsw(flat: Any) -> Any:
    """An HNSW copy of a flat index; ids stay the same (0..n-1 in order)."""
    hnsw = faiss.IndexHNSWFlat(flat.d, HNSW_M, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    hnsw.hnsw.efSearch = HNSW_EF_SEARCH
    step = 65_536
    for start in range(0, flat.ntotal, step):
        hnsw.add(flat.reconstruct_n(start, min(step, flat.ntotal - start)))
    return hnsw


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
        stamp = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
        self.version_dir = parent / f".{self.target.name}.{stamp}.building-{os.getpid()}"
        try:
            self.version_dir.mkdir()
            self.conn = sqlite3.connect(self.version_dir / STORE)
            self.conn.executescript("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;" + SCHEMA)
        except (OSError, sqlite3.OperationalError) as exc:
            self.abort()
            raise IndexFormatError(
                f"{self.target}: cannot write the index: {_first_line(exc)}; the previous index is unchanged"
            ) from None
        self.vectors = faiss.IndexFlatIP(dimensions)
        self.pages = 0
        self.aliases = 0
        self.encoder: dict[str, Any] | None = None

    @property
    def chunk_count(self) -> int:
        return int(self.vectors.ntotal)

    def add_page(self, page: Page, chunks: Sequence[Chunk | StoredChunk], vectors: np.ndarray) -> None:
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
                text_hash(page.text),
            ),
        )
        page_row = cur.lastrowid
        first = self.chunk_count
        title_terms = expand_identifiers(page.title, names=True)
        rows = [(first + i, page_row, c.ordinal, c.section, c.anchor, c.text, c.key) for i, c in enumerate(chunks)]
        self.conn.executemany(
            "INSERT INTO chunks (id, page, ordinal, section, anchor, text, hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        self.conn.executemany(
            "INSERT INTO chunks_fts (rowid, title, section, text, terms, title_terms) VALUES (?, ?, ?, ?, ?, ?)",
            [
                (first + i, page.title, c.section, c.text, expand_identifiers(f"{c.section} {c.text}"), title_terms)
                for i, c in enumerate(chunks)
            ],
        )
        if len(chunks):
            self.vectors.add(np.ascontiguousarray(vectors, dtype=np.float32))
        self.pages += 1

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

    def add_encoder(self, directory: Path, info: dict[str, Any]) -> None:
        """Store the query encoder's files with this version (hard links when possible)."""
        for name in (info["onnx"], info["tokenizer"]):
            source, dest = directory / name, self.version_dir / name
            try:
                os.link(source, dest)
            except OSError:
                shutil.copyfile(source, dest)
        self.encoder = dict(info)

    def commit(self, manifest: dict[str, Any], vector_index: str = "auto", flat_max: int = FLAT_MAX_CHUNKS) -> Path:
        """Finish the files, then make this version the one ``target`` names.
        ``vector_index``: flat, hnsw, or auto (flat up to ``flat_max`` chunks)."""
        manifest = {"format_version": FORMAT_VERSION, **manifest}
        manifest.setdefault("counts", {}).update(
            {"pages": self.pages, "chunks": self.chunk_count, "aliases": self.aliases}
        )
        kind = choose_vector_index(vector_index, self.chunk_count, flat_max)
        if kind == "hnsw":
            started = time.monotonic()
            self.vectors = to_hnsw(self.vectors)
            manifest["index"] = {
                "faiss": "IndexHNSWFlat",
                "M": HNSW_M,
                "ef_construction": HNSW_EF_CONSTRUCTION,
                "ef_search": HNSW_EF_SEARCH,
                "graph_build_s": round(time.monotonic() - started, 2),
            }
        else:
            manifest["index"] = {"faiss": "IndexFlatIP"}
        manifest["index"].update({"metric": "inner_product", "normalized": True, "chosen": vector_index})
        if self.encoder:
            manifest["encoder"] = self.encoder
        manifest["model"]["dimensions"] = self.dimensions
        try:
            self.conn.commit()
            self.conn.execute("ANALYZE")
            self.conn.commit()
            self.conn.close()
            faiss.write_index(self.vectors, str(self.version_dir / VECTORS))
            _write_durably(self.version_dir / MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False))
            for name in (STORE, VECTORS):
                _fsync(self.version_dir / name)
            final = self.version_dir.with_name(self.version_dir.name.split(".building-")[0])
            self.version_dir.rename(final)
            self.version_dir = final
            previous = self.target.resolve() if self.target.is_symlink() else None
            _swap_in(self.target, final)
        except (OSError, RuntimeError, sqlite3.Error) as exc:
            self.abort()
            raise IndexFormatError(
                f"{self.target}: cannot write the index: {_first_line(exc)}; the previous index is unchanged"
            ) from None
        prune_versions(self.target, keep={final, previous} - {None})  # type: ignore[arg-type]
        logger.info("index %s now points at %s", self.target, final.name)
        return final

    def abort(self) -> None:
        """Drop the half-written version; the current index is untouched."""
        conn = getattr(self, "conn", None)
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        shutil.rmtree(self.version_dir, ignore_errors=True)


def _swap_in(target: Path, version: Path) -> None:
    link = target.with_name(f".{target.name}.link-{uuid.uuid4().hex[:8]}")
    os.symlink(version.name, link)
    if target.is_dir() and not target.is_symlink():
        # A plain directory (copied by hand, or empty): move it aside first.
        aside = target.with_name(f".{target.name}.replaced-{uuid.uuid4().hex[:8]}")
        target.rename(aside)
        os.replace(link, target)
        shutil.rmtree(aside, ignore_errors=True)
    else:
        os.replace(link, target)
    _fsync_dir(target.parent)


def _versions(target: Path) -> list[Path]:
    pattern = re.compile(rf"^\.{re.escape(target.name)}\.\d{{8}}T\d{{6}}-[0-9a-f]{{8}}$")
    return [p for p in target.parent.iterdir() if pattern.match(p.name)]


def prune_versions(target: Path, keep: set[Path]) -> None:
    """Remove versions other than the current and the previous one."""
    keep = {p.resolve() for p in keep}
    for version in _versions(target):
        if version.resolve() not in keep:
            shutil.rmtree(version, ignore_errors=True)


def clean_stale_builds(target: Path) -> None:
    """Remove leftovers of builds that died (killed, power loss) before commit."""
    if not target.parent.is_dir():
        return
    pattern = re.compile(rf"^\.{re.escape(target.name)}\.(.+\.building-(\d+)|link-[0-9a-f]+|replaced-[0-9a-f]+)$")
    for entry in target.parent.iterdir():
        match = pattern.match(entry.name)
        if not match:
            continue
        pid = match.group(2)
        if pid and pid.isdigit() and _alive(int(pid)) and int(pid) != os.getpid():
            continue  # another build is running right now
        logger.info("removing leftover of an interrupted build: %s", entry.name)
        if entry.is_symlink() or entry.is_file():
            entry.unlink(missing_ok=True)
        else:
            shutil.rmtree(entry, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _write_durably(path: Path, text: str) -> None:
    with path.open("w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # some filesystems cannot fsync a directory
        _fsync(path)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
