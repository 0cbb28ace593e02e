"""Named indexes and the models that query them.

The web app and the CLI both search through a Catalog: it opens indexes
through the index format module and loads each model once, however many
indexes share it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from core.errors import IndexFormatError, QueryError, UnknownIndex, WikisearchError
from core.models import REGISTRY, Embedder, load_embedder
from core.settings import Settings
from index_format import Index, as_dict, open_index

from .complete import Completion, complete
from .filters import Filters
from .floor import Floor
from .ranking import Ranking
from .search import NO_FILTERS, SearchResponse, search

logger = logging.getLogger(__name__)

#: What the CLI and the app say when no index is named.
NO_INDEX = "no index to serve: give --index NAME=DIR or set WIKISEARCH_INDEXES"


def parse_index_specs(specs: Iterable[str]) -> dict[str, Path]:
    """``name=dir`` or a bare ``dir`` (named after its last component), in order."""
    result: dict[str, Path] = {}
    for raw in specs:
        for spec in raw.split(","):
            spec = spec.strip()
            if not spec:
                continue
            name, sep, directory = spec.partition("=")
            if not sep:
                directory, name = spec, Path(spec.rstrip("/")).name
            name = name.strip()
            if not name or not directory.strip():
                raise WikisearchError(f"bad index spec {spec!r}: expected NAME=DIR or DIR")
            if name in result:
                raise WikisearchError(f"index name {name!r} given twice")
            result[name] = Path(directory.strip())
    return result


@dataclass(frozen=True)
class Served:
    name: str
    index: Index
    embedder: Embedder


class Catalog:
    """Named indexes, kept up to date: when a rebuild swaps an index in, the
    next request (checked at most every ``reload_interval`` seconds) serves
    the new one; if the new one does not load, the old one stays served."""

    def __init__(
        self,
        specs: dict[str, Path],
        settings: Settings,
        embedders: dict[str, Embedder] | None = None,
        reload_interval: float = 1.0,
    ):
        if not specs:
            raise WikisearchError(NO_INDEX, "no_index")
        self.settings = settings
        self.specs = dict(specs)
        self.reload_interval = reload_interval
        self._embedders: dict[str, Embedder] = dict(embedders or {})
        self._lock = threading.Lock()
        self._reload_lock = threading.Lock()
        self._checked = time.monotonic()
        self._refused: set[Path] = set()
        self.served: dict[str, Served] = {}
        for name, path in specs.items():
            index = open_index(path)
            self.served[name] = Served(name, index, self._embedder_for(index))
            logger.info("serving index %s from %s (%s chunks)", name, path, index.manifest.counts.chunks)

    def refresh(self, force: bool = False) -> list[str]:
        """Load indexes whose directory now names a new version; return their names."""
        now = time.monotonic()
        if not force and now - self._checked < self.reload_interval:
            return []
        if not self._reload_lock.acquire(blocking=force):
            return []  # another thread is checking right now
        try:
            self._checked = now
            return [name for name, path in self.specs.items() if self._reload(name, path)]
        finally:
            self._reload_lock.release()

    def _reload(self, name: str, path: Path) -> bool:
        try:
            target = path.resolve(strict=True)
        except OSError:
            return False
        current = self.served[name]
        if target == current.index.version_dir or target in self._refused:
            return False
        try:
            index = Index.open(path)
            served = Served(name, index, self._embedder_for(index))
        except WikisearchError as exc:
            self._refused.add(target)
            logger.error(
                "index %s: new version %s refused, still serving %s: %s",
                name,
                target.name,
                current.index.version_dir.name,
                exc,
            )
            return False
        self.served[name] = served
        logger.info("index %s: now serving %s (%s chunks)", name, target.name, index.manifest.counts.chunks)
        return True

    def _embedder_for(self, index: Index) -> Embedder:
        model, encoder = index.manifest.model, index.manifest.encoder
        if index.manifest.queries_adapted and encoder is None:
            raise IndexFormatError(f"{index.path}: adapted to read queries, but no encoder for them is stored")
        with self._lock:
            # An index adapted on the query side reads queries with its encoder, never with its model.
            if encoder and (model.name not in self._embedders or index.manifest.queries_adapted):
                # Queries through the ONNX export stored with the index: no torch in this process.
                key = f"onnx:{encoder.onnx_sha256}"
                if key not in self._embedders:
                    from core.models import MAX_SEQ_LENGTH
                    from core.onnx_encoder import OnnxEncoder

                    dims = model.dimensions or index.vectors.d
                    seq = model.max_seq_length or MAX_SEQ_LENGTH
                    self._embedders[key] = OnnxEncoder(index.version_dir, encoder, seq, dims, self.settings.threads)
            else:
                key = model.name
                if key not in self._embedders:
                    allow = self.settings.allow_unvetted_model or not model.vetted
                    self._embedders[key] = load_embedder(model.name, allow, self.settings.threads)
            embedder = self._embedders[key]
        if getattr(embedder, "dimensions", None) != index.vectors.d:
            raise IndexFormatError(
                f"{index.path}: vectors have {index.vectors.d} dimensions, model {model.name} makes other"
            )
        return embedder

    @property
    def names(self) -> list[str]:
        return list(self.served)

    @property
    def default(self) -> str:
        return self.names[0]

    def get(self, name: str | None) -> Served:
        self.refresh()
        key = name or self.default
        if key not in self.served:
            raise UnknownIndex(f"unknown index {key!r}; served: {', '.join(self.names)}")
        return self.served[key]

    def search(
        self,
        name: str | None,
        query: str,
        limit: int = 10,
        offset: int = 0,
        mode: str | None = None,
        filters: Filters = NO_FILTERS,
        sort: str = "relevance",
        respell: bool = True,
    ) -> SearchResponse:
        served = self.get(name)
        return search(
            served.index,
            served.embedder,
            query,
            limit=limit,
            offset=offset,
            ranking=Ranking.from_settings(self.settings, mode),
            settings=self.settings,
            filters=filters,
            sort=sort,
            respell=respell,
        )

    def complete(self, name: str | None, typed: str, limit: int) -> list[Completion]:
        """Title completion (``query.complete``) in the index named ``name``."""
        if not 1 <= limit <= self.settings.max_limit:
            raise QueryError(f"limit must be between 1 and {self.settings.max_limit}", "bad_limit")
        served = self.get(name)
        return complete(served.index, served.embedder, typed, limit, self.settings)

    def describe(self, name: str) -> dict[str, Any]:
        """What /about and /api/v1/indexes show of one index: model provenance, source, counts."""
        manifest = self.get(name).index.manifest
        adaptation = manifest.adaptation
        card = REGISTRY.get(adaptation.base.name if adaptation else manifest.model.name)
        return {
            "name": name,
            "model": as_dict(manifest.model),
            "card": card.as_dict() if card else None,
            "source": as_dict(manifest.source),
            "counts": as_dict(manifest.counts),
            "created_at": manifest.created_at,
            "build": as_dict(manifest.build),
            "embedded_with": as_dict(manifest.embedded_with) if manifest.embedded_with else {},
            "vector_index": manifest.index.faiss,
            "adaptation": as_dict(adaptation) if adaptation else None,
            "sync": as_dict(manifest.sync) if manifest.sync else None,
            "floor": asdict(floor) if (floor := Floor.of_index(self.get(name).index)) else None,
        }

    def close(self) -> None:
        for served in self.served.values():
            served.index.close()
