"""Content hashes that key reusable embeddings."""

import hashlib


def text_hash(text: str) -> str:
    """sha256 of the text the model sees; the model is part of the cache key
    through the index manifest (an index of another model is never reused)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
