"""The relevance floor: which candidates are good enough to be shown as results.

A page's relevance is the cosine of the query with the page (the mean of its
best passage and its opening, as the dense leg scores it): one scale per model,
comparable across queries, unlike the fused score. A query has a good match
when its best page reaches the model's ``match_floor``; then every page that
reaches ``page_floor`` is a result, and none below it. A page named by the
query (its title or a redirect) always passes, and so does a lexical match of a
query made of identifiers (``wdt:P31 wd:Q146``), which a sentence model does not
read, when it scores at least ``IDENTIFIER_MATCH`` of the best lexical match.
The floors are calibrated per model (``core.models.ModelCard``) on judged and
off-topic queries: docs/design/relevance-floor.md.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from core.lexical import identifier_share
from core.models import REGISTRY
from index_format import Index

#: Share of identifiers above which a query is read as identifiers, not words.
IDENTIFIER_QUERY = 0.5
#: Share of the best BM25 a page needs to pass as a lexical match of such a query.
IDENTIFIER_MATCH = 0.5


@dataclass(frozen=True)
class Floor:
    match: float  # the best page must reach this for the query to have a good match
    page: float  # each page shown must reach this

    @classmethod
    def of(cls, model_name: str, adapted: bool = False) -> Floor | None:
        """The calibrated floor of a model; None for a model nobody calibrated,
        or one adapted to an index (its cosines are no longer the model's)."""
        card = None if adapted else REGISTRY.get(model_name)
        if card is None or card.match_floor is None or card.page_floor is None:
            return None
        return cls(card.match_floor, card.page_floor)

    @classmethod
    def of_index(cls, index: Index) -> Floor | None:
        """The floor of the model that reads ``index``'s queries."""
        return cls.of(index.model_name, index.manifest.adaptation is not None)


def reads_as_identifiers(query: str) -> bool:
    """A query mostly of identifiers (``wdt:P31 wd:Q146``, ``API:Rec``), not words."""
    return identifier_share(query) > IDENTIFIER_QUERY


@dataclass(frozen=True)
class Verdict:
    """Which pages pass: ``named`` pass whatever their relevance."""

    floor: Floor | None
    relevance: dict[str, float]
    named: Collection[str]

    def good_match(self, titles: list[str]) -> bool:
        """Whether any of ``titles`` is a good match for the query."""
        if self.floor is None:
            return bool(titles)
        match = self.floor.match
        return any(t in self.named or self.relevance.get(t, -1.0) >= match for t in titles)

    def passes(self, title: str) -> bool:
        if self.floor is None or title in self.named:
            return True
        return self.relevance.get(title, -1.0) >= self.floor.page
