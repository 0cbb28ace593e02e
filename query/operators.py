"""What a query's operators (``query.syntax``) allow, looked up in the index's own tables:
phrases and words through the lexical table, titles through its title columns and the
redirects, categories through the category table."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass

from core.categories import category_name
from index_format import Index

from .syntax import Parsed
from .tables import Tables

#: How alike a category name must be to the one asked for to be offered instead (difflib's ratio).
CLOSE_CATEGORY = 0.8
#: A required set of at most this many chunks is scored exactly, chunk by chunk,
#: instead of read from the nearest neighbours of the whole index.
EXACT_CHUNKS = 20_000


@dataclass(frozen=True)
class Narrowing:
    """The pages a query's operators allow: those in ``required`` (None: any page), not in
    ``excluded``, starting with ``prefix``. ``matched``: the pages a phrase or ``intitle:``
    asked for by their words (they pass the relevance floor, as a named page does)."""

    required: frozenset[str] | None = None
    excluded: frozenset[str] = frozenset()
    prefix: str = ""
    matched: frozenset[str] = frozenset()
    notices: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        return self.required is not None or bool(self.excluded or self.prefix)

    def predicate(self) -> Callable[[str], bool] | None:
        if not self.active:
            return None
        required, excluded, prefix = self.required, self.excluded, self.prefix.casefold()

        def allowed(title: str) -> bool:
            if required is not None and title not in required:
                return False
            return title not in excluded and (not prefix or title.casefold().startswith(prefix))

        return allowed

    def listing(self, table: Tables) -> list[str]:
        """Every page allowed, in the wiki's title order: the results of a query of operators alone."""
        allowed = self.predicate()
        titles = self.required if self.required is not None else table.namespaces.keys()
        return sorted((t for t in titles if allowed is None or allowed(t)), key=lambda t: t.replace(" ", "_"))


def narrowing(index: Index, table: Tables, parsed: Parsed) -> Narrowing:
    """The pages ``parsed``'s operators allow."""
    required: set[str] | None = None
    excluded: set[str] = set()
    matched: set[str] = set()
    notices: list[str] = []
    prefix = ""
    for clause in parsed.clauses:
        if clause.keyword == "prefix":
            prefix = clause.value.replace("_", " ")
            continue
        if clause.keyword == "insource":
            notices.append(
                f"insource: is not supported: this index keeps the text readers see, not the wikitext "
                f"(insource:{clause.value} was left out)."
            )
            continue
        if clause.keyword == "incategory" and not index.keeps_categories:
            notices.append(
                f"{index.path.name} was built before categories were kept: rebuild it to search by category "
                f"(incategory:{clause.value} was left out)."
            )
            continue
        titles = _titles(index, table, clause.keyword, clause.value)
        if clause.keyword == "incategory" and not titles and not clause.negated:
            notices.append(_no_such_category(index, clause.value))
        if clause.negated:
            excluded |= titles
            continue
        required = titles if required is None else required & titles
        if clause.keyword in ("phrase", "intitle"):
            matched |= titles
    return Narrowing(
        None if required is None else frozenset(required),
        frozenset(excluded),
        prefix,
        frozenset(matched),
        tuple(notices),
    )


def _titles(index: Index, table: Tables, keyword: str, value: str) -> set[str]:
    if keyword == "incategory":
        rows: set[int] = set()
        for name in value.split("|"):
            rows |= index.category_pages(category_name(name))
        return {table.page_titles[row] for row in rows if row in table.page_titles}
    return index.titles_matching(value, in_title=keyword == "intitle")


def _no_such_category(index: Index, value: str) -> str:
    """What to say of a category no page is in, with the closest name of one that has pages."""
    said = f"No page of {index.path.name} is in the category “{value.replace('_', ' ')}”"
    named = [category_name(name) for name in value.split("|")]
    close = difflib.get_close_matches(named[0], index.category_names(), n=1, cutoff=CLOSE_CATEGORY)
    return f"{said}: did you mean “{close[0]}”?" if close and len(named) == 1 else f"{said}."
