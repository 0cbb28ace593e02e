"""Training pairs mined from a wiki's own pages, to adapt the model to its vocabulary.

Every wiki says what its pages are about: a title names its page, a heading
its section, a paragraph's first sentence the rest of it, a redirect another
name of its target. Each rule below turns one of these into (query, passage)
pairs; the passage is what the model reads of a chunk without its context
header (with it, a title query would only have to match the title back): the
chunk's stored text, and for a query page its description and comments.
"""

from __future__ import annotations

import hashlib
import logging
import random
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from core.documents import Chunk, Page
from core.errors import IndexFormatError
from core.lexical import camel_words, without_config_prefix
from core.prose import sentences
from index_format import Index, StoredChunk
from indexer.chunk import code_page_text, header_of, identifier_words
from indexer.sources.query_code import code_comments

logger = logging.getLogger(__name__)

#: Fewest words a passage keeps (a cloze passage is what is left of its chunk).
MIN_PASSAGE_WORDS = 5
#: Most pages one title may name once qualifiers are dropped (``Mercury (planet)``, ``Mercury
#: (element)``): the crawled SPARQL queries title 4,484 pages "TODO" and 98 "SPARQL query".
MAX_PAGES_A_TITLE_NAMES = 3
#: Share of pages held back: their pairs score the model before and after, never train it.
HELD_BACK_PERCENT = 10
#: The pair kinds the recipe mines (``PAIR_RULES``).
PAIR_KINDS = ("title", "heading", "cloze", "redirect")


@dataclass(frozen=True)
class Pair:
    kind: str
    page: str  # pairs of one page never share a batch, and a page is held back whole
    query: str
    passage: str
    chunk: int = 0  # the passage's chunk, by its place among the page's chunks (a lead: the first)


def title_words(title: str) -> str:
    """A title as a reader would say it: the name without its namespace, subpages
    as words; a one-word name without its configuration prefix, an identifier
    spelled out (``$wgDBserver`` → ``db server``, ``API:Allpages`` → ``all pages``)."""
    name = title.split(":", 1)[-1].replace("/", " ").replace("_", " ").strip()
    if " " in name:
        return name
    bare = without_config_prefix(name)
    words = camel_words(bare)
    return " ".join(w.lower() for w in words) if len(words) > 1 else identifier_words(name) or bare


@dataclass(frozen=True)
class Wiki:
    """What the rules mine: every page with its stored chunks, and the redirects."""

    pages: Sequence[tuple[Page, Sequence[StoredChunk]]]
    aliases: Sequence[tuple[str, str]] = ()  # (redirect title, target title)


def read_wiki(index_dir: Path, max_pages: int, seed: int) -> Wiki:
    """The index's pages with their stored chunks — all of them, or a seeded sample
    of ``max_pages``, the only ones read — and the redirects to them."""
    index = Index.open(index_dir)
    try:
        rows = [row for row, *_ in index.page_rows()]
        if len(rows) <= max_pages:
            return Wiki([(page, chunks) for page, _, chunks in index.stored_pages()], list(index.aliases()))
        logger.info("read a sample of %d of the index's %d pages", max_pages, len(rows))
        sample = sorted(random.Random(seed).sample(rows, max_pages))
        pages = [(page, chunks) for page, _, chunks in index.stored_pages(sample)]
        return Wiki(pages, list(index.aliases(page.title for page, _ in pages)))
    finally:
        index.close()


def _words(text: str) -> int:
    return sum(any(ch.isalpha() for ch in token) for token in text.split())


def read_after_header(page: Page, text: str) -> str:
    """What the model reads of a chunk of ``page`` after its header: its text, and on
    a query page the query's own comments too (``chunk_code_page``)."""
    return code_page_text(text, code_comments(page.code, page.code_language)) if page.code else text


def restored(page: Page, stored: StoredChunk) -> Chunk:
    """A stored chunk as the chunker made it, what the model read included: what its
    vector holds. Its key proves it: a chunk cut by another chunker would differ."""
    embed_text = header_of(stored.section, page.title) + read_after_header(page, stored.text)
    chunk = Chunk(page.title, stored.ordinal, stored.section, stored.anchor, stored.text, embed_text)
    if chunk.key != stored.key:
        raise IndexFormatError(
            f"page {page.title!r}: its stored chunks were cut by another wikisearch; rebuild the index with --replace",
            "stale_chunks",
        )
    return chunk


def as_indexed(wiki: Wiki) -> Callable[[Pair], str]:
    """Each pair's chunk as the index embedded it (its header included): what its vector holds."""
    pages = {page.title: (page, chunks) for page, chunks in wiki.pages}

    def text(pair: Pair) -> str:
        page, chunks = pages[pair.page]
        return restored(page, chunks[pair.chunk]).embed_text

    return text


def lead(page: Page, chunks: Sequence[StoredChunk]) -> str:
    """What the model reads of a page's first chunk after its header (empty for a page without chunks)."""
    return read_after_header(page, chunks[0].text) if chunks else ""


def _name(title: str) -> str:
    """What a title names, without a parenthesised qualifier: ``Mercury (planet)`` → ``mercury``."""
    return re.sub(r"\s*\([^()]*\)$", "", title_words(title)).lower()


def title_pairs(wiki: Wiki) -> Iterator[Pair]:
    """The title, as words → the page's lead (its first chunk; a query's description and comments).
    Not a title more than ``MAX_PAGES_A_TITLE_NAMES`` pages share: that is boilerplate, not a name."""
    names = [_name(page.title) for page, _ in wiki.pages]
    shared = Counter(names)
    for (page, chunks), name in zip(wiki.pages, names, strict=True):
        text = lead(page, chunks)
        if _words(text) >= MIN_PASSAGE_WORDS and shared[name] <= MAX_PAGES_A_TITLE_NAMES:
            yield Pair("title", page.title, title_words(page.title), text)


def redirect_pairs(wiki: Wiki) -> Iterator[Pair]:
    """A redirect's title, as words → its target's lead: another name for the same thing.
    The pair belongs to the target page (held back with it)."""
    pages = {page.title: (page, chunks) for page, chunks in wiki.pages}
    for alias, target in wiki.aliases:
        query = title_words(alias)
        text = lead(*pages[target]) if target in pages else ""
        if _words(text) >= MIN_PASSAGE_WORDS and query.lower() != title_words(target).lower():
            yield Pair("redirect", target, query, text)


def _per_page(rule: Callable[[str, Sequence[StoredChunk]], Iterator[Pair]]) -> Callable[[Wiki], Iterator[Pair]]:
    def mine_pages(wiki: Wiki) -> Iterator[Pair]:
        for page, chunks in wiki.pages:
            yield from rule(page.title, chunks)

    return mine_pages


def heading_pairs(title: str, chunks: Sequence[StoredChunk]) -> Iterator[Pair]:
    """Title words > heading → the first chunk of that section."""
    seen: set[str] = set()
    for n, chunk in enumerate(chunks):
        path = chunk.section.split(" > ")[1:] if chunk.section.startswith(title + " > ") else []
        if path and chunk.section not in seen and _words(chunk.text) >= MIN_PASSAGE_WORDS:
            seen.add(chunk.section)
            yield Pair("heading", title, f"{title_words(title)} > {path[-1]}", chunk.text, n)


def cloze_pairs(title: str, chunks: Sequence[StoredChunk]) -> Iterator[Pair]:
    """Inverse cloze: a chunk's first prose sentence → the chunk without it. A sentence
    that starts in lower case is the tail of one cut by a window, not the chunk's own."""
    for n, chunk in enumerate(chunks):
        text = " ".join(chunk.text.split())
        found = [s for s in sentences(chunk.text, title) if s[:1].isupper() and s in text]
        for sentence in found[:1]:  # none: code, a list, facts only
            rest = " ".join(text.replace(sentence, " ").split())  # every time it is said
            if _words(rest) >= MIN_PASSAGE_WORDS:
                yield Pair("cloze", title, sentence, rest, n)


#: The pair kinds, by name; a recipe names the ones it uses.
PAIR_RULES: dict[str, Callable[[Wiki], Iterator[Pair]]] = {
    "title": title_pairs,
    "heading": _per_page(heading_pairs),
    "cloze": _per_page(cloze_pairs),
    "redirect": redirect_pairs,
}


def mine(wiki: Wiki, kinds: Sequence[str] = PAIR_KINDS) -> list[Pair]:
    """Every pair the rules in ``kinds`` find in ``wiki``, kind by kind; a query says
    at least one word (not ``".``, not ``???``)."""
    return [pair for kind in kinds for pair in PAIR_RULES[kind](wiki) if _words(pair.query)]


def held_back(page: str) -> bool:
    """Whether a page's pairs are held back: by a hash of its title, so the split is
    the same on every run and every machine."""
    return int(hashlib.sha256(page.encode("utf-8")).hexdigest()[:8], 16) % 100 < HELD_BACK_PERCENT


def split(pairs: Sequence[Pair], max_pairs: int, seed: int) -> tuple[list[Pair], list[Pair]]:
    """(training pairs: at most ``max_pairs``, sampled in a random order seeded by ``seed``; held-back pairs)."""
    train = [p for p in pairs if not held_back(p.page)]
    kept = [p for p in pairs if held_back(p.page)]
    return random.Random(seed).sample(train, min(len(train), max_pairs)), kept


def within(pairs: Sequence[Pair], tokens: Sequence[int], max_tokens: int) -> list[Pair]:
    """The first pairs whose ``tokens`` add up to at most ``max_tokens``: what a step
    costs grows with its tokens, so this bounds the training time whatever the pages' length."""
    total, kept = 0, []
    for pair, count in zip(pairs, tokens, strict=True):
        total += count
        if total > max_tokens:
            break
        kept.append(pair)
    return kept
