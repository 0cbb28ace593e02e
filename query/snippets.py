"""Snippets: what a result card quotes of a passage — its prose, with template
facts ("Default: false") shown apart — the window with the most query words,
and where those words are."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from core.wikitext import FACT_LABELS

#: Characters of a result's snippet; the sections beneath it get half.
SNIPPET_CHARS = 280
#: How a fact's label reads on a card, where the template's own reads long.
_SHORT_LABELS = {"Since MediaWiki": "Since"}
_LABELLED = re.compile(r"^([^:\n]{1,40}):[ \t]*(.*)$")
_SENTENCE_END = (".", ",", ":", ";", "!", "?", ")", "…")


@dataclass(frozen=True)
class Fact:
    label: str
    value: str


def card_text(text: str, title: str) -> tuple[str, list[Fact]]:
    """The prose of a passage as a card shows it, and its facts apart.

    Lines a template wrote as ``Label: value`` become facts (a name the title
    already says is left out); a label with nothing after it ("Items used:")
    and a heading line inside a merged passage ("Details") are not prose. The
    model and the lexical leg still read the passage as stored."""
    facts: list[Fact] = []
    prose: list[str] = []
    lines = text.split("\n")
    folded_title = title.casefold()
    for i, line in enumerate(lines):
        stripped = line.strip()
        labelled = _LABELLED.match(stripped)
        if labelled and labelled.group(1) in FACT_LABELS:
            label, value = labelled.group(1), labelled.group(2).strip()
            if value and value.casefold() not in folded_title:
                facts.append(Fact(_SHORT_LABELS.get(label, label), value))
            continue
        if labelled and not labelled.group(2).strip() and not (i + 1 < len(lines) and lines[i + 1].strip()):
            continue  # an empty field ("Items used:" with nothing under it)
        if _is_heading(lines, i):
            continue
        prose.append(line)
    return "\n".join(prose).strip(), facts


def _is_heading(lines: list[str], i: int) -> bool:
    """A short line of its own paragraph, without closing punctuation, that text follows."""
    line = lines[i].strip()
    starts_paragraph = i > 0 and not lines[i - 1].strip()  # a passage's first line is never taken for one
    followed = i + 1 < len(lines) and bool(lines[i + 1].strip())
    return starts_paragraph and followed and 0 < len(line.split()) <= 4 and not line.endswith(_SENTENCE_END)


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
