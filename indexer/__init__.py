"""wikisearch indexer: MediaWiki dumps to a searchable FAISS + SQLite index."""

__version__ = "0.1.0"
