"""Wikitext to plain text, as a reader sees it, with MediaWiki's heading anchors.

What is kept and dropped is data (the tables below), so a new template or
tag is a one-line change with a test case, not new code. The build's parse
stage (``indexer.parse``) cuts pages into sections with it; the evaluation
renders judged titles with it, as the sources render theirs.
"""

from __future__ import annotations

import html
import logging
import re
from datetime import date

import mwparserfromhell
from mwparserfromhell.nodes import (
    Argument,
    Comment,
    ExternalLink,
    Heading,
    HTMLEntity,
    Node,
    Tag,
    Template,
    Text,
    Wikilink,
)
from mwparserfromhell.wikicode import Wikicode

logger = logging.getLogger(__name__)

#: Templates whose named parameters carry documentation: template → (param, label).
CONTENT_TEMPLATES: dict[str, tuple[tuple[str, str], ...]] = {
    "settingsummary": (
        ("name", "Setting"),
        ("type", "Type"),
        ("default", "Default"),
        ("since", "Since MediaWiki"),
    ),
    "api": (("module", "API module"),),
    "extension": (("name", "Extension"),),
    "sparql": (("query", ""),),
    "sparql2": (("query", ""),),
}
#: The labels those templates write before their values ("Default: false"):
#: a card shows such lines as facts apart from the prose.
FACT_LABELS = frozenset(label for params in CONTENT_TEMPLATES.values() for _, label in params if label)
#: Inline templates replaced by one of their positional parameters (1-based; -1 = last).
INLINE_TEMPLATES: dict[str, int] = {
    "lang": -1,
    "transl": -1,
    "nowrap": 1,
    "small": 1,
    "code": 1,
    "mono": 1,
    "kbd": 1,
    "var": 1,
    "tt": 1,
    "nihongo": 1,
    "em": 1,
    "strong": 1,
    "smallcaps": 1,
    "ill": 1,
    "sic": -1,
    "abbr": 1,
    "tooltip": 1,
    "keypress": 1,
    "q": 1,
    "p": 1,
    "para": 1,
}
#: Wikidata entity templates ({{Q|146}}, {{P|31}}) → their id with its letter.
ID_TEMPLATES: dict[str, str] = {"q": "Q", "p": "P", "property": "P", "l": "L", "lexeme": "L"}
#: Templates that render literal text.
LITERAL_TEMPLATES: dict[str, str] = {
    "!": "|",
    "=": "=",
    "!!": "||",
    "snd": " – ",
    "ndash": "–",
    "mdash": "—",
    "nbsp": " ",
    "mediawiki:mainpage": "Main Page",  # the interface message, as a wiki in English renders it
}
#: Ages ({{age|1969|07|20}}): whole years to the day the page is read, as MediaWiki renders them.
AGE_TEMPLATES = frozenset({"age"})
#: Unit conversions ({{convert|29|km}}): the value and unit as written.
CONVERT_TEMPLATES = frozenset({"convert", "cvt"})
_RANGE_WORDS = frozenset({"-", "–", "to", "and", "or", "by", "x", "×", "+/-", "±"})
#: Template name prefixes whose ``key = value`` pairs are facts worth indexing.
FACT_TEMPLATE_PREFIXES = ("infobox",)
#: Tags whose content is dropped: references, galleries, styles.
DROP_TAGS = frozenset(
    {
        "ref",
        "references",
        "gallery",
        "imagemap",
        "timeline",
        "templatestyles",
        "graph",
        "mapframe",
        "maplink",
        "score",
        "indicator",
        "noinclude",
        "templatedata",
        "style",
        "script",
    }
)
#: Tags whose content MediaWiki shows literally: kept verbatim, not parsed. (``<code>``,
#: ``<kbd>``, ``<tt>``, ``<samp>`` only change the font: MediaWiki parses what they hold,
#: so a link in them reads as its label, ``[[Special:ApiHelp/clientlogin|action=clientlogin]]``.)
CODE_TAGS = frozenset({"syntaxhighlight", "source", "pre", "nowiki", "math", "chem"})
#: Link namespaces that are not text: files, categories, and interlanguage links (a
#: lowercase language code with no leading colon: ``[[fr:Paris]]``; ``[[:mw:Page|x]]`` and
#: ``[[API:Edit]]`` are shown).
NON_TEXT_LINK = re.compile(r"^\s*(?::?\s*(?i:file|image|category|media)|[a-z]{2,3}(?:-[a-z]+)?)\s*:")
#: Keep ``:Category:Foo`` style links that are meant to be shown.
SHOWN_LINK = re.compile(r"^\s*:\s*(category|file|image)\s*:", re.IGNORECASE)

#: The Translate extension's markup, which MediaWiki removes before a reader sees the page:
#: ``<translate>``, its unit markers ``<!--T:12-->`` and variables ``<tvar name=x>…</tvar>``.
TRANSLATE_MARKUP = (
    (re.compile(r"</?translate\s*>|<!--T:\d+-->\s?|</?languages\s*/?>"), ""),
    (re.compile(r"<tvar(?:\s+name=\"?[^\">]*\"?|\|[^>]*)\s*>(.*?)</(?:tvar)?>", re.DOTALL), r"\1"),
)
#: Behaviour switches: MediaWiki consumes them; a reader never sees them.
BEHAVIOUR_SWITCHES = re.compile(
    r"__(?:NOTOC|FORCETOC|TOC|NOEDITSECTION|NEWSECTIONLINK|NONEWSECTIONLINK|NOGALLERY|HIDDENCAT|"
    r"EXPECTUNUSEDCATEGORY|NOCONTENTCONVERT|NOCC|NOTITLECONVERT|NOTC|INDEX|NOINDEX|STATICREDIRECT|"
    r"DISAMBIG|EXPECTUNUSEDTEMPLATE)__"
)
#: Bold and italic quotes (read as text: mwparserfromhell's style parsing gives up on an
#: unclosed ``''`` and takes the ``<ref>`` after it with it).
STYLE_QUOTES = re.compile(r"'{2,}")
#: Table lines mwparserfromhell left unparsed, as MediaWiki reads them: ``{| attrs``,
#: ``|-``, ``|}`` end nothing a reader sees; a cell line drops its ``attrs |``.
TABLE_LINE = re.compile(
    r"^(?:\{\||\|\}|\|-)[^\n]*$|^\|\+\s*|^[|!]\s*(?:[^|\n\[{]*?[^|\n\[{\s]\s*\|(?!\|))?", re.MULTILINE
)
TABLE_SEPARATOR = re.compile(r"\|\||!!")
#: A template's ``|name=`` line, followed by the next ``|name=`` line: when its value
#: holds ``}}`` but opens no ``{{`` and its braces balance (a JSON default), the braces
#: are the value's, not the template's end.
_PARAM_LINE = re.compile(r"^\|[ \w]+=[^\n]*\}\}[^\n]*(?=\n\|[ \w]+=)", re.MULTILINE)


def _protect_value_braces(match: re.Match[str]) -> str:
    line = match.group(0)
    if "{{" in line or line.count("{") != line.count("}"):
        return line
    return line.replace("}", "&#125;")


_MAX_DEPTH = 40
#: Longest value kept of a labelled template parameter.
MAX_PARAM_CHARS = 120
_SPACES = re.compile(r"[ \t\u00a0]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")


def heading_anchor(heading: str) -> str:
    """MediaWiki's HTML5 anchor for a heading: spaces to underscores, text kept."""
    return re.sub(r"\s+", "_", heading.strip())


def unique_anchor(heading: str, seen: dict[str, int]) -> str:
    """Repeated headings get ``_2``, ``_3`` … as MediaWiki numbers them."""
    base = heading_anchor(heading)
    count = seen.get(base, 0) + 1
    seen[base] = count
    return base if count == 1 else f"{base}_{count}"


def parse(wikitext: str) -> Wikicode:
    """Wikitext as MediaWiki's preprocessor would hand it on: Translate markup
    removed, a ``}}`` inside a one-line template value kept as text; bold and
    italic quotes left as text (``render`` drops them)."""
    wikitext = _PARAM_LINE.sub(_protect_value_braces, without_translate(wikitext))
    return mwparserfromhell.parse(wikitext, skip_style_tags=True)


def without_translate(wikitext: str) -> str:
    """``TRANSLATE_MARKUP`` removed: the text a reader of the translated page sees."""
    for pattern, replacement in TRANSLATE_MARKUP:
        wikitext = pattern.sub(replacement, wikitext)
    return wikitext


def render(code: Wikicode | str | None, depth: int = 0) -> str:
    if code is None:
        return ""
    if isinstance(code, str):
        code = parse(code)
    return "".join(render_node(node, depth) for node in code.nodes)


def render_text(value: str) -> str:
    """A run of text as a reader sees it: no style quotes, behaviour switches or table markup."""
    value = BEHAVIOUR_SWITCHES.sub("", STYLE_QUOTES.sub("", value))
    if "|" not in value and "!" not in value:
        return value
    head, sep, rest = value.partition("\n")  # a run's first line may continue a line begun before it
    if not sep:
        return value
    table = TABLE_LINE.sub("", rest)
    if table != rest:
        table = TABLE_SEPARATOR.sub(" | ", table)
    return head + sep + table


def render_node(node: Node, depth: int) -> str:
    if depth > _MAX_DEPTH:
        return ""
    if isinstance(node, Text):
        return render_text(str(node.value))
    if isinstance(node, Wikilink):
        target = str(node.title)
        if NON_TEXT_LINK.match(target) and not SHOWN_LINK.match(target):
            return ""
        if node.text is not None:
            return render(node.text, depth + 1)
        shown = render(node.title, depth + 1)  # a target may be a template: [[{{MediaWiki:Mainpage}}]]
        return shown.lstrip(":").split("#")[0] or shown.lstrip(":#")
    if isinstance(node, ExternalLink):
        return render(node.title, depth + 1) if node.title is not None else str(node.url)
    if isinstance(node, Template):
        return _render_template(node, depth)
    if isinstance(node, Tag):
        return _render_tag(node, depth)
    if isinstance(node, HTMLEntity):
        return html.unescape(str(node))
    if isinstance(node, Argument):
        return render(node.default, depth + 1) if node.default is not None else ""
    if isinstance(node, Comment | Heading):
        return "" if isinstance(node, Comment) else "\n" + render(node.title, depth + 1) + "\n"
    return ""


def template_key(node: Template) -> str:
    key = str(node.name).strip().replace("_", " ").lower()
    return key[len("template:") :] if key.startswith("template:") else key


def _render_template(node: Template, depth: int) -> str:
    key = template_key(node)
    if key in LITERAL_TEMPLATES:
        return LITERAL_TEMPLATES[key]
    if key in CONTENT_TEMPLATES:
        lines = []
        for name, label in CONTENT_TEMPLATES[key]:
            if node.has(name):
                value = clean_text(render(node.get(name).value, depth + 1))
                if len(value) > MAX_PARAM_CHARS and label:  # a long default (a JSON blob) drowns the prose
                    value = value[:MAX_PARAM_CHARS].rsplit(" ", 1)[0] + " …"
                if value:
                    lines.append(f"{label}: {value}" if label else value)
        return "\n" + "\n".join(lines) + "\n" if lines else ""
    if key in ID_TEMPLATES:
        positional = [p for p in node.params if not p.showkey]
        value = str(positional[0].value).strip() if positional else ""
        letter = ID_TEMPLATES[key]
        if value.isdigit():
            return letter + value
        return value if value[1:].isdigit() else render(value, depth + 1)
    if key in AGE_TEMPLATES:
        return _age([str(p.value).strip() for p in node.params if not p.showkey])
    if key in CONVERT_TEMPLATES:
        values = [str(p.value).strip() for p in node.params if not p.showkey]
        if len(values) >= 4 and values[1] in _RANGE_WORDS:
            return " ".join(values[:4])
        return " ".join(values[:2])
    if key in INLINE_TEMPLATES:
        positional = [p for p in node.params if not p.showkey]
        if not positional:
            return ""
        index = INLINE_TEMPLATES[key]
        param = positional[-1] if index == -1 else positional[min(index, len(positional)) - 1]
        return render(param.value, depth + 1)
    if key.startswith(FACT_TEMPLATE_PREFIXES):
        facts = []
        for param in node.params:
            value = clean_text(render(param.value, depth + 1)).replace("\n", ", ")
            if param.showkey and value:
                facts.append(f"{str(param.name).strip().replace('_', ' ')}: {value}")
        return "\n" + "\n".join(facts) + "\n" if facts else ""
    return ""


def _age(values: list[str]) -> str:
    try:
        born = date(*(int(v) for v in (values + ["1", "1"])[:3]))
    except ValueError:
        return ""
    today = date.today()
    return str(today.year - born.year - ((today.month, today.day) < (born.month, born.day)))


def _render_tag(node: Tag, depth: int) -> str:
    tag = str(node.tag).strip().lower()
    if tag in DROP_TAGS:
        return ""
    if tag in CODE_TAGS:
        body = html.unescape(str(node.contents)) if node.contents is not None else ""
        return f"\n{body.strip()}\n" if tag in {"syntaxhighlight", "source", "pre"} else body
    if tag == "br" or tag == "hr":
        return "\n"
    inner = render(node.contents, depth + 1) if node.contents is not None else ""
    if tag in {"td", "th"}:
        return f" {inner.strip()} |"
    if tag == "tr" or tag == "caption":
        return "\n" + inner.strip()
    if tag == "table":
        return "\n" + inner + "\n"
    if tag in {"li", "dt"}:
        return "\n" + inner
    if tag == "dd":
        return " " + inner
    if tag in {"p", "div", "blockquote", "center"}:
        return "\n" + inner + "\n"
    return inner


def clean_text(text: str) -> str:
    """Collapse runs of spaces and blank lines; keep single line breaks."""
    text = _SPACES.sub(" ", text)
    lines = [line.strip() for line in text.split("\n")]
    text = "\n".join(lines)
    text = _BLANK_LINES.sub("\n\n", text)
    return text.strip()
