"""The lexical leg: tokens for SQLite FTS5 that understand identifiers.

FTS5's unicode61 tokenizer splits ``$wgEnableUploads`` into ``wgenableuploads``,
which ``EnableUploads`` or "enable uploads" would never match. So the index
stores, beside the text, the variants of every identifier (``wgenableuploads
enableuploads enable uploads``), and a query is turned into a safe FTS5
expression of quoted terms: user input is never FTS5 syntax.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from importlib import resources

_IDENT = re.compile(r"\$?[A-Za-z_][A-Za-z0-9_]*")
#: The words of a camelCase identifier: ``EnableUploads`` → Enable, Uploads; ``UseRCPatrol`` → Use, RC, Patrol.
CAMEL_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
#: Prefixes of configuration and module names (``$wgSitename``, ``$wmgUseFoo``,
#: ``$egMapsKey``, ``mwLoader``): people name a setting without it.
CONFIG_PREFIXES = ("wg", "wmg", "eg", "mw")
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


_WORDS = "words.txt"
#: Parts are known words of 4+ letters, or these short ones that run-together
#: identifiers use (viewmyprivateinfo, pageid, blockip, allpages, getinstance);
#: other short words split English words into nonsense (ion-is-at-ion).
_SHORT_PARTS = frozenset(
    [
        "my",
        "id",
        "ip",
        "by",
        "up",
        "to",
        "of",
        "on",
        "no",
        "db",
        "js",
        "all",
        "api",
        "url",
        "get",
        "set",
        "new",
        "old",
        "raw",
        "log",
        "bot",
        "max",
        "min",
        "use",
        "add",
        "sub",
        "per",
        "tag",
        "key",
        "map",
        "row",
        "web",
        "tab",
        "top",
        "end",
        "run",
        "job",
    ]
)
_LONGEST_PART = 20


@functools.cache
def vocabulary() -> frozenset[str]:
    """Known English words, to split run-together identifiers (see words.txt)."""
    text = resources.files(__package__).joinpath(_WORDS).read_text("utf-8")
    return frozenset(w for w in text.split() if not w.startswith("#"))


_SUFFIXES = ("s", "es", "ed", "d", "ing", "er", "ers", "ly", "ment", "ments", "ness", "able", "al", "ally")


def _inflected(word: str, known: frozenset[str]) -> bool:
    """``patrolled``, ``permissions``: a known word with an ending, not two words."""
    for suffix in _SUFFIXES:
        stem = word[: -len(suffix)]
        if word.endswith(suffix) and (
            stem in known or stem + "e" in known or (stem[-1:] == stem[-2:-1] and stem[:-1] in known)
        ):
            return True
    return False


def english_word(word: str) -> bool:
    """A known English word (``words.txt``), or one with an ending (``readers``, ``crewed``)."""
    known = vocabulary()
    return word in known or _inflected(word, known)


def split_compound(word: str) -> list[str]:
    """The words of a run-together lower-case identifier, fewest parts first:
    ``createaccount`` → create, account; ``allpages`` → all, pages;
    ``editmywatchlist`` → edit, my, watchlist. Nothing for a known word,
    a short one, or one that is not made of known words."""
    known = vocabulary()
    if len(word) < 6 or not word.isalpha() or word in known or _inflected(word, known):
        return []
    best: list[list[str] | None] = [[]] + [None] * len(word)
    for end in range(1, len(word) + 1):
        for start in range(max(0, end - _LONGEST_PART), end):
            before = best[start]
            part = word[start:end]
            if before is None or not (part in _SHORT_PARTS or (len(part) >= 4 and part in known)):
                continue
            current = best[end]
            if current is None or len(before) + 1 < len(current):
                best[end] = [*before, part]
    parts = best[len(word)]
    return parts if parts is not None and 1 < len(parts) <= 3 else []


def without_config_prefix(name: str) -> str:
    """The one rule for configuration prefixes: ``$wgEnableUploads`` →
    ``EnableUploads``. A prefix counts only where a capital follows it, so
    ``Egypt`` and ``wget`` stay whole."""
    bare = name.lstrip("$")
    for prefix in CONFIG_PREFIXES:
        rest = bare[len(prefix) :]
        if bare[: len(prefix)].lower() == prefix and rest[:1].isupper():
            return rest
    return bare


def camel_words(name: str) -> list[str]:
    """The words of a camelCase name as a reader says them: ``EnableUploads`` →
    Enable, Uploads. Where capitals run into a lower-case word, camelCase cannot
    tell where the first word ends (``DBserver`` would be D, Bserver): the known
    words of the whole name decide (db, server). Used for the queries of
    training pairs only: the index's own spelling stays ``CAMEL_WORDS``', since
    changing it put $wgDBservers above $wgDBserver for "default value of
    $wgDBserver" (measured)."""
    parts = CAMEL_WORDS.findall(name)
    if any(len(p) == 1 and p.isupper() for p in parts):
        return split_compound(name.lower()) or parts
    return parts


def identifier_variants(word: str) -> tuple[list[str], list[str]]:
    """Whole forms and word parts of an identifier:
    ``$wgEnableUploads`` → ``(["wgenableuploads", "enableuploads"], ["enable", "uploads"])``."""
    bare = word.strip("$")
    whole = [bare.lower()]
    name = without_config_prefix(bare)
    parts = CAMEL_WORDS.findall(name)
    if name != bare:
        whole.append("".join(parts).lower())
    words = [p.lower() for p in parts] if len(parts) > 1 else []
    return list(dict.fromkeys(whole)), words


def expand_identifiers(text: str, names: bool = False) -> str:
    """Extra terms for the FTS ``terms`` column: variants of camelCase/prefixed
    identifiers, and the words of run-together ones (``createaccount``). In
    running text only words that look like code (quoted, ``'createaccount'``)
    are split, so that prose (``sociocultural``) is left alone; ``names`` (a
    title: ``API:Allpages``) splits every word."""
    extra: list[str] = []
    for match in _IDENT.finditer(text):
        word = match.group()
        if word.startswith("$") or any(c.isupper() for c in word[1:]) or "_" in word.strip("_"):
            whole, words = identifier_variants(word)
            extra.extend(whole[1:])
            extra.extend(words)
            parts = words or [word.strip("$_").lower()]
        elif names or _looks_like_code(text, match.start(), match.end()):
            parts = [word.lower()]
        else:
            continue
        for part in parts:
            extra.extend(split_compound(part))
    return " ".join(dict.fromkeys(extra))


_CODE_MARKS = frozenset("\"'`=/_{[")


def _looks_like_code(text: str, start: int, end: int) -> bool:
    before = text[start - 1] if start else ""
    after = text[end] if end < len(text) else ""
    return before in _CODE_MARKS or after in _CODE_MARKS


def query_terms(query: str) -> list[str]:
    """The distinct lower-case terms of a query that carry meaning."""
    terms: list[str] = []
    for match in _IDENT.finditer(query):
        word = match.group()
        if word.startswith("$") or any(c.isupper() for c in word[1:]):
            terms.extend(identifier_variants(word)[0])
    terms.extend(t.lower() for t in _TOKEN.findall(query))
    return [t for t in dict.fromkeys(terms) if t not in STOPWORDS]


def fts_expression(terms: Sequence[str]) -> str:
    """A safe FTS5 MATCH expression: every term quoted, OR-ed (BM25 ranks by how many match)."""
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)


_CODE_TOKEN = re.compile(
    r"""^(?:
        [A-Za-z][\w-]*:\S+            # prefixed name: wd:Q146, API:Allpages, Manual:$wgSitename
      | .*[$_].*                      # $wgSitename, user_groups
      | .*[a-z][A-Z].*                # camelCase: wgEnableUploads, getText
      | (?=.*[A-Za-z])(?=.*\d)\w+     # letters and digits: Q146, P31, utf8mb4
      | .*(?:\(\)|::|->|\.php|\.js|\.json)$
    )$""",
    re.VERBOSE,
)


def _words(query: str) -> list[str]:
    words = [w.strip(".,;!?\"'()[]{}") or w for w in query.split()]
    return [w for w in words if w.lower() not in STOPWORDS]


def code_words(query: str) -> list[str]:
    """The words of a query written as code (``$wgDBserver``, ``wd:Q146``, ``getText``)."""
    return [w for w in _words(query) if _CODE_TOKEN.match(w)]


def identifier_share(query: str) -> float:
    """The share of a query's meaningful words that are identifiers (``Q146``,
    ``wdt:P18``, ``$wgSitename``, ``allpages``) rather than prose. A query of
    identifiers is asked of the lexical leg: the model cannot read them."""
    words = _words(query)
    if not words:
        return 0.0
    coded = sum(1 for w in words if _CODE_TOKEN.match(w) or split_compound(w.lower()))
    return coded / len(words)


#: A word of the vocabulary: letters only (identifiers, numbers and code are never respelled).
_PLAIN_WORD = re.compile(r"[^\W\d_]{2,}")


def plain_words(text: str) -> list[str]:
    """The lower-case words of letters in ``text``: what the vocabulary counts and spelling corrects."""
    return _PLAIN_WORD.findall(text.lower())
