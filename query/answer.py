"""The answer line: the one sentence of the top result that answers a question.

The build stores a vector for every sentence a card would show
(``core.prose.sentences``); a search scores the sentences of the top
result's best passages against the question's vector, a matrix product,
with no extra model call. (Sentences of the next results were measured to
add wrong answers more than right ones: docs/design/answer-line.md.) The
sentence is shown only when its cosine clears ``Settings.answer_min_score``
and the top result stands out (it leads the second by ``MIN_LEAD`` of the
0–1 score: when two pages are close, the line quotes the wrong one too
often), and only for questions in words (not identifier lookups such as
``$wgSitename`` or ``Q146``). Silence is preferred to a wrong line.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.lexical import code_words
from core.prose import heading_above
from core.urls import with_anchor
from core.wikitext import heading_anchor
from index_format import ChunkRow, Index

from .floor import reads_as_identifiers
from .tables import Tables, normalise_title

#: How many of the top result's best passages are read for a sentence.
ANSWER_PASSAGES = 3
#: Words a query needs to be a question in words.
QUESTION_WORDS = 3
#: How far the top result's score must lead the second's for its sentence to be quoted.
MIN_LEAD = 0.15


@dataclass(frozen=True)
class Answer:
    text: str
    title: str
    section: str  # "Page > Section" of the passage it is from
    url: str  # Page#Section
    score: float  # cosine of the sentence with the question


def is_question(query: str) -> bool:
    """Words, not identifiers: a few of them, at least as much prose as code
    ("what is the default of $wgEnableUploads" is one; "$wgSitename" is not)."""
    return len(query.split()) >= QUESTION_WORDS and not reads_as_identifiers(query)


def find_answer(
    index: Index, query: str, query_vector: np.ndarray, passages: list[ChunkRow], min_score: float, lead: float
) -> Answer | None:
    """The stored sentence of ``passages`` (the top result's, best first)
    closest to the question, if it is close enough and the top result leads
    the next by ``lead`` (``MIN_LEAD``); a better passage wins a tie."""
    if not passages or not is_question(query) or lead < MIN_LEAD:
        return None
    rows, vectors = index.sentences_of([p.id for p in passages[:ANSWER_PASSAGES]])
    if not rows:
        return None
    scores = vectors @ np.asarray(query_vector, dtype=np.float32).reshape(-1)
    best = int(np.argmax(scores))
    score = float(scores[best])
    if score < min_score:
        return None
    chunk_id, text = rows[best]
    passage = next(p for p in passages if p.id == chunk_id)
    anchor, section = passage.anchor, passage.section
    heading = heading_above(passage.text, text) if not anchor else ""
    if heading:  # a short page read whole: the sentence's own section
        anchor, section = heading_anchor(heading), f"{passage.section} > {heading}"
    return Answer(text, passage.title, section, with_anchor(passage.url, anchor), round(score, 4))


def top_lead(table: Tables, query: str, passing: list[tuple[str, float]]) -> float:
    """How far the top result stands out: its score's lead over the second's,
    or 1 when a word of the query names it ("the default of $wgDBserver")."""
    top = passing[0][0]
    if any(top in table.titles_named(normalise_title(word)) for word in code_words(query)):
        return 1.0
    return passing[0][1] - (passing[1][1] if len(passing) > 1 else 0.0)
