"""No wikitext in anything a reader sees: every chunk, snippet, fact, answer
sentence and code block of every sample index is scanned for markup that
MediaWiki would have rendered or removed."""

from __future__ import annotations

import re

import pytest

from core.prose import card_text
from index_format import Index

#: Markup a rendered page never shows, with what it catches: name → pattern.
PROSE_MARKUP: dict[str, re.Pattern[str]] = {
    # {{name|…}} or {{name}}; not a magic word quoted literally ({{REVISIONID}}, from <nowiki>)
    "template": re.compile(r"\{\{\s*(?![A-Z]+\}\})[A-Za-z#][^{}\n]*?(?:\||\}\})"),
    "link": re.compile(r"\[\[\s*[A-Za-z:][^\[\]\n]*\]\]"),
    "reference": re.compile(r"</?ref[\s>/]"),
    "translate": re.compile(r"</?translate|<!--T:\d+|<tvar"),
    "nowiki": re.compile(r"</?nowiki"),
    "comment": re.compile(r"<!--"),
    "bold or italic": re.compile(r"'''|(?<=\w)''|''(?=\w)"),
    "behaviour switch": re.compile(r"__(?:NOTOC|FORCETOC|TOC|NOEDITSECTION|NOGALLERY|INDEX|NOINDEX|HIDDENCAT)__"),
    "table": re.compile(r"^\s*(?:\{\||\|\}|\|-)", re.MULTILINE),
    "cell attribute": re.compile(r"\|\s*(?:style|class|bgcolor|align|colspan|rowspan|width)\s*="),
    "template parameter": re.compile(r"(?:^|\s)\|\s*[a-z_]+\s*="),
}
#: What a query's code or its "Try it" link must not carry.
CODE_MARKUP = {name: PROSE_MARKUP[name] for name in ("translate", "nowiki", "comment")}

SAMPLES = [
    ("dump", "mediawiki-docs.xml.bz2"),
    ("sparql-examples", "wikidata-sparql-examples.xml.bz2"),
    ("dump", "enwiki-sample.xml.bz2"),
]

# (text, markup it holds, or None): the patterns catch what they name and pass what a reader sees
CASES = [
    ("{{cite web |url=http://x}}", "template"),
    ("Revision ID, for {{REVISIONID}} and similar variables.", None),
    ("A = \\frac{1329\\times10^{-H/5}}{D}", None),
    ("[[Simon Critchley]] wrote", "link"),
    ("Default: [[320, 240], [640, 480]]", None),
    ("p. 125</ref> International", "reference"),
    ("#title: <translate><!--T:745--> Horses", "translate"),
    ("Iliad'''s description", "bold or italic"),
    ("$wgFoo = '';", None),
    ("harmful. __TOC__", "behaviour switch"),
    ('{| class="wikitable"', "table"),
    ("| bgcolor=lime | W", "cell attribute"),
    ("|type=object |since= }}", "template parameter"),
    ("$dbw->begin( __METHOD__ );", None),
]


#: Wikitext the docs sample writes in <nowiki>, as entities or inside code: MediaWiki
#: shows it as written, and so do we.
LITERAL = ("{{Project:Sandbox}}", "{{x}}", "{{DISPLAYTITLE:}}", "__NOTOC__", "[[MediaWiki:captcha-addurl-whitelist]]")


@pytest.mark.parametrize(("text", "markup"), CASES)
def test_the_scanner_names_markup_and_passes_text(text: str, markup: str | None) -> None:
    found = [name for name, pattern in PROSE_MARKUP.items() if pattern.search(text)]
    assert markup in found if markup else found == []


def _leaks(text: str, patterns: dict[str, re.Pattern[str]]) -> list[str]:
    for literal in LITERAL:
        text = text.replace(literal, "")
    return [
        f"{name}: …{text[max(0, m.start() - 40) : m.end() + 40]}…"
        for name, p in patterns.items()
        if (m := p.search(text))
    ]


@pytest.mark.parametrize(("kind", "name"), SAMPLES)
def test_no_sample_index_shows_wikitext(fake_sample, kind: str, name: str) -> None:
    index = Index.open(fake_sample(kind, name))
    leaks: list[str] = []
    db = index.db()
    for title, text in db.execute("SELECT p.title, c.text FROM chunks c JOIN pages p ON p.id = c.page"):
        prose, facts = card_text(text, title)
        shown = [prose] + [f"{f.label}: {f.value}" for f in facts]
        leaks += [f"{title}: {leak}" for part in shown for leak in _leaks(part, PROSE_MARKUP)]
    for (sentence,) in db.execute("SELECT text FROM sentences"):
        leaks += [f"sentence: {leak}" for leak in _leaks(sentence, PROSE_MARKUP)]
    for title, code, action in db.execute("SELECT title, code, action_url FROM pages"):
        leaks += [f"{title} (code): {leak}" for leak in _leaks(code + "\n" + action, CODE_MARKUP)]
    assert not leaks, f"{len(leaks)} leaks, first: " + "\n".join(leaks[:15])
