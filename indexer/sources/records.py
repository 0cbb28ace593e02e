"""Source: a collection of records (JSON Lines or CSV, plain or compressed).

A field mapping says which record field is the id, title, description, code
and URL, so a Quarry export, a file of SPARQL queries or any similar
collection is indexed without code changes. Presets name the usual mappings.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.documents import Action, Page, SiteInfo, SourceDescription
from core.errors import DumpError

from .dump import open_dump
from .query_code import QUARRY, QUARRY_QUERY_URL, WDQS, code_comments, try_it_url

logger = logging.getLogger(__name__)

ROLES = ("id", "title", "description", "code", "url", "context")
_TITLE_COMMENT = re.compile(r"^\s*#\s*(?:title\s*:\s*)?(.+)$", re.IGNORECASE)


@dataclass(frozen=True)
class FieldMap:
    """Record fields for each role (the first present one wins), and how to link."""

    fields: dict[str, tuple[str, ...]]
    code_language: str = ""
    url_template: str = ""  # "{id}" is replaced; used when the record has no URL
    action: str = ""  # "quarry" or "wdqs": what the action link opens
    name: str = "custom"


PRESETS: dict[str, FieldMap] = {
    # Quarry (quarry.wmcloud.org): one record per query.
    "quarry": FieldMap(
        fields={
            "id": ("id", "query_id"),
            "title": ("title",),
            "description": ("description",),
            "code": ("sql", "query", "latest_sql"),
            "url": ("url",),
            "context": ("database", "db"),
        },
        code_language="sql",
        url_template=QUARRY_QUERY_URL,
        action="quarry",
        name="quarry",
    ),
    # SPARQL query records: the examples (query_id, title, description, url, sparql)
    # or the crawled collection (id, comment_en, sparql, source_pages).
    "sparql": FieldMap(
        fields={
            "id": ("query_id", "id"),
            "title": ("title", "comment_en"),
            "description": ("description", "comment_en"),
            "code": ("sparql", "query"),
            "url": ("url", "source_pages"),
        },
        code_language="sparql",
        action="wdqs",
        name="sparql",
    ),
}


_ACTIONS: dict[str, Action] = {"quarry": QUARRY, "wdqs": WDQS}


def mapping_from(preset: str | None, overrides: Mapping[str, str]) -> FieldMap:
    """A preset (or nothing) with ``--field role=name`` overrides on top."""
    if preset is not None and preset not in PRESETS:
        raise DumpError(f"unknown preset {preset!r}; known: {', '.join(PRESETS)}")
    base = PRESETS[preset] if preset else FieldMap(fields={role: (role,) for role in ROLES})
    fields = {role: base.fields.get(role, ()) for role in ROLES}
    for role, name in overrides.items():
        if role not in ROLES:
            raise DumpError(f"unknown field role {role!r}; roles are {', '.join(ROLES)}")
        fields[role] = (name,)
    return FieldMap(fields, base.code_language, base.url_template, base.action, base.name)


def _first(record: Mapping[str, Any], names: tuple[str, ...]) -> str:
    for name in names:
        value = record.get(name)
        if isinstance(value, list):
            value = next((v for v in value if v), None)
        if value is not None and str(value).strip():
            return str(value).strip()
    return ""


class RecordsSource:
    """Records as documents. Records without a usable title or text are skipped and counted."""

    def __init__(self, path: str | Path, mapping: FieldMap, max_records: int | None = None):
        self.path = Path(path)
        self.mapping = mapping
        self.max_records = max_records
        self.skip_reasons: Counter[str] = Counter()
        self.schema = "records"
        self.site = SiteInfo(sitename=self.path.name)
        with open_dump(self.path) as stream:
            head = stream.read(4096)
        if not head.strip():
            raise DumpError(f"{self.path}: the file is empty")
        text = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
        self.format = "jsonl" if text.startswith("{") else "csv"
        if self.format == "csv" and "," not in text.splitlines()[0] and "\t" not in text.splitlines()[0]:
            raise DumpError(f"{self.path}: not JSON Lines (expected '{{' at the start) nor CSV with a header row")

    def describe(self) -> SourceDescription:
        preset = self.mapping.name if self.mapping.name in PRESETS else None
        return SourceDescription(
            "records",
            self.path,
            self.schema,
            preset=preset,
            max_pages=self.max_records,
            action=_ACTIONS.get(self.mapping.action),
        )

    def _records(self) -> Iterator[tuple[int, dict[str, Any] | None]]:
        with open_dump(self.path) as raw:
            stream = io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="")
            if self.format == "csv":
                sample = stream.readline()
                dialect = csv.excel_tab if "\t" in sample and "," not in sample else csv.excel
                reader = csv.DictReader([sample], dialect=dialect)
                header = reader.fieldnames
                for number, row in enumerate(csv.DictReader(stream, fieldnames=header, dialect=dialect), start=2):
                    yield number, dict(row)
                return
            for number, line in enumerate(stream, start=1):
                if not line.strip():
                    continue
                try:
                    value = json.loads(line)
                except ValueError:
                    yield number, None
                    continue
                yield number, value if isinstance(value, dict) else None

    def __iter__(self) -> Iterator[Page]:
        self.skip_reasons.clear()
        fields = self.mapping.fields
        titles: Counter[str] = Counter()
        count = 0
        try:
            for number, record in self._records():
                if record is None:
                    self.skip_reasons["not a JSON object"] += 1
                    logger.warning("%s:%d: skipped: not a JSON object", self.path, number)
                    continue
                page = self._page(record, number, fields, titles)
                if page is not None:
                    yield page
                    count += 1
                    if self.max_records is not None and count >= self.max_records:
                        return
        except (OSError, EOFError, UnicodeError, csv.Error) as exc:
            raise DumpError(f"{self.path}: cannot read records: {exc}") from None

    def _page(
        self, record: dict[str, Any], number: int, fields: dict[str, tuple[str, ...]], titles: Counter[str]
    ) -> Page | None:
        rid = _first(record, fields["id"]) or str(number)
        code = _first(record, fields["code"])
        description = _first(record, fields["description"])
        title = _first(record, fields["title"]).splitlines()[0].strip() if _first(record, fields["title"]) else ""
        if not title and code:
            title = next((m.group(1).strip() for m in map(_TITLE_COMMENT.match, code.splitlines()) if m), "")
        title = title[:120]
        if not title:
            self.skip_reasons["no usable title"] += 1
            logger.info("record %s skipped: no usable title", rid)
            return None
        if not (description or code):
            self.skip_reasons["no text"] += 1
            logger.info("record %s (%r) skipped: no text", rid, title)
            return None
        titles[title] += 1
        if titles[title] > 1:
            title = f"{title} ({rid})"
        url = _first(record, fields["url"]) or (
            self.mapping.url_template.format(id=rid) if self.mapping.url_template else ""
        )
        action = ""
        if code and self.mapping.action == "wdqs":
            action = try_it_url(code)
        elif self.mapping.action == "quarry":
            action = QUARRY_QUERY_URL.format(id=rid)
        context = _first(record, fields["context"])
        prose = description if description != title else ""
        if context:
            prose = f"{prose}\n{fields['context'][0]}: {context}".strip()
        return Page(
            title=title,
            namespace=0,
            page_id=int(rid) if rid.isdigit() else number,
            rev_id=0,
            timestamp="",
            text=prose if code else prose or title,
            url=url,
            markup="plain",
            code=code,
            code_language=self.mapping.code_language,
            code_notes=code_comments(code, self.mapping.code_language) if code else "",
            action_url=action,
        )
