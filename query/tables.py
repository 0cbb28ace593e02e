"""Lookup tables the search builds once per loaded index: chunk → page title,
page → first chunk, namespace and revision time, normalised title → pages.
The index stays a plain reader; what search derives from it is cached here."""

from __future__ import annotations

import threading
import weakref
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

from core.lexical import without_config_prefix
from index_format import Index

T = TypeVar("T")


def normalise_title(title: str) -> str:
    """Titles as a user types them: no case, underscores, namespace or ``$wg``."""
    text = " ".join(title.replace("_", " ").split())
    if ":" in text:
        text = text.split(":", 1)[1].strip()
    return without_config_prefix(text).lower()


@dataclass(frozen=True)
class Tables:
    chunk_pages: np.ndarray  # page row of each chunk id
    page_titles: dict[int, str]
    openings: dict[str, int]  # title → first chunk id
    named: dict[str, list[str]]  # normalised title or alias → page titles
    redirects: dict[str, list[tuple[str, str, str]]]  # normalised alias → (alias, target, anchor)
    namespaces: dict[str, int]  # title → namespace
    namespace_labels: dict[str, str]  # a namespace's name, case-folded → as titles write it
    namespace_sizes: dict[int, int]  # namespace → its pages
    largest_label: str  # the name of the namespace (not the main one) with the most pages, "" if none
    timestamps: dict[str, str]  # title → revision time (ISO 8601, "" if unknown)

    def chunk_titles(self, ids: Sequence[int]) -> dict[int, str]:
        """Page title of each chunk id (a join per query cost more than the vector search)."""
        pages, titles = self.chunk_pages, self.page_titles
        return {int(i): titles[int(pages[i])] for i in ids if 0 <= i < len(pages)}

    def titles_named(self, name: str) -> list[str]:
        """Pages whose title, or a redirect to them, reads ``name`` once normalised."""
        return list(dict.fromkeys(self.named.get(name, [])))

    def redirected(self, name: str) -> dict[str, tuple[str, str]]:
        """Pages that ``name`` reaches only through a redirect: target → (redirect title,
        anchor of the section it points to, or "")."""
        own = {t for t in self.named.get(name, []) if normalise_title(t) == name}
        return {target: (alias, anchor) for alias, target, anchor in self.redirects.get(name, []) if target not in own}


class PerIndex(Generic[T]):
    """A value derived from an index once, on first use, and kept while the index is
    (a served index reloaded after a build is a new one)."""

    def __init__(self, make: Callable[[Index], T]):
        self.make = make
        self.kept: weakref.WeakKeyDictionary[Index, T] = weakref.WeakKeyDictionary()
        self.lock = threading.Lock()

    def __call__(self, index: Index) -> T:
        with self.lock:
            found = self.kept.get(index)
            if found is None:
                found = self.kept[index] = self.make(index)
            return found


def _load(index: Index) -> Tables:
    """The tables of ``index`` (``tables``)."""
    rows = list(index.page_rows())
    page_titles = {row_id: title for row_id, title, _, _ in rows}
    named: dict[str, list[str]] = {}
    for title in page_titles.values():
        named.setdefault(normalise_title(title), []).append(title)
    pages = set(page_titles.values())
    redirects: dict[str, list[tuple[str, str, str]]] = {}
    for alias, pointed in index.alias_rows():
        target, _, anchor = pointed.partition("#")
        if target in pages:
            named.setdefault(normalise_title(alias), []).append(target)
            redirects.setdefault(normalise_title(alias), []).append((alias, target, anchor))
    namespaces = {title: ns for _, title, ns, _ in rows}
    labels = Counter(title.split(":", 1)[0] for title, ns in namespaces.items() if ns != 0 and ":" in title)
    timestamps = {title: ts for _, title, _, ts in rows}
    return Tables(
        index.chunk_pages(),
        page_titles,
        index.openings(),
        named,
        redirects,
        namespaces,
        {label.casefold(): label for label in labels},
        dict(Counter(namespaces.values())),
        labels.most_common(1)[0][0] if labels else "",
        timestamps,
    )


#: The tables of an index, loaded on first use and kept while it is.
tables = PerIndex(_load)


def wiki_title(typed: str, table: Tables) -> str:
    """``typed`` as MediaWiki reads a title: spaces for underscores, a known
    namespace written as the wiki writes it, the first letter of the name upper case."""
    text = typed.replace("_", " ").lstrip()
    space, sep, name = text.partition(":")
    if sep and space.strip().casefold() in table.namespace_labels:
        label = table.namespace_labels[space.strip().casefold()] + ":"
        name = name.lstrip()
    else:
        label, name = "", text
    return label + name[:1].upper() + name[1:]
