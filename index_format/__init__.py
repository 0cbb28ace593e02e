"""The on-disk index format: one package owns it.

An index is a directory (a symlink to its current version, see ``versions``)::

    manifest.json   what the index is (``manifest.Manifest``): format version,
                    model, source, chunking, counts, FAISS type, build report
    vectors.faiss   normalised vectors; FAISS id == chunks.id in SQLite; exact
                    (IndexFlatIP) up to ``Settings.flat_max_chunks``, then HNSW,
                    then IVF-PQ re-ranked exactly (``vector_kinds.choose_vector_index``)
    store.sqlite    pages, chunks, categories, aliases, sentences, vocabulary, FTS5 tables (``schema``)
    sentences.f16   the answer line's sentence vectors (float16; row = sentences.id)
    lexical.tantivy/  a large index's lexical leg (``lexical``); FTS5 below that
    encoder.onnx, tokenizer.json   the query encoder (optional; in an index adapted on
                    the query side, the adapted model's export)
    model/          the adapted query reader, in an index ``wikisearch adapt`` adapted

``reader`` opens one, ``writer`` writes a new version and swaps it in.
"""

from .manifest import (
    FORMAT_VERSION,
    MODEL,
    Adaptation,
    AdaptRecipe,
    BuildReport,
    Chunking,
    Counts,
    Manifest,
    SiteMeta,
    SourceInfo,
    SyncState,
    arithmetic,
    as_dict,
    from_dict,
    read_manifest,
)
from .reader import Index, NotAnIndex, existing_manifest, open_index
from .schema import ChunkRow, StoredChunk
from .writer import IndexWriter, publish_version, relabel_version, rewrite_manifest

__all__ = [
    "FORMAT_VERSION",
    "MODEL",
    "Adaptation",
    "AdaptRecipe",
    "BuildReport",
    "ChunkRow",
    "Chunking",
    "Counts",
    "Index",
    "IndexWriter",
    "Manifest",
    "NotAnIndex",
    "SiteMeta",
    "SourceInfo",
    "StoredChunk",
    "SyncState",
    "arithmetic",
    "as_dict",
    "publish_version",
    "relabel_version",
    "rewrite_manifest",
    "from_dict",
    "existing_manifest",
    "open_index",
    "read_manifest",
]
