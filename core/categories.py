"""The categories a page's wikitext puts it in.

Apart from ``core.wikitext`` on purpose: categories are stored with a page at every
build, so a change here needs no re-parse of unchanged pages (``TEXT_RULES``).
"""

from __future__ import annotations

import re

from .wikitext import without_translate

#: What hides a category link from MediaWiki: comments and ``<nowiki>``, ``<pre>`` text.
_NOT_LINKS = re.compile(r"<!--.*?(?:-->|$)|<(nowiki|pre|syntaxhighlight|source)\b[^>]*>.*?</\1\s*>", re.DOTALL | re.I)
_CATEGORY_LINK = re.compile(r"\[\[\s*([^:\[\]|{}]+?)\s*:\s*([^\[\]|{}#]+?)\s*(?:\|[^\[\]]*)?\]\]")


def categories(wikitext: str, names: frozenset[str] = frozenset({"category"})) -> tuple[str, ...]:
    """The categories a page's own ``[[Category:Name|sort key]]`` links put it in, as
    MediaWiki names them (underscores as spaces, first letter upper case), in order,
    once each. ``names``: the category namespace's names, case-folded (the wiki's own
    and the canonical ``category``). ``[[:Category:X]]`` is a link, not a category;
    categories that templates add are not in the wikitext (the Action API has them)."""
    found: dict[str, None] = {}
    for space, name in _CATEGORY_LINK.findall(_NOT_LINKS.sub("", without_translate(wikitext))):
        if space.replace("_", " ").strip().casefold() in names and (name := category_name(name)):
            found.setdefault(name, None)
    return tuple(found)


def category_name(written: str) -> str:
    """A category's name as MediaWiki stores it: underscores as spaces, runs of spaces
    as one, the first letter upper case."""
    name = " ".join(written.replace("_", " ").split())
    return name[:1].upper() + name[1:]
