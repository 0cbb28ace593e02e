"""Did you mean: a close spelling of a query's unknown words, drawn from the index's own
vocabulary (the words of its pages, counted when it was built) with SymSpell. A word is
unknown when neither the pages nor English (``core/words.txt``) have it."""

from __future__ import annotations

import re
import threading

from symspellpy import SymSpell, Verbosity

from core.lexical import english_word
from index_format import Index

from .tables import PerIndex

#: Words shorter than this are never respelled; up to ``SHORT_WORD`` letters one edit
#: is allowed, beyond it two (an edit is a letter dropped, added, changed, or two swapped).
MIN_LETTERS = 3
SHORT_WORD = 5
MAX_EDITS = 2
#: A spelling is offered only if the pages use it at least this often (a word seen
#: once is as likely a typo of the pages' as the reader's).
MIN_COUNT = 2
#: The most frequent words a speller offers from: its memory grows with them.
OFFERED_MAX = 100_000
#: A word of letters in a query, not part of an identifier (``$wgFoo``, ``wd:Q1``, ``user_id``);
#: an ``intitle:`` value is words too.
_WORD = re.compile(r"(?:(?<=intitle:)|(?<![\w$:]))[^\W\d_]+(?![\w:])")


class Speller:
    """An index's vocabulary, ready to look close spellings up in."""

    def __init__(self, vocabulary: dict[str, int]):
        self.known = vocabulary
        self._symspell: SymSpell | None = None
        self._lock = threading.Lock()

    def symspell(self) -> SymSpell:
        """The lookup, made once, when a query first has an unknown word (~2.3 KiB and
        ~20 µs a word offered: docs/experiments/2026-12-05-search-language.md)."""
        with self._lock:
            if self._symspell is None:
                made = SymSpell(max_dictionary_edit_distance=MAX_EDITS, prefix_length=7)
                offered = sorted((n, w) for w, n in self.known.items() if n >= MIN_COUNT)[-OFFERED_MAX:]
                for count, word in offered:
                    made.create_dictionary_entry(word, count)
                self._symspell = made
            return self._symspell

    def correct(self, text: str) -> dict[str, str]:
        """The unknown words of ``text`` respelled, word → spelling: all of them, or none when
        one has no close, frequent spelling (keyboard mash gets no "Did you mean")."""
        fixes: dict[str, str] = {}
        for match in _WORD.finditer(text):
            word = match.group()
            lower = word.lower()
            if len(word) < MIN_LETTERS or lower in self.known or not (word == lower or word == word.capitalize()):
                continue
            if english_word(lower):  # a real word the pages do not use is not a typo
                continue
            edits = 1 if len(word) <= SHORT_WORD else MAX_EDITS
            found = self.symspell().lookup(lower, Verbosity.TOP, max_edit_distance=edits)
            if not found:  # a word nothing is close to: the query is not a typo of the pages' words
                return {}
            fixes[word] = found[0].term if word == lower else found[0].term.capitalize()
        return fixes


#: Each index's speller, made on first use and kept while the index is.
speller = PerIndex(lambda index: Speller(index.vocabulary))


def did_you_mean(index: Index, query: str, text: str) -> str | None:
    """``query`` with the unknown words of ``text`` (its words, operators aside) respelled,
    or None when every word is known or none has a close spelling."""
    if not index.vocabulary:
        return None
    fixes = speller(index).correct(text)
    if not fixes:
        return None
    return _WORD.sub(lambda m: fixes.get(m.group(), m.group()), query)
