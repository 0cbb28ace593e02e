"""Narrowing a search: by namespace, by title prefix, and the order of matches."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from core.errors import QueryError

from .tables import Tables

#: How matches may be ordered: by relevance (the ranking), or most recently edited first.
SORTS = ("relevance", "recent")
MAX_PREFIX_CHARS = 255


@dataclass(frozen=True)
class Filters:
    """Which pages a search may return; empty means all."""

    namespaces: frozenset[int] = frozenset()
    prefix: str = ""

    @classmethod
    def parse(cls, namespaces: Iterable[str] = (), prefix: str | None = None) -> Filters:
        """From request values (``ns=100,104``, ``prefix=Manual:``); QueryError with a code if unusable."""
        ids: set[int] = set()
        for value in namespaces:
            for part in str(value).split(","):
                if part.strip():
                    try:
                        ids.add(int(part))
                    except ValueError:
                        raise QueryError(
                            f"a namespace is a number (0, 100…), not {part.strip()[:40]!r}", "bad_namespace"
                        ) from None
        prefix = (prefix or "").replace("_", " ").lstrip()
        if len(prefix) > MAX_PREFIX_CHARS:
            raise QueryError(f"prefix is too long: at most {MAX_PREFIX_CHARS} characters", "bad_prefix")
        return cls(frozenset(ids), prefix)

    @property
    def active(self) -> bool:
        return bool(self.namespaces or self.prefix)

    def predicate(self, table: Tables) -> Callable[[str], bool] | None:
        """Whether a page title passes; None when nothing is filtered."""
        if not self.active:
            return None
        namespaces, prefix = self.namespaces, self.prefix.casefold()

        def allowed(title: str) -> bool:
            if namespaces and table.namespaces.get(title) not in namespaces:
                return False
            return not prefix or title.casefold().startswith(prefix)

        return allowed


@dataclass(frozen=True)
class Facet:
    """A namespace among the best matches, named as its titles are (``Manual``, ``API``)."""

    namespace: int
    label: str
    count: int


def namespace_facets(titles: Iterable[str], table: Tables) -> list[Facet]:
    """Counts of the best matches by namespace, largest first."""
    counts: Counter[int] = Counter()
    labels: dict[int, str] = {}
    for title in titles:
        ns = table.namespaces.get(title)
        if ns is None:
            continue
        counts[ns] += 1
        if ns not in labels:
            labels[ns] = title.split(":", 1)[0] if ns != 0 and ":" in title else "(Main)"
    return [Facet(ns, labels[ns], n) for ns, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def check_sort(sort: str) -> str:
    if sort not in SORTS:
        raise QueryError(f"sort must be one of {', '.join(SORTS)}", "bad_sort")
    return sort
