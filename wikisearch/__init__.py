"""The ``wikisearch`` command: build, sync, query, serve, eval, info, model."""

from core import __version__

__all__ = ["__version__"]
