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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import IndexFormatError, WikisearchError
from .index_format import Index, open_index
from .models import REGISTRY, Embedder, load_embedder
from .search import SearchResponse, search
from .settings import Settings

logger = logging.getLogger(__name__)


class UnknownIndex(WikisearchError):
    """A request named an index that is not served."""


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
            raise WikisearchError("no index to serve: give --index NAME=DIR or set WIKISEARCH_INDEXES")
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
            logger.info("serving index %s from %s (%s chunks)", name, path, index.counts.get("chunks"))

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
        logger.info("index %s: now serving %s (%s chunks)", name, target.name, index.counts.get("chunks"))
        return True

    def _embedder_for(self, index: Index) -> Embedder:
        model = index.manifest["model"]
        name = str(model["name"])
        encoder = index.manifest.get("encoder")
        with self._lock:
            if encoder and name not in self._embedders:
                # Queries through the ONNX export stored with the index: no torch in this process.
                key = f"onnx:{encoder['onnx_sha256']}"
                if key not in self._embedders:
                    from .onnx_encoder import OnnxEncoder

                    dims = int(model.get("dimensions") or index.vectors.d)
                    seq = int(model.get("max_seq_length") or 256)
                    self._embedders[key] = OnnxEncoder(index.version_dir, encoder, seq, dims, self.settings.threads)
            else:
                key = name
                if key not in self._embedders:
                    allow = self.settings.allow_unvetted_model or not model.get("vetted", True)
                    self._embedders[key] = load_embedder(name, allow, self.settings.threads)
            embedder = self._embedders[key]
        if getattr(embedder, "dimensions", None) != index.vectors.d:
            raise IndexFormatError(f"{index.path}: vectors have {index.vectors.d} dimensions, model {name} makes other")
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
        self, name: str | None, query: str, limit: int = 10, offset: int = 0, mode: str | None = None
    ) -> SearchResponse:
        served = self.get(name)
        return search(
            served.index,
            served.embedder,
            query,
            limit,
            offset,
            self.settings.max_query_chars,
            self.settings.max_limit,
            self.settings.ranking(mode),
        )

    def describe(self, name: str) -> dict[str, Any]:
        """What /about shows for one index: model provenance, source, counts."""
        served = self.get(name)
        manifest = served.index.manifest
        model = dict(manifest.get("model", {}))
        card = REGISTRY.get(str(model.get("name")))
        return {
            "name": name,
            "model": model,
            "card": card.as_dict() if card else None,
            "source": manifest.get("source", {}),
            "counts": manifest.get("counts", {}),
            "created_at": manifest.get("created_at"),
            "build": manifest.get("build", {}),
            "embedded_with": manifest.get("embedded_with", {}),
            "vector_index": manifest.get("index", {}).get("faiss", "IndexFlatIP"),
        }

    def close(self) -> None:
        for served in self.served.values():
            served.index.close()
