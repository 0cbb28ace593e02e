"""Content hashes that key reusable embeddings."""

import hashlib
from pathlib import Path


def text_hash(text: str) -> str:
    """sha256 of the text the model sees; the model is part of the cache key
    through the index manifest (an index of another model is never reused)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def files_hash(root: Path, names: tuple[str, ...]) -> str:
    """sha256 over files, in order (the text rules' fingerprint: ``core.documents.TEXT_RULES``)."""
    digest = hashlib.sha256()
    for name in names:
        digest.update(name.encode("utf-8") + b"\0" + (root / name).read_bytes() + b"\0")
    return digest.hexdigest()[:16]
