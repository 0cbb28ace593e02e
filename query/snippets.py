"""Snippets: the window of a card's prose (``core.prose``) with the most query
words, and where those words are."""

from __future__ import annotations

import functools
import re

#: Characters of a result's snippet; the sections beneath it get half.
SNIPPET_CHARS = 280


def make_snippet(text: str, terms: list[str], width: int = SNIPPET_CHARS) -> tuple[str, list[tuple[int, int]]]:
    """The window of ``text`` with the most query words, and where they are in it.

    Highlights are (start, end) character offsets into the returned snippet, so
    a caller can escape the text and mark the words without parsing HTML.
    """
    flat = " ".join(text.split())
    matches = _matches(flat, terms)
    start = 0
    if len(flat) > width and matches:
        best = max(
            range(len(matches)),
            key=lambda i: sum(1 for s, _ in matches if matches[i][0] <= s < matches[i][0] + width),
        )
        start = max(0, matches[best][0] - width // 4)
        if start:
            space = flat.find(" ", start)
            start = space + 1 if 0 <= space < matches[best][0] else start
    end = min(len(flat), start + width)
    if end < len(flat):
        space = flat.rfind(" ", start, end)
        end = space if space > start + width // 2 else end
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(flat) else ""
    snippet = prefix + flat[start:end] + suffix
    shift = len(prefix) - start
    marks = [(s + shift, e + shift) for s, e in matches if s >= start and e <= end]
    return snippet, marks


def _matches(text: str, terms: list[str]) -> list[tuple[int, int]]:
    """Whole words of ``text`` that are a query term or a short inflection of
    one (upload → uploads, uploaded; but wiki ↛ WikiEditor)."""
    if not terms:
        return []
    return [m.span() for m in _terms_pattern(tuple(terms)).finditer(text)]


@functools.lru_cache(maxsize=256)
def _terms_pattern(terms: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = [re.escape(t) + (r"\w{0,3}" if len(t) >= 4 else "") for t in sorted(terms, key=len, reverse=True)]
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)", re.IGNORECASE)
