"""URLs exactly as MediaWiki builds them."""

from urllib.parse import quote

# wfUrlencode leaves these unescaped in titles.
_TITLE_SAFE = ";@$!*(),/~:"
_FRAGMENT_SAFE = _TITLE_SAFE + ".-_'"


def page_url(article_path: str, title: str) -> str:
    if not article_path:
        return ""
    return article_path + quote(title.replace(" ", "_"), safe=_TITLE_SAFE)


def with_anchor(url: str, anchor: str) -> str:
    """``Page#Section`` link; the anchor is MediaWiki's HTML5 heading id."""
    if not url or not anchor:
        return url
    return url + "#" + quote(anchor, safe=_FRAGMENT_SAFE)


def retitle(url: str, title: str, other: str) -> str:
    """The URL of page ``other`` on the wiki where ``url`` is ``title``'s (a redirect's own URL
    from its target's); ``url`` itself when it does not end with ``title``."""
    quoted = page_url("/", title)[1:]
    if not quoted or not url.endswith(quoted):
        return url
    return page_url(url[: -len(quoted)], other)
