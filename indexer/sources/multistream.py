"""Wikimedia's multistream dumps, read a byte range at a time.

A ``…-multistream.xml.bz2`` dump is many bz2 streams: the first holds
``<mediawiki>`` and ``<siteinfo>``, each later one 100 pages. Beside it,
``…-multistream-index.txt.bz2`` lists ``offset:page_id:title`` for every
page, the offset being its stream's first byte. So a Spark task can read a
range of whole streams without decompressing what comes before it: the
driver reads the header stream once and sends it with every range, and the
task parses header + its streams + ``</mediawiki>`` as a complete export.
"""

from __future__ import annotations

import bz2
import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from core.errors import DumpError

logger = logging.getLogger(__name__)

_FOOTER = b"</mediawiki>\n"


@dataclass(frozen=True)
class StreamRange:
    """Whole bz2 streams of a multistream dump, bytes ``start`` to ``end``, and the dump's header."""

    start: int
    end: int
    #: The decompressed first stream: ``<mediawiki …>`` and ``<siteinfo>``.
    header: bytes
    #: Whether the range runs to the end of the file (whose last stream closes ``</mediawiki>``).
    last: bool


class ChainedStream(io.RawIOBase):
    """Several binary streams read as one, in order."""

    def __init__(self, *parts: IO[bytes]):
        self._parts = list(parts)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while self._parts:
            data = self._parts[0].read(len(buffer))
            if data:
                buffer[: len(data)] = data
                return len(data)
            self._parts.pop(0)
        return 0


class _Window(io.RawIOBase):
    """Bytes ``start`` to ``end`` of an open file."""

    def __init__(self, raw: IO[bytes], start: int, end: int):
        raw.seek(start)
        self._raw = raw
        self._left = end - start

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._raw.read(min(len(buffer), self._left))
        self._left -= len(data)
        buffer[: len(data)] = data
        return len(data)


def index_of(dump: Path) -> Path | None:
    """The index Wikimedia publishes beside a multistream dump, found by its name
    (``…-multistream.xml.bz2`` → ``…-multistream-index.txt.bz2``;
    ``…-multistream1.xml-p1p41242.bz2`` → ``…-multistream-index1.txt-p1p41242.bz2``)."""
    name = dump.name
    if "multistream" not in name or ".xml" not in name:
        return None
    candidate = dump.with_name(name.replace("multistream", "multistream-index", 1).replace(".xml", ".txt", 1))
    return candidate if candidate.is_file() else None


def stream_offsets(index: Path) -> list[int]:
    """The distinct stream offsets an index file names, in order."""
    offsets: set[int] = set()
    with index.open("rb") as raw:
        compressed = raw.read(3) == b"BZh"
    opener = bz2.open if compressed else open
    try:
        with opener(index, "rb") as lines:
            for number, line in enumerate(lines, 1):
                offset, sep, _ = line.partition(b":")
                if not line.strip():
                    continue
                if not sep or not offset.isdigit():
                    raise DumpError(f"{index}: line {number} is not offset:page_id:title", "bad_multistream_index")
                offsets.add(int(offset))
    except (OSError, EOFError) as exc:
        raise DumpError(f"{index}: cannot read the multistream index ({exc})", "bad_multistream_index") from None
    return sorted(offsets)


def plan(dump: Path, index: Path, task_bytes: int) -> list[StreamRange]:
    """Cut a multistream dump into ranges of whole streams of about ``task_bytes`` each."""
    offsets = stream_offsets(index)
    size = dump.stat().st_size
    if not offsets or offsets[0] == 0 or offsets[-1] >= size:
        raise DumpError(
            f"{index}: does not index {dump.name} as Wikimedia writes it (header stream first, "
            f"then pages; offsets within the file's {size} bytes)",
            "bad_multistream_index",
        )
    with dump.open("rb") as raw:
        head = raw.read(offsets[0])
    try:
        header = bz2.decompress(head)
    except (OSError, ValueError) as exc:
        raise DumpError(f"{dump}: its first stream is not bz2 ({exc})", "bad_multistream_index") from None
    if b"<page" in header or b"<mediawiki" not in header:
        raise DumpError(f"{dump}: its first stream is not the <mediawiki> header alone", "bad_multistream_index")
    starts = [offsets[0]]
    for offset in offsets[1:]:
        if offset - starts[-1] >= task_bytes:
            starts.append(offset)
    ends = [*starts[1:], size]
    ranges = [StreamRange(a, b, header, b == size) for a, b in zip(starts, ends, strict=True)]
    logger.info("%s: %d streams in %d ranges (index %s)", dump.name, len(offsets), len(ranges), index.name)
    return ranges


@contextmanager
def open_range(path: Path, part: StreamRange) -> Iterator[IO[bytes]]:
    """The XML of one range, as a complete export: header, its pages, footer."""
    with path.open("rb") as raw:
        pages = bz2.BZ2File(io.BufferedReader(_Window(raw, part.start, part.end)))
        tail = io.BytesIO(b"" if part.last else _FOOTER)
        yield io.BufferedReader(ChainedStream(io.BytesIO(part.header), pages, tail))
