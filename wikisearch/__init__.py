"""The ``wikisearch`` command: build, query, serve, eval, info, model."""

__version__ = "0.1.0"
