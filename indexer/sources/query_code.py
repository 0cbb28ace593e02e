"""What query collections share: their actions, and the comments that say what a query does.

Both the SPARQL examples and record collections (Quarry, crawled SPARQL) are
queries with a description; these are the facts about the query languages.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from core.documents import Action

QUERY_SERVICE = "https://query.wikidata.org/#"
QUARRY_QUERY_URL = "https://quarry.wmcloud.org/query/{id}"
#: Runs a SPARQL query on the Wikidata Query Service.
WDQS = Action("Try it", "on the Wikidata Query Service")
#: Opens a query on Quarry.
QUARRY = Action("Open in Quarry", "on Quarry")


def try_it_url(query: str) -> str:
    """The Query Service link that opens (not runs) the query, as the wiki's template makes it."""
    return QUERY_SERVICE + quote(query, safe="")


_SPARQL_COMMENT = re.compile(r"(?:^|\s)#\s?(.*)$")
_SQL_COMMENT = re.compile(r"--[ \t]?([^\n]*)|/\*(.*?)\*/", re.DOTALL)
_MARKUP = re.compile(r"<[^>]+>")


def code_comments(code: str, language: str) -> str:
    """The comments of a query, one a line: where its author says what it does
    (``# Items in the Messier Catalog``), without display hints (``#defaultView``)."""
    found: list[str] = []
    if language == "sql":
        found = [a or b for a, b in _SQL_COMMENT.findall(code)]
    else:
        for line in code.splitlines():
            match = _SPARQL_COMMENT.search(line)
            if match:
                found.append(match.group(1))
    lines = [" ".join(_MARKUP.sub("", c).split()) for c in found]
    return "\n".join(c for c in lines if c.strip("-=*# ") and not c.lower().startswith("defaultview"))
