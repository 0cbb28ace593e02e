"""The kinds of vector index a version may hold: exact (flat), HNSW, IVF-PQ; which one
``auto`` picks for an index's size, and how each is made from the flat vectors."""

from __future__ import annotations

from typing import Any

import faiss
import numpy as np

from core.errors import IndexFormatError
from core.settings import VECTOR_INDEXES

#: HNSW graph degree and breadths (measured: docs/experiments/performance.md).
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 200
HNSW_EF_SEARCH = 256
#: IVF-PQ: dimensions per PQ sub-vector (8 bits each), inverted lists per sqrt(chunks),
#: training points per list, lists probed, and candidates re-ranked exactly per result
#: asked for (the dense leg asks for 100: 1,000 re-ranked). Measured at 1 M chunks: docs/guides/scale.md.
IVFPQ_DIMS_PER_CODE = 8
IVFPQ_LISTS_PER_SQRT = 4
IVFPQ_TRAIN_PER_LIST = 64
IVFPQ_NPROBE = 128
IVFPQ_K_FACTOR = 10
#: Fewest vectors a PQ codebook (256 centroids per sub-vector) is trained on.
IVFPQ_MIN_CHUNKS = 256
#: Training points per k-means centroid below which FAISS warns (its min_points_per_centroid).
POINTS_PER_CENTROID = 39


def hnsw_bytes(chunks: int, dimensions: int) -> int:
    """What an HNSW index of this size takes in memory: float32 vectors and the graph's base layer."""
    return chunks * (4 * dimensions + 2 * HNSW_M * 4 + 16)


def choose_vector_index(kind: str, chunks: int, dimensions: int, flat_max: int, memory_mb: int) -> str:
    """flat, hnsw or ivfpq: what ``auto`` picks for an index of ``chunks`` chunks —
    exact up to ``flat_max``, HNSW while it fits ``memory_mb``, IVF-PQ beyond."""
    if kind not in VECTOR_INDEXES:
        raise IndexFormatError(f"vector index must be one of {', '.join(VECTOR_INDEXES)}, not {kind!r}")
    if kind == "auto":
        if chunks <= flat_max:
            return "flat"
        return "hnsw" if hnsw_bytes(chunks, dimensions) <= memory_mb * 2**20 else "ivfpq"
    return kind


def to_hnsw(flat: Any) -> Any:
    """An HNSW copy of a flat index; ids stay the same (0..n-1 in order)."""
    hnsw = faiss.IndexHNSWFlat(flat.d, HNSW_M, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    hnsw.hnsw.efSearch = HNSW_EF_SEARCH
    _add_all(hnsw, flat)
    return hnsw


def _add_all(index: Any, flat: Any, step: int = 65_536) -> None:
    """Add a flat index's vectors to ``index`` in id order, a slice at a time."""
    for start in range(0, flat.ntotal, step):
        index.add(flat.reconstruct_n(start, min(step, flat.ntotal - start)))


def ivfpq_shape(chunks: int, dimensions: int) -> tuple[int, int]:
    """(inverted lists, PQ sub-vectors) for an index of this size."""
    lists = max(1, min(round(IVFPQ_LISTS_PER_SQRT * chunks**0.5), chunks // POINTS_PER_CENTROID))
    codes = max(m for m in range(1, dimensions // IVFPQ_DIMS_PER_CODE + 1) if dimensions % m == 0)
    return lists, codes


def to_ivfpq(flat: Any) -> Any:
    """IVF-PQ over a flat index: compressed codes find candidates, the flat vectors
    (kept, memory-mapped when served) re-rank them exactly and give rebuilds their
    vectors back unchanged. Trained on a seeded sample, so a rebuild is repeatable."""
    n, dims = flat.ntotal, flat.d
    lists, codes = ivfpq_shape(n, dims)
    ivf = faiss.IndexIVFPQ(faiss.IndexFlatIP(dims), dims, lists, codes, 8, faiss.METRIC_INNER_PRODUCT)
    ivf.cp.min_points_per_centroid = 1  # small indexes train on what they have, without FAISS's warning
    ivf.pq.cp.min_points_per_centroid = 1
    sample = min(n, max(IVFPQ_TRAIN_PER_LIST * lists, IVFPQ_MIN_CHUNKS * POINTS_PER_CENTROID))
    ids = np.sort(np.random.default_rng(0).choice(n, sample, replace=False)).astype(np.int64)
    ivf.train(flat.reconstruct_batch(ids))
    _add_all(ivf, flat)
    ivf.nprobe = min(IVFPQ_NPROBE, lists)
    refined = faiss.IndexRefine(ivf, flat)
    refined.k_factor = IVFPQ_K_FACTOR
    return refined
