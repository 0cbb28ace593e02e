"""Parse stage: a page's wikitext to plain-text ``Section`` values with MediaWiki anchors.

The rules of what is kept and dropped are the tables of ``core.wikitext``.
"""

from __future__ import annotations

from mwparserfromhell.nodes import Heading, Template

from core.documents import Section
from core.wikitext import FACT_TEMPLATE_PREFIXES, clean_text, parse, render, render_node, template_key, unique_anchor


def parse_sections(wikitext: str) -> list[Section]:
    """Split a page into sections (lead first) of plain text, each with its
    heading path and the anchor MediaWiki gives that heading."""
    code = parse(wikitext)
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    path: tuple[str, ...] = ()
    anchor = ""
    parts: list[str] = []
    facts: list[str] = []
    for node in code.nodes:
        if isinstance(node, Heading):
            sections.extend(_with_facts(path, anchor, parts, facts))
            parts, facts = [], []
            heading = clean_text(render(node.title)).replace("\n", " ")
            while stack and stack[-1][0] >= node.level:
                stack.pop()
            stack.append((node.level, heading))
            path = tuple(h for _, h in stack)
            anchor = unique_anchor(heading, seen)
        elif isinstance(node, Template) and _is_fact_template(node):
            facts.append(render_node(node, 0))
        else:
            parts.append(render_node(node, 0))
    sections.extend(_with_facts(path, anchor, parts, facts))
    return [s for s in sections if s.text]


def _is_fact_template(node: Template) -> bool:
    return template_key(node).startswith(FACT_TEMPLATE_PREFIXES)


def _with_facts(path: tuple[str, ...], anchor: str, parts: list[str], facts: list[str]) -> list[Section]:
    """A section's prose, then its infobox facts as a section of their own: an
    infobox at the top of a page would otherwise fill the lead's first chunk
    with ``key: value`` lines and push the sentence that defines the subject
    into a chunk that starts mid-infobox."""
    return [Section(path, anchor, clean_text("".join(parts))), Section(path, anchor, clean_text("".join(facts)))]
