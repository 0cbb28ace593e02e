"""Title completion with MediaWiki's meaning: what ``action=opensearch`` returns.

Titles and redirect titles that start with what was typed, with the first
letter folded as MediaWiki folds it (``$wgCapitalLinks``: "api:rec" reads
"API:Rec"), in the wiki's order (its titles are binary strings with
underscores for spaces); read from the title indexes of the store, so a
million titles cost what ten do. Only when fewer than asked match do
semantic completions fill the list, after them — for words, not for a title
being typed ("API:Rec" gets the titles that start so, not every API page).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from core.errors import QueryError
from core.models import Embedder
from core.settings import Settings
from core.urls import retitle
from index_format import Index

from .floor import Floor, reads_as_identifiers
from .search import search
from .tables import tables, wiki_title

logger = logging.getLogger(__name__)
_DEFAULTS = Settings()
#: Titles read beyond the limit, so that the wiki's order (underscores, not
#: spaces) can be restored among them.
_READ_AHEAD = 4


@dataclass(frozen=True)
class Completion:
    title: str
    description: str  # "" for a page; "→ Target" for a redirect
    url: str  # the page's URL, never an anchor


def complete(
    index: Index, embedder: Embedder, typed: str, limit: int, settings: Settings = _DEFAULTS
) -> list[Completion]:
    """Up to ``limit`` completions of ``typed``: titles first, then semantic ones."""
    table = tables(index)
    prefix = wiki_title(typed, table)
    found = index.titles_starting(prefix, limit * _READ_AHEAD) if prefix else []
    found.sort(key=lambda row: row[0].replace(" ", "_"))
    titles = [
        Completion(t, f"→ {target}" if target else "", retitle(url, target, t) if target else url)
        for t, target, url in found
    ]
    titles = titles[:limit]
    if len(titles) < limit and not reads_as_identifiers(typed):  # words, not a title being typed
        titles += _semantic(index, embedder, typed, limit, settings, {c.title for c in titles})[: limit - len(titles)]
    return titles


def _semantic(
    index: Index, embedder: Embedder, typed: str, limit: int, settings: Settings, seen: set[str]
) -> list[Completion]:
    """Pages that are good matches for what was typed (at the model's match floor,
    not merely results): a suggestion is a claim, as the answer line is."""
    try:
        # A word being typed is no typo: respelling it would search twice on every keystroke.
        response = search(index, embedder, typed, limit=limit, settings=settings, answer=False, respell=False)
    except QueryError:
        return []
    floor = Floor.of_index(index)
    good = [h for h in response.results if floor is None or (h.relevance or 0.0) >= floor.match]
    return [Completion(h.title, "", h.url.split("#", 1)[0]) for h in good if h.title not in seen]
