"""Chunk stage: sections to ``Chunk`` values that fit the model.

Each chunk carries its page, heading path and anchor. A page that fits in one
chunk is one chunk (measured: its sections read together retrieve better than
apart); long sections become overlapping windows; tiny sections merge with
their neighbour so that no chunk is a lone heading. Token counts come from the model's tokenizer in
production and from an approximation in unit tests.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from core.documents import Chunk, Section
from core.lexical import CAMEL_WORDS, split_compound, without_config_prefix
from core.settings import Settings

TokenCounter = Callable[[list[str]], list[int]]

#: Bump when parsing or chunking would cut the same text differently: a rebuild
#: then parses every page again instead of reusing the stored chunks.
CHUNKER_VERSION = 5

_WORDISH = re.compile(r"\w+|[^\w\s]")
# Paragraph and line boundaries first, then sentences, then words.
_SENTENCE_END = re.compile(r"((?<=[.!?;:])\s+|\n+)")


def approximate_tokens(texts: list[str]) -> list[int]:
    """WordPiece splits about 1.3 pieces per word; punctuation is one piece each."""
    return [math.ceil(len(_WORDISH.findall(t)) * 1.3) for t in texts]


_DEFAULTS = Settings()


@dataclass(frozen=True)
class ChunkSettings:
    """How pages are cut; the values are ``Settings``' (recorded in the manifest)."""

    chunk_tokens: int = _DEFAULTS.chunk_tokens
    overlap: int = _DEFAULTS.chunk_overlap
    min_tokens: int = _DEFAULTS.min_chunk_tokens

    @classmethod
    def from_settings(cls, settings: Settings) -> ChunkSettings:
        return cls(settings.chunk_tokens, settings.chunk_overlap, settings.min_chunk_tokens)


_IDENTIFIER = re.compile(r"\$?[A-Za-z_][A-Za-z0-9_]*[a-z][A-Z][A-Za-z0-9_]*")
_LETTERS = re.compile(r"[A-Za-z]+")


def section_label(title: str, path: tuple[str, ...]) -> str:
    return " > ".join((title, *path))


def identifier_words(text: str) -> str:
    """Spell out identifiers so the model reads words: ``$wgEnableUploads`` →
    ``enable uploads``, ``API:Allpages`` → ``all pages``. Empty if there are none."""
    spelled = []
    for ident in _IDENTIFIER.findall(text):
        words = CAMEL_WORDS.findall(without_config_prefix(ident))
        if len(words) > 1:
            spelled.append(" ".join(w.lower() for w in words))
    for word in _LETTERS.findall(text):
        parts = split_compound(word.lower())
        if parts:
            spelled.append(" ".join(parts))
    return "; ".join(dict.fromkeys(spelled))


def context_header(title: str, path: tuple[str, ...]) -> str:
    """What the model reads before a chunk: where it is, identifiers spelled out."""
    return header_of(section_label(title, path), title)


def header_of(label: str, title: str) -> str:
    """The context header of a chunk whose section label is ``label``, on page ``title``."""
    words = identifier_words(title)
    return f"{label} ({words})\n" if words else label + "\n"


def chunk_page(
    title: str,
    sections: Iterable[Section],
    settings: ChunkSettings = ChunkSettings(),
    count_tokens: TokenCounter = approximate_tokens,
) -> list[Chunk]:
    """Cut one page's sections into chunks, in page order."""
    pieces = list(_merge_small(list(sections), settings, count_tokens))
    if len(pieces) > 1:
        whole = _join_all(pieces)
        if count_tokens([context_header(title, whole.path) + whole.text])[0] <= settings.chunk_tokens:
            pieces = [whole]  # a short page is read as a whole: its sections explain each other
    chunks: list[Chunk] = []
    for section in pieces:
        label = section_label(title, section.path)
        header = context_header(title, section.path)
        budget = max(settings.chunk_tokens - count_tokens([header])[0], settings.chunk_tokens // 2)
        for window in split_text(section.text, budget, settings.overlap, count_tokens):
            chunks.append(
                Chunk(
                    page_title=title,
                    ordinal=len(chunks),
                    section=label,
                    anchor=section.anchor,
                    text=window,
                    embed_text=header + window,
                )
            )
    return chunks


def code_page_text(prose: str, notes: str) -> str:
    """What the model reads of a query page after its header: the description, then the query's comments."""
    return "\n".join(part for part in (prose, notes) if part)


def chunk_code_page(title: str, prose: str, notes: str) -> list[Chunk]:
    """A query with its description is one chunk. The model reads the title,
    the description and the query's comments, not the query: measured on the
    SPARQL examples, the code's keywords and ids pulled unrelated queries
    together (nDCG@10 0.92 → 0.97 without them). The chunk's text is the
    description; the index's lexical leg indexes the code beside it, so ``P31``
    or ``wdt:P18`` still find it."""
    readable = code_page_text(prose, notes)
    return [
        Chunk(
            page_title=title,
            ordinal=0,
            section=section_label(title, ()),
            anchor="",
            text=prose,
            embed_text=context_header(title, ()) + readable,
        )
    ]


def _join_all(sections: list[Section]) -> Section:
    """Sections as one, each under its heading, linked at the first one's anchor."""
    first = sections[0]
    parts = [first.text]
    for section in sections[1:]:
        heading = section.path[-1] if section.path else ""
        parts.append((heading + "\n" if heading else "") + section.text)
    return Section(first.path, first.anchor, "\n\n".join(parts))


def _merge_small(sections: list[Section], settings: ChunkSettings, count_tokens: TokenCounter) -> Iterator[Section]:
    """A section under ``min_tokens`` joins the next one (keeping the first's
    anchor, so the link lands above both), or the previous one if it is last."""
    if not sections:
        return
    sizes = count_tokens([s.text for s in sections])
    pending: Section | None = None
    pending_size = 0
    for section, size in zip(sections, sizes, strict=True):
        if pending is None:
            pending, pending_size = section, size
            continue
        if pending_size < settings.min_tokens and pending_size + size <= settings.chunk_tokens:
            heading = section.path[-1] if section.path and section.path != pending.path else ""
            joined = pending.text + ("\n\n" + heading + "\n" if heading else "\n\n") + section.text
            pending, pending_size = (
                Section(pending.path, pending.anchor, joined),
                pending_size + size,
            )
            continue
        if size < settings.min_tokens and pending_size + size <= settings.chunk_tokens and section is sections[-1]:
            heading = section.path[-1] if section.path else ""
            pending = Section(pending.path, pending.anchor, pending.text + "\n\n" + heading + "\n" + section.text)
            pending_size += size
            continue
        yield pending
        pending, pending_size = section, size
    if pending is not None:
        yield pending


def split_text(text: str, budget: int, overlap: int, count_tokens: TokenCounter) -> list[str]:
    """Pack sentences into windows of at most ``budget`` tokens; consecutive
    windows share up to ``overlap`` tokens of trailing sentences. A window
    keeps the line breaks between its sentences (a card reads its lines)."""
    if count_tokens([text])[0] <= budget:
        return [text]
    units, glues = _units(text, budget, count_tokens)
    sizes = count_tokens(units)
    windows: list[str] = []
    current: list[int] = []  # indexes into units
    size = 0
    for i, unit_size in enumerate(sizes):
        if current and size + unit_size > budget:
            windows.append(_join(units, glues, current))
            keep: list[int] = []
            kept = 0
            for j in reversed(current):
                if kept + sizes[j] > overlap:
                    break
                keep.insert(0, j)
                kept += sizes[j]
            current, size = keep, kept
        current.append(i)
        size += unit_size
    if current:
        tail = _join(units, glues, current)
        if not windows or tail not in windows[-1]:
            windows.append(tail)
    return windows


def _join(units: list[str], glues: list[str], indexes: list[int]) -> str:
    return "".join(units[i] + (glues[i] if n < len(indexes) - 1 else "") for n, i in enumerate(indexes)).strip()


def _units(text: str, budget: int, count_tokens: TokenCounter) -> tuple[list[str], list[str]]:
    """Sentences or lines, each with what follows it (a space, a line break or
    a blank line); anything still over budget is cut by words."""
    parts = _SENTENCE_END.split(text)
    pairs: list[tuple[str, str]] = []
    for unit, after in zip(parts[0::2], [*parts[1::2], ""], strict=True):
        glue = "\n\n" if after.count("\n") > 1 else "\n" if "\n" in after else " "
        if unit.strip():
            pairs.append((unit.strip(), glue))
        elif pairs and glue != " ":
            pairs[-1] = (pairs[-1][0], glue)
    sizes = count_tokens([u for u, _ in pairs])
    units: list[str] = []
    glues: list[str] = []
    for (sentence, glue), size in zip(pairs, sizes, strict=True):
        if size <= budget:
            units.append(sentence)
            glues.append(glue)
            continue
        words = sentence.split()
        per = max(1, int(len(words) * budget / size * 0.9))
        pieces = [" ".join(words[k : k + per]) for k in range(0, len(words), per)]
        units.extend(pieces)
        glues.extend([" "] * (len(pieces) - 1) + [glue])
    return units, glues
