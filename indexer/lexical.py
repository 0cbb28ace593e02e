"""The lexical leg: tokens for SQLite FTS5 that understand identifiers.

FTS5's unicode61 tokenizer splits ``$wgEnableUploads`` into ``wgenableuploads``,
which ``EnableUploads`` or "enable uploads" would never match. So the index
stores, beside the text, the variants of every identifier (``wgenableuploads
enableuploads enable uploads``), and a query is turned into a safe FTS5
expression of quoted terms: user input is never FTS5 syntax.
"""

from __future__ import annotations

import re

_IDENT = re.compile(r"\$?[A-Za-z_][A-Za-z0-9_]*")
#: The words of a camelCase identifier: ``EnableUploads`` → Enable, Uploads; ``UseRCPatrol`` → Use, RC, Patrol.
CAMEL_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_PREFIXES = ("wg", "wmg", "eg", "mw")
_TOKEN = re.compile(r"\w+", re.UNICODE)
STOPWORDS = frozenset(
    {
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "has",
        "have",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "me",
        "my",
        "no",
        "not",
        "of",
        "on",
        "or",
        "so",
        "such",
        "that",
        "the",
        "their",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "we",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "you",
        "your",
    }
)


def identifier_variants(word: str) -> tuple[list[str], list[str]]:
    """Whole forms and word parts of an identifier:
    ``$wgEnableUploads`` → ``(["wgenableuploads", "enableuploads"], ["enable", "uploads"])``."""
    bare = word.strip("$")
    whole = [bare.lower()]
    parts = CAMEL_WORDS.findall(bare)
    if len(parts) > 1 and parts[0].lower() in _PREFIXES:
        parts = parts[1:]
        whole.append("".join(parts).lower())
    words = [p.lower() for p in parts] if len(parts) > 1 else []
    return list(dict.fromkeys(whole)), words


def expand_identifiers(text: str) -> str:
    """Extra terms for the FTS ``terms`` column: variants of camelCase/prefixed identifiers."""
    extra: list[str] = []
    for match in _IDENT.finditer(text):
        word = match.group()
        if word.startswith("$") or any(c.isupper() for c in word[1:]) or "_" in word.strip("_"):
            whole, words = identifier_variants(word)
            extra.extend(whole[1:])
            extra.extend(words)
    return " ".join(dict.fromkeys(extra))


def query_terms(query: str) -> list[str]:
    """The distinct lower-case terms of a query that carry meaning."""
    terms: list[str] = []
    for match in _IDENT.finditer(query):
        word = match.group()
        if word.startswith("$") or any(c.isupper() for c in word[1:]):
            terms.extend(identifier_variants(word)[0])
    terms.extend(t.lower() for t in _TOKEN.findall(query))
    return [t for t in dict.fromkeys(terms) if t not in STOPWORDS]


def fts_query(query: str) -> str:
    """A safe FTS5 MATCH expression: every term quoted, OR-ed (BM25 ranks by how many match)."""
    terms = query_terms(query)
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)
