"""Wikitext to sections: input → expected pairs, in the style of mwparserfromhell's own tests."""

from __future__ import annotations

import pytest

from core.documents import Section
from core.wikitext import heading_anchor
from indexer.parse import parse_sections

# (name, wikitext, [(path, anchor, text)])
CASES: list[tuple[str, str, list[tuple[tuple[str, ...], str, str]]]] = [
    ("lead only", "Plain lead text.", [((), "", "Plain lead text.")]),
    (
        "headings build paths and anchors",
        "Lead.\n== Setup ==\nA.\n=== Linux systems ===\nB.\n== Usage ==\nC.",
        [
            ((), "", "Lead."),
            (("Setup",), "Setup", "A."),
            (("Setup", "Linux systems"), "Linux_systems", "B."),
            (("Usage",), "Usage", "C."),
        ],
    ),
    (
        "repeated headings are numbered like MediaWiki does",
        "== Example ==\nx\n== Example ==\ny",
        [(("Example",), "Example", "x"), (("Example",), "Example_2", "y")],
    ),
    (
        "markup in a heading is not in its anchor",
        "== ''The'' [[Foo|bar]] ==\nz",
        [(("The bar",), "The_bar", "z")],
    ),
    ("comments are dropped", "Visible<!-- hidden --> text.", [((), "", "Visible text.")]),
    (
        "refs are dropped",
        "Fact.<ref>{{cite web|url=http://x|title=Source}}</ref> More.",
        [((), "", "Fact. More.")],
    ),
    (
        "categories and files are dropped, link text kept",
        "See [[Main Page|the main page]] and [[Help:Contents]].[[Category:Docs]][[File:X.png|thumb|caption]]",
        [((), "", "See the main page and Help:Contents.")],
    ),
    (
        "external link titles are kept",
        "Read [https://example.org the manual].",
        [((), "", "Read the manual.")],
    ),
    (
        "bold and italics are unwrapped",
        "'''Bold''' and ''italic''.",
        [((), "", "Bold and italic.")],
    ),
    (
        "layout templates are dropped",
        "{{Use dmy dates}}{{Infobox-less}}Text{{citation needed}}.",
        [((), "", "Text.")],
    ),
    ("escape templates render", "a {{!}} b", [((), "", "a | b")]),
    (
        "SettingSummary keeps its content parameters",
        "{{SettingSummary\n|name=EnableUploads\n|default=false\n|type=\n|since=1.5\n}}\nAllow uploads.",
        [
            (
                (),
                "",
                "Setting: EnableUploads\nDefault: false\nSince MediaWiki: 1.5\n\nAllow uploads.",
            )
        ],
    ),
    (
        "code blocks are kept verbatim",
        'Set it:\n<syntaxhighlight lang="php">\n$wgEnableUploads = true; // [[not a link]]\n</syntaxhighlight>\nDone.',
        [((), "", "Set it:\n\n$wgEnableUploads = true; // [[not a link]]\n\nDone.")],
    ),
    (
        "pre keeps text",
        "<pre>\nsudo service apache2 restart\n</pre>",
        [((), "", "sudo service apache2 restart")],
    ),
    (
        "inline code keeps text",
        "Use <code>$wgServer</code> here.",
        [((), "", "Use $wgServer here.")],
    ),
    (
        "a link in inline code reads as its label, as MediaWiki renders it",
        "From <kbd>[[Special:ApiHelp/query+tokens|action=query&amp;meta=tokens]]</kbd>.",
        [((), "", "From action=query&meta=tokens.")],
    ),
    (
        "a link to the main page message reads as the main page",
        "Purge <kbd>[[{{MediaWiki:Mainpage}}]]</kbd> and <code>[[Manual:Purge#Intro]]</code>.",
        [((), "", "Purge Main Page and Manual:Purge.")],
    ),
    (
        "nowiki in inline code stays literal",
        "Write <code><nowiki>{{REVISIONID}}</nowiki></code> in a page.",
        [((), "", "Write {{REVISIONID}} in a page.")],
    ),
    (
        "table cells keep their text",
        '{| class="wikitable"\n! Name !! Value\n|-\n| alpha || 1\n|-\n| beta || 2\n|}',
        [((), "", "Name | Value |\nalpha | 1 |\nbeta | 2 |")],
    ),
    ("html entities are decoded", "a&nbsp;&amp;&nbsp;b &lt;tag&gt;", [((), "", "a & b <tag>")]),
    (
        "infobox facts are kept as key: value, after the prose they stood above",
        "{{Infobox metal\n| symbol = Li\n| number = 3\n}}Lithium is a metal.",
        [((), "", "Lithium is a metal."), ((), "", "symbol: Li\nnumber: 3")],
    ),
    (
        "an infobox in a later section stays in that section",
        "Lead.\n== Data ==\n{{Infobox x|a=1}}Text.",
        [((), "", "Lead."), (("Data",), "Data", "Text."), (("Data",), "Data", "a: 1")],
    ),
    ("unit conversions keep value and unit", "about {{convert|29|km|0}} north", [((), "", "about 29 km north")]),
    ("a converted range keeps both ends", "{{convert|10|to|20|mi|km}} wide", [((), "", "10 to 20 mi wide")]),
    ("lang template keeps the text", "{{lang|fr|bonjour}} world", [((), "", "bonjour world")]),
    ("empty sections are dropped", "== Empty ==\n== Full ==\ntext", [(("Full",), "Full", "text")]),
]


@pytest.mark.parametrize(("name", "wikitext", "expected"), CASES, ids=[c[0] for c in CASES])
def test_parse(name: str, wikitext: str, expected: list[tuple[tuple[str, ...], str, str]]) -> None:
    assert parse_sections(wikitext) == [Section(*e) for e in expected]


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Setup", "Setup"),
        ("Linux systems", "Linux_systems"),
        ("  spaced   out ", "spaced_out"),
        ("Ünïcode ok?", "Ünïcode_ok?"),
    ],
)
def test_heading_anchor(heading: str, anchor: str) -> None:
    assert heading_anchor(heading) == anchor


@pytest.mark.parametrize(
    "broken",
    [
        "{{unclosed template",
        "<ref>never closed",
        "[[dangling link",
        "{| table\n| with no end",
        "''" * 500,
        "{{a|{{b|{{c|" * 40,
    ],
)
def test_broken_wikitext_does_not_crash(broken: str) -> None:
    sections = parse_sections("Before. " + broken + " After.")
    assert all(isinstance(s.text, str) for s in sections)
