"""Read stage: stream a MediaWiki XML export into ``Page`` values.

The dump is never held in memory: it is decompressed as a stream and parsed
by mwxml (``iterparse``, elements cleared as consumed). Before parsing, the
first bytes are sniffed so that a wrong file gets one clear message
("expected <mediawiki>, saw <html>") rather than a parser traceback.
"""

from __future__ import annotations

import bz2
import gzip
import io
import logging
import lzma
import re
import shutil
import tempfile
import zlib
from collections import Counter
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import IO, Any
from xml.etree.ElementTree import ParseError

import mwxml
import mwxml.errors

from core.categories import categories
from core.documents import Page, SiteInfo, SourceDescription
from core.errors import DumpError, MalformedXML
from core.urls import page_url

from .multistream import ChainedStream, StreamRange, open_range

logger = logging.getLogger(__name__)

SUPPORTED_SCHEMAS = tuple(f"0.{n}" for n in range(3, 12))

#: Subject namespaces that hold no documentation prose: User, File, MediaWiki,
#: Template, Category, Module, Gadget, Gadget definition, Topic.
NON_CONTENT_NAMESPACES = frozenset({2, 6, 8, 10, 14, 828, 2300, 2302, 2600})

_MAGIC = [
    (b"BZh", "bz2"),
    (b"\x1f\x8b", "gzip"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"\x5d\x00\x00", "lzma"),
]
_SUFFIXES = {".bz2": "bz2", ".gz": "gzip", ".xz": "xz", ".7z": "7z", ".lzma": "lzma"}
_SNIFF_BYTES = 64 * 1024
_REDIRECT_RE = re.compile(r"^\s*#REDIRECT\s*:?\s*\[\[([^\]|]+)", re.IGNORECASE)
# Errors a decompressor or the XML parser raises on a broken stream.
_STREAM_ERRORS = (
    ParseError,
    EOFError,
    OSError,
    lzma.LZMAError,
    zlib.error,
    mwxml.errors.MalformedXML,
)


def redirect_target(text: str) -> str | None:
    """The target of a ``#REDIRECT [[Target]]`` page, as written (None if it is not one)."""
    match = _REDIRECT_RE.match(text)
    return match.group(1).strip() if match else None


def is_content_namespace(namespace: int) -> bool:
    """A subject namespace (even, not negative) that is not a technical one."""
    return namespace >= 0 and namespace % 2 == 0 and namespace not in NON_CONTENT_NAMESPACES


def default_namespaces(site: SiteInfo) -> set[int]:
    """Content namespaces of a wiki: its subject namespaces minus technical ones."""
    return {ns for ns in set(site.namespaces) or {0} if is_content_namespace(ns)}


def detect_compression(head: bytes) -> str:
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    return "none"


@contextmanager
def open_dump(path: Path) -> Iterator[IO[bytes]]:
    """Open a dump, decompressing by content (not by file name)."""
    if not path.exists():
        raise DumpError(f"{path}: no such file")
    if path.is_dir():
        raise DumpError(f"{path}: is a directory, expected a dump file")
    with path.open("rb") as raw:
        kind = detect_compression(raw.read(8))
    expected = _SUFFIXES.get(path.suffix.lower())
    if expected and kind != expected:
        raise DumpError(f"{path}: named {path.suffix} but is not a {expected} file")
    if kind == "7z":
        with _extract_7z(path) as inner:
            yield inner
        return
    opener = {"bz2": bz2.open, "gzip": gzip.open, "xz": lzma.open, "lzma": lzma.open}.get(kind, open)
    with opener(path, "rb") as stream:  # type: ignore[operator]
        yield stream


@contextmanager
def _extract_7z(path: Path) -> Iterator[IO[bytes]]:
    """py7zr cannot stream a member, so the XML goes to a temporary file, not memory."""
    import py7zr

    tmp = Path(tempfile.mkdtemp(prefix="wikisearch-7z-"))
    try:
        try:
            with py7zr.SevenZipFile(path) as archive:
                names = [n for n in archive.getnames() if not n.endswith("/")]
                if not names:
                    raise DumpError(f"{path}: the 7z archive is empty")
                archive.extract(path=tmp, targets=[names[0]])
        except (py7zr.exceptions.ArchiveError, EOFError, OSError, lzma.LZMAError) as exc:
            raise DumpError(f"{path}: broken 7z archive ({exc})") from None
        with (tmp / names[0]).open("rb") as inner:
            yield inner
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def sniff(path: Path, head: bytes) -> str:
    """Check that the bytes start a MediaWiki export; return its schema version."""
    if not head.strip():
        raise DumpError(f"{path}: the dump is empty")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = head.decode("utf-16", errors="ignore")
    elif head[:1] == b"\x00":
        text = head.decode("utf-16-be", errors="ignore")
    elif head[1:2] == b"\x00":
        text = head.decode("utf-16-le", errors="ignore")
    else:
        text = head.decode("utf-8", errors="replace")
    body = re.sub(r"<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>]*>", "", text, flags=re.DOTALL).lstrip("\ufeff \t\r\n")
    match = re.match(r"<([A-Za-z_][\w:.-]*)([^>]*)", body)
    if not match:
        saw = body[:20].replace("\n", " ") or "binary data"
        raise MalformedXML(f"{path}: not a MediaWiki XML export: expected <mediawiki>, saw {saw!r}")
    if match.group(1) != "mediawiki":
        raise MalformedXML(f"{path}: not a MediaWiki XML export: expected <mediawiki>, saw <{match.group(1)}>")
    version = re.search(r'\bversion="([^"]+)"', match.group(2))
    xmlns = re.search(r'xmlns="[^"]*export-([\d.]+)/?"', match.group(2))
    schema = (version or xmlns).group(1) if (version or xmlns) else ""  # type: ignore[union-attr]
    if schema not in SUPPORTED_SCHEMAS:
        raise DumpError(
            f"{path}: unknown export schema {schema or '(none)'!r}; "
            f"supported: {SUPPORTED_SCHEMAS[0]}–{SUPPORTED_SCHEMAS[-1]}"
        )
    return schema


class DumpSource:
    """A MediaWiki XML dump as a source of ``Page`` values (latest revision each).

    Redirect pages are yielded with ``redirect`` set; the builder turns them
    into aliases of their target. Pages outside ``namespaces`` and pages with
    no text are skipped and counted in ``skipped`` by reason.
    """

    def __init__(
        self,
        path: str | Path,
        namespaces: set[int] | None = None,
        max_pages: int | None = None,
        base_url: str | None = None,
        part: StreamRange | None = None,
    ):
        self.path = Path(path)
        self.part = part
        self.max_pages = max_pages
        self.base_url = base_url
        self.skip_reasons: Counter[str] = Counter()
        with self._open() as stream:
            head = self._read_head(stream)
            self.schema = sniff(self.path, head)
            self.site = self._read_siteinfo(stream, head)
        self.namespaces = set(namespaces) if namespaces is not None else default_namespaces(self.site)

    def describe(self) -> SourceDescription:
        return SourceDescription(
            "mediawiki-dump", self.path, self.schema, frozenset(self.namespaces), max_pages=self.max_pages
        )

    def _open(self) -> AbstractContextManager[IO[bytes]]:
        """The whole dump, or only the streams of ``part``."""
        return open_dump(self.path) if self.part is None else open_range(self.path, self.part)

    def _read_head(self, stream: IO[bytes]) -> bytes:
        try:
            return stream.read(_SNIFF_BYTES)
        except _STREAM_ERRORS as exc:
            raise DumpError(f"{self.path}: dump is truncated or corrupt: {_describe(exc)}") from None

    def _read_siteinfo(self, stream: IO[bytes], head: bytes) -> SiteInfo:
        try:
            dump = mwxml.Dump.from_file(_replayed(head, stream))
        except _STREAM_ERRORS as exc:
            raise DumpError(f"{self.path}: broken dump header: {_describe(exc)}") from None
        info = dump.site_info
        namespaces = {ns.id: ns.name or "" for ns in (info.namespaces or [])}
        if not info.base and not self.base_url:
            logger.warning("%s has no <siteinfo><base>: results will have no URL (use --base-url)", self.path)
        return SiteInfo(
            sitename=info.name or "",
            dbname=info.dbname or "",
            base=self.base_url or info.base or "",
            generator=info.generator or "",
            schema=self.schema,
            namespaces=namespaces,
        )

    def __iter__(self) -> Iterator[Page]:
        self.skip_reasons.clear()
        yielded = 0
        last_title = None
        with self._open() as raw:
            try:
                head = raw.read(_SNIFF_BYTES)
                stream = _replayed(head, raw)
                dump = mwxml.Dump.from_file(stream)
                for page in dump:
                    last_title = page.title
                    result = self._latest(page)
                    if result is not None:
                        yield result
                        if result.redirect is None:
                            yielded += 1
                            if self.max_pages is not None and yielded >= self.max_pages:
                                return
            except _STREAM_ERRORS as exc:
                where = f" after page {last_title!r}" if last_title else ""
                raise DumpError(f"{self.path}: dump is truncated or corrupt{where}: {_describe(exc)}") from None

    def _latest(self, page: Any) -> Page | None:
        title = str(page.title)
        namespace = int(page.namespace) if page.namespace is not None else self._namespace_of(title)
        if namespace not in self.namespaces:
            self.skip_reasons["namespace"] += 1
            for _ in page:  # consume the revisions so the stream advances
                pass
            return None
        latest = None
        for rev in page:
            if latest is None or (str(rev.timestamp), rev.id) >= (str(latest.timestamp), latest.id):
                latest = rev
        if latest is None or not (latest.text or "").strip():
            self.skip_reasons["no text"] += 1
            logger.warning("skipped page %r: no text", title)
            return None
        text = latest.text
        written = redirect_target(text)  # a dump's <redirect title=…> drops the section: the text keeps it
        redirect = written if written and "#" in written else page.redirect or written
        return Page(
            title=title,
            namespace=namespace,
            page_id=int(page.id),
            rev_id=int(latest.id),
            timestamp=str(latest.timestamp),
            text=text,
            url=page_url(self.site.article_path, title),
            redirect=str(redirect).replace("_", " ") if redirect else None,
            categories=categories(text, self.site.category_names),
        )

    def _namespace_of(self, title: str) -> int:
        """Schema 0.3 has no <ns>: infer it from the title's prefix."""
        if ":" in title:
            prefix = title.split(":", 1)[0]
            for ns_id, name in self.site.namespaces.items():
                if name and name == prefix:
                    return ns_id
        return 0


def _replayed(head: bytes, rest: IO[bytes]) -> IO[bytes]:
    """The stream again from its start, after its first bytes were read for sniffing."""
    return io.BufferedReader(ChainedStream(io.BytesIO(_ensure_siteinfo(head)), rest))


def _ensure_siteinfo(head: bytes) -> bytes:
    """Some real dump fragments lack <siteinfo>, which mwxml requires: add an empty one."""
    root = head.find(b"<mediawiki")
    page = head.find(b"<page")
    if root < 0 or b"<siteinfo" in head[: page if page >= 0 else len(head)]:
        return head
    end = head.find(b">", root) + 1
    return head[:end] + b"<siteinfo></siteinfo>" + head[end:] if end > 0 else head


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
