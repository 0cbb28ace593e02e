"""The lexical index of a large index: tantivy beside the store.

SQLite FTS5 ranks every row that matches any query term, which is fine up to
``Settings.fts5_max_chunks`` and far too slow at a million chunks (measured:
docs/guides/scale.md). Past that, the writer also writes ``lexical.tantivy/``: the
five columns of ``chunks_fts`` as one text, each column repeated by its FTS5
weight, searched with tantivy's block-max WAND top-k. (Five fields with the
weights as boosts ranked far worse: tantivy sums per-field BM25, each
saturated alone; measured in docs/guides/scale.md.) A version's files never change,
so the reader opens it once and shares it between threads.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.errors import IndexFormatError
from core.settings import LEXICAL_ENGINES

from .schema import CHUNK_BM25_WEIGHTS

logger = logging.getLogger(__name__)

#: The chunks_fts columns, in the order of ``CHUNK_BM25_WEIGHTS``: what both engines index.
FIELDS = ("title", "section", "text", "terms", "title_terms")
BODY = "body"
#: Memory tantivy's writer may use before it flushes a segment.
WRITER_HEAP = 256 * 2**20
_NOT_WORD = re.compile(r"[\W_]+")  # what tantivy's tokenizer splits on: one token per word


def choose_lexical_engine(kind: str, chunks: int, fts5_max: int) -> str:
    """fts5 or tantivy: what ``auto`` picks for an index of ``chunks`` chunks."""
    if kind not in LEXICAL_ENGINES:
        raise IndexFormatError(f"lexical engine must be one of {', '.join(LEXICAL_ENGINES)}, not {kind!r}")
    if kind == "auto":
        return "fts5" if chunks <= fts5_max else "tantivy"
    return kind


def _schema() -> Any:
    import tantivy

    builder = tantivy.SchemaBuilder()
    builder.add_unsigned_field("id", stored=True)
    builder.add_text_field(BODY, tokenizer_name="en_stem", index_option="freq")
    return builder.build()


def write_tantivy(conn: sqlite3.Connection, directory: Path, threads: int = 2) -> None:
    """Index every row of ``chunks_fts`` (rowid = chunk id) into ``directory``."""
    import tantivy

    directory.mkdir()
    index = tantivy.Index(_schema(), path=str(directory))
    writer = index.writer(heap_size=WRITER_HEAP, num_threads=threads)
    for row in conn.execute(f"SELECT rowid, {', '.join(FIELDS)} FROM chunks_fts ORDER BY rowid"):
        doc = tantivy.Document()
        doc.add_unsigned("id", row[0])
        doc.add_text(BODY, weighted(row[1:]))
        writer.add_document(doc)
    writer.commit()
    writer.wait_merging_threads()


def weighted(columns: Sequence[str]) -> str:
    """One text of the five columns, each repeated by its FTS5 weight: term
    frequencies add up before BM25 saturates them, as FTS5's weighted bm25 does."""
    return "\n".join("\n".join([value] * round(w)) for value, w in zip(columns, CHUNK_BM25_WEIGHTS, strict=True))


class TantivyLexical:
    """Top-k BM25 over a version's ``lexical.tantivy``; safe to share between threads."""

    def __init__(self, directory: Path):
        import tantivy

        try:
            self.index = tantivy.Index.open(str(directory))
        except ValueError as exc:
            raise IndexFormatError(f"{directory}: the lexical index is unreadable: {exc}") from None
        self._local = threading.local()

    def search(self, terms: Sequence[str], k: int) -> list[tuple[int, float]]:
        """Chunks matching any of ``terms`` (already the query's meaningful terms), best first."""
        words = " ".join(w for w in (_NOT_WORD.sub(" ", t).strip() for t in terms) if w)
        if not words or k <= 0:
            return []
        searcher = getattr(self._local, "searcher", None)
        if searcher is None:
            searcher = self._local.searcher = self.index.searcher()
        try:
            query = self.index.parse_query(words, [BODY])
        except ValueError as exc:
            logger.warning("lexical search failed for %r: %s", words, exc)
            return []
        hits = searcher.search(query, k, count=False).hits
        return [(int(searcher.doc(address)["id"][0]), float(score)) for score, address in hits]
