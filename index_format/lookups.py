"""What an index answers about its text: BM25 ranking, matches of words and phrases
(the query operators), and pages' categories. Mixed into ``Index``, which owns the
store's connection."""

from __future__ import annotations

import functools
import json
import logging
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from core.lexical import fts_expression

from .lexical import TantivyLexical
from .schema import ALIAS_BM25_WEIGHTS, CHUNK_BM25_WEIGHTS

logger = logging.getLogger(__name__)
#: The chunks_fts columns a word or phrase of the page's text is looked for in,
#: and those of its title (``title_terms``: a setting name's words, ``$wgEnableUploads``: "enable uploads").
TEXT_COLUMNS = ("title", "section", "text")
TITLE_COLUMNS = ("title", "title_terms")


def as_json(values: Iterable[Any]) -> str:
    """A list of values as one SQL parameter (read with ``json_each``): any number of them."""
    return json.dumps(list(values))


def fts_phrase(words: str) -> str:
    """An FTS5 phrase of ``words`` (read by the table's own tokenizer, so punctuation
    separates words as it does in the text)."""
    return '"' + words.replace('"', '""') + '"'


class TextLookups:
    """The store's text tables, read through their indexes."""

    tantivy: TantivyLexical | None

    def db(self) -> sqlite3.Connection:
        raise NotImplementedError

    def lexical(self, terms: Sequence[str], k: int) -> list[tuple[int, float]]:
        """Chunks matching any of a query's meaningful terms (``core.lexical.query_terms``),
        by BM25, higher is better: from tantivy in a large index, else from FTS5."""
        if self.tantivy is not None:
            return self.tantivy.search(terms, k)
        expression = fts_expression(terms)
        if not expression:
            return []
        return [
            (int(cid), score) for cid, score in self._bm25("chunks_fts", "rowid", CHUNK_BM25_WEIGHTS, expression, k)
        ]

    def lexical_aliases(self, expression: str, k: int) -> list[tuple[str, float]]:
        """Pages whose redirect titles match, with the redirect's BM25."""
        hits = self._bm25("aliases_fts", "target", ALIAS_BM25_WEIGHTS, expression, k)
        return [(str(target), score) for target, score in hits]

    def _bm25(
        self, table: str, column: str, weights: tuple[float, ...], expression: str, k: int
    ) -> list[tuple[Any, float]]:
        rank = f"bm25({table}, {', '.join(str(w) for w in weights)})"
        try:
            rows = self.db().execute(
                f"SELECT {column}, -{rank} FROM {table} WHERE {table} MATCH ? ORDER BY {rank} LIMIT ?",
                (expression, k),
            )
            return [(value, float(score)) for value, score in rows]
        except sqlite3.OperationalError as exc:
            logger.warning("lexical search of %s failed for %r: %s", table, expression, exc)
            return []

    @functools.cached_property
    def keeps_categories(self) -> bool:
        """Whether pages' categories are stored (an index built before they were is read without them)."""
        return self._has_table("categories")

    def _has_table(self, name: str) -> bool:
        """Whether the store has table ``name``: one a later format added is absent from older indexes."""
        found = self.db().execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
        return found.fetchone() is not None

    def categories_of(self, titles: Iterable[str]) -> dict[str, tuple[str, ...]]:
        """Each page's categories, in the order its source gave them."""
        if not self.keeps_categories:
            return {}
        rows = self.db().execute(
            "SELECT p.title, c.name FROM categories c JOIN pages p ON p.id = c.page "
            "WHERE p.title IN (SELECT value FROM json_each(?)) ORDER BY c.rowid",
            (as_json(titles),),
        )
        named: dict[str, list[str]] = {}
        for title, name in rows:
            named.setdefault(str(title), []).append(str(name))
        return {title: tuple(names) for title, names in named.items()}

    def category_names(self) -> list[str]:
        """Every category some page is in, once each, in name order (read through its index)."""
        if not self.keeps_categories:
            return []
        return [str(row[0]) for row in self.db().execute("SELECT DISTINCT name FROM categories ORDER BY name")]

    def category_pages(self, name: str) -> set[int]:
        """The page rows (``page_rows``) in a category, read through its index."""
        if not self.keeps_categories:
            return set()
        rows = self.db().execute("SELECT page FROM categories WHERE name = ?", (name,))
        return {int(row[0]) for row in rows}

    def titles_matching(self, words: str, in_title: bool = False) -> set[str]:
        """Pages with ``words`` (a word or a phrase, stemmed as the lexical leg stems)
        in their text or title, or with ``in_title`` in their title or a redirect's."""
        columns = TITLE_COLUMNS if in_title else TEXT_COLUMNS
        expression = "{" + " ".join(columns) + "} : " + fts_phrase(words)
        found = self._matching(
            "SELECT DISTINCT p.title FROM chunks_fts f JOIN chunks c ON c.id = f.rowid JOIN pages p ON p.id = c.page "
            "WHERE chunks_fts MATCH ?",
            expression,
        )
        if in_title:
            alias = "{title terms} : " + fts_phrase(words)
            found |= self._matching("SELECT DISTINCT target FROM aliases_fts WHERE aliases_fts MATCH ?", alias)
        return found

    def _matching(self, sql: str, expression: str) -> set[str]:
        try:
            return {str(row[0]) for row in self.db().execute(sql, (expression,))}
        except sqlite3.OperationalError as exc:
            logger.warning("match of %r failed: %s", expression, exc)
            return set()

    @functools.cached_property
    def vocabulary(self) -> dict[str, int]:
        """Every word of letters in the pages, with how often it occurs (empty for an
        index built before the vocabulary was kept)."""
        if not self._has_table("vocabulary"):
            return {}
        return {str(word): int(count) for word, count in self.db().execute("SELECT word, count FROM vocabulary")}
