"""Prose as a reader sees it: a passage's sentences, with the facts a template
wrote ("Default: false") set apart. Both sides read it: the build splits
passages into the sentences it embeds for the answer line, the search page
shows the same prose on its cards."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .wikitext import FACT_LABELS

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
            label, value = _SHORT_LABELS.get(labelled.group(1), labelled.group(1)), labelled.group(2).strip()
            if value and value.casefold() not in folded_title:
                _add_fact(facts, Fact(label, value))
            continue
        if labelled and not labelled.group(2).strip() and not (i + 1 < len(lines) and lines[i + 1].strip()):
            continue  # an empty field ("Items used:" with nothing under it)
        if _is_heading(lines, i):
            continue
        prose.append(line)
    return "\n".join(prose).strip(), facts


def _add_fact(facts: list[Fact], fact: Fact) -> None:
    """A label said twice is one fact: the prose's "Default: 100 MiB." reads
    beside the template's 104857600 ("104857600 (100 MiB)"), not as a second label."""
    for n, known in enumerate(facts):
        if known.label == fact.label:
            extra = fact.value.rstrip(".")
            if extra != known.value:
                facts[n] = Fact(known.label, f"{known.value} ({extra})")
            return
    facts.append(fact)


def heading_above(text: str, sentence: str) -> str:
    """The heading line ``sentence`` of a passage sits under ("" if none): where a
    page read whole as one passage keeps its sections, the answer line links to one."""
    words = sentence.split()[:8]
    found = re.search(r"\s+".join(map(re.escape, words)), text) if words else None
    if found is None:
        return ""
    lines = text.split("\n")
    for i in range(text[: found.start()].count("\n") - 1, -1, -1):
        if _is_heading(lines, i):
            return lines[i].strip()
    return ""


def _is_heading(lines: list[str], i: int) -> bool:
    """A short line of its own paragraph, without closing punctuation, that text follows."""
    line = lines[i].strip()
    starts_paragraph = i > 0 and not lines[i - 1].strip()  # a passage's first line is never taken for one
    followed = i + 1 < len(lines) and bool(lines[i + 1].strip())
    return starts_paragraph and followed and 0 < len(line.split()) <= 4 and not line.endswith(_SENTENCE_END)


#: Where a paragraph breaks into sentences: after closing punctuation, before
#: a capital, digit or quote — but not after an initial ("Robert E. Lee") or
#: the usual abbreviations.
_SENTENCE = re.compile(
    r"(?<=[.!?])(?<!\b[A-Z]\.)(?<!\be\.g\.)(?<!\bi\.e\.)(?<!\bvs\.)(?<!\betc\.)(?<!\bMr\.)(?<!\bDr\.)(?<!\bSt\.)"
    r"\s+(?=[A-Z0-9\"'(])"
)
#: A line that ends a thought: the next line starts a new sentence.
_LINE_END = (".", "!", "?", ":", ";")
#: Words of prose (letters only) a sentence needs to stand alone as an answer
#: (a line of code has few), and the most words it may have.
SENTENCE_WORDS = (3, 60)
_PROSE_WORD = re.compile(r"[^\W\d_]+[.,;:!?]?")


#: Openings of a sentence that leans on the one before it ("However, MediaWiki
#: does support…", "Otherwise, the wikitext model is used."): quoted alone, it misleads.
LEANING = ("however", "otherwise", "but ", "also,", "instead", "therefore", "thus", "in addition", "in this case")


def sentences(text: str, title: str) -> list[str]:
    """What the answer line can quote of a passage: the sentences of its prose
    (``card_text``) that stand alone — whole, whitespace folded, neither
    fragments, walls nor mostly code (half its words prose), neither leaning on the sentence before
    (``LEANING``) nor introducing a list (ending in ":") — then its facts, each
    said with the page's name ("$wgEnableUploads — Default: false")."""
    prose, facts = card_text(text, title)
    low, high = SENTENCE_WORDS
    found = [" ".join(part.split()) for paragraph in _paragraphs(prose) for part in _SENTENCE.split(paragraph)]
    name = title.split(":", 1)[-1]
    whole = [
        s for s in found if low <= _prose_words(s) and len(s.split()) <= min(high, 2 * _prose_words(s)) and _alone(s)
    ]
    return whole + [f"{name} — {f.label}: {f.value}" for f in facts]


def _prose_words(sentence: str) -> int:
    return sum(map(_is_prose, sentence.split()))


def _alone(sentence: str) -> bool:
    return not sentence.endswith(":") and not sentence.lower().startswith(LEANING)


def _is_prose(word: str) -> bool:
    return _PROSE_WORD.fullmatch(word) is not None


def _paragraphs(prose: str) -> list[str]:
    """Lines joined into paragraphs: a wrapped line continues its sentence; a
    blank line, a line that ends a thought, or a next line that starts with a
    capital (a list item, a new line of a list) begins another."""
    paragraphs: list[list[str]] = [[]]
    for line in prose.split("\n"):
        stripped = line.strip()
        current = paragraphs[-1]
        if not stripped:
            paragraphs.append([])
        elif current and (current[-1].endswith(_LINE_END) or not stripped[0].islower()):
            paragraphs.append([stripped])
        else:
            current.append(stripped)
    return [" ".join(lines) for lines in paragraphs if lines]
