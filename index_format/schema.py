"""The SQLite schema of ``store.sqlite``, and the rows read back from it."""

from __future__ import annotations

from dataclasses import dataclass

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
-- The answer line's sentences (core/prose.py) of each chunk; their vectors are
-- the rows of sentences.f16, in id order.
CREATE TABLE sentences (
    id INTEGER PRIMARY KEY,          -- the row of its vector in sentences.f16
    chunk INTEGER NOT NULL REFERENCES chunks(id),
    text TEXT NOT NULL,
    hash TEXT NOT NULL               -- sha256 of the text: the reuse key
);
CREATE INDEX sentences_chunk ON sentences(chunk);
CREATE INDEX sentences_hash ON sentences(hash);
-- The categories a page is in (names without the namespace), as its source gave them.
CREATE TABLE categories (
    page INTEGER NOT NULL REFERENCES pages(id),
    name TEXT NOT NULL
);
CREATE INDEX categories_name ON categories(name, page);
CREATE INDEX categories_page ON categories(page);
-- Every word of letters in the pages' titles and text, with how often it occurs:
-- the vocabulary that spelling suggestions ("Did you mean") are drawn from.
CREATE TABLE vocabulary (
    word TEXT PRIMARY KEY,
    count INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE aliases (
    title TEXT PRIMARY KEY,          -- a redirect's title
    target TEXT NOT NULL,            -- the page it points to
    anchor TEXT NOT NULL DEFAULT ''
);
-- Lexical search; rowid = chunks.id. "terms" holds the identifier variants of the
-- chunk (see core/lexical.py), "title_terms" those of the page title alone: a setting's
-- name ($wgUseRCPatrol: "use rc patrol") says what the page is about.
CREATE VIRTUAL TABLE chunks_fts USING fts5(
    title, section, text, terms, title_terms, tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE VIRTUAL TABLE aliases_fts USING fts5(
    title, terms, target UNINDEXED, tokenize = 'porter unicode61 remove_diacritics 2'
);
"""

#: BM25 weights of the chunks_fts columns: title, section path, text, identifier variants, title terms.
CHUNK_BM25_WEIGHTS = (4.0, 2.0, 1.0, 1.0, 3.0)
#: BM25 weights of the aliases_fts columns: title, identifier variants.
ALIAS_BM25_WEIGHTS = (4.0, 1.5)


@dataclass(frozen=True)
class StoredChunk:
    """A chunk read back from an index: what the writer needs, with its reuse key."""

    page_title: str
    ordinal: int
    section: str
    anchor: str
    text: str
    key: str


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
    timestamp: str  # the page's revision time, ISO 8601 ("" for records)
    categories: tuple[str, ...] = ()
