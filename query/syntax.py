"""CirrusSearch's query syntax, the common part: a small grammar read with lark.

``"exact phrase"``, ``-word`` / ``!word`` / ``-"phrase"``, ``intitle:``, ``incategory:``
(``A|B`` is either), ``insource:``, and ``prefix:`` (which, as in CirrusSearch, takes the
rest of the query). Keywords are lower case, as CirrusSearch's documentation writes
them; any other ``word:value`` is text, as CirrusSearch reads it. What is not an
operator is searched by meaning and by words, as a plain query is.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from lark import Lark, Token, Tree
from lark.exceptions import LarkError

#: The keywords read as operators; each takes a word or a quoted phrase.
KEYWORDS = ("intitle", "incategory", "insource")

GRAMMAR = r"""
    start: _item* prefix?
    _item: negated | clause | PHRASE | WORD
    negated: NEG (clause | PHRASE | WORD)
    clause: KEYWORD (PHRASE | WORD)?
    prefix: PREFIX REST?

    PREFIX.4: /(?<!\S)prefix:/
    KEYWORD.3: /(?<![^\s!-])(intitle|incategory|insource):/
    NEG.2: /(?<!\S)[-!](?=\S)/
    PHRASE.1: /"[^"]*("|$)(~\d*)?/
    WORD: /[^\s"]+/
    REST: /\S.*/s
    %ignore /\s+/
"""


@dataclass(frozen=True)
class Clause:
    """One operator: ``keyword`` is "phrase", "word" (only negated), "intitle",
    "incategory", "insource" or "prefix"."""

    keyword: str
    value: str
    negated: bool = False


@dataclass(frozen=True)
class Parsed:
    """A query read: the text searched as a plain query is, and the operators."""

    text: str
    clauses: tuple[Clause, ...] = ()

    def of(self, keyword: str, negated: bool = False) -> list[str]:
        return [c.value for c in self.clauses if c.keyword == keyword and c.negated == negated]


@functools.cache
def _parser() -> Lark:
    return Lark(GRAMMAR, parser="lalr", lexer="contextual")


def parse_query(query: str) -> Parsed:
    """``query`` as CirrusSearch reads it. Text that the grammar cannot read is a plain query."""
    if not any(mark in query for mark in ('"', "-", "!", ":")):
        return Parsed(query)
    try:
        tree = _parser().parse(query)
    except LarkError:
        return Parsed(query)
    words: list[str] = []
    clauses: list[Clause] = []
    for node in tree.children:
        if isinstance(node, Token):
            value = _unquote(node)
            if node.type == "PHRASE" and _has_words(value):
                clauses.append(Clause("phrase", value))
            words.append(value)
        elif node.data == "prefix":
            rest = str(node.children[1]).strip() if len(node.children) > 1 else ""
            if rest:
                clauses.append(Clause("prefix", rest))
            else:
                words.append("prefix:")
        else:
            _read(node, clauses, words)
    if not clauses and not any(_has_words(w) for w in words):  # '""', '-': nothing to read but the text
        return Parsed(query)
    return Parsed(" ".join(w for w in words if w), tuple(clauses))


def _has_words(value: str) -> bool:
    """A value an operator can match: ``""`` and ``"!!!"`` hold no word and are left out."""
    return any(ch.isalnum() for ch in value)


def _read(node: Tree, clauses: list[Clause], words: list[str]) -> None:
    negated = node.data == "negated"
    inner = node.children[1] if negated else node
    if isinstance(inner, Token):
        value = _unquote(inner)
        if _has_words(value):
            clauses.append(Clause("phrase" if inner.type == "PHRASE" else "word", value, negated))
        return
    keyword = str(inner.children[0])[:-1]
    if len(inner.children) < 2:  # "intitle:" and nothing: text, as CirrusSearch reads it
        words.append(keyword + ":")
        return
    value = _unquote(inner.children[1])
    if not _has_words(value):
        return
    clauses.append(Clause(keyword, value, negated))
    if keyword == "intitle" and not negated:  # the title's words are part of what is looked for
        words.append(value)


def _unquote(token: Token | Tree) -> str:
    text = str(token)
    if text.startswith('"'):
        text = text[1:].rstrip("~0123456789")
        text = text[:-1] if text.endswith('"') else text
    return " ".join(text.split())
