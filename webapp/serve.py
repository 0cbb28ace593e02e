"""``wikisearch serve``: the app under gunicorn, a real WSGI server."""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication

from core.settings import Settings


class _Gunicorn(BaseApplication):
    def __init__(self, settings: Settings, options: dict[str, Any]):
        self.settings = settings
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        # Each worker loads the indexes and the model itself (no fork after torch starts threads).
        from . import create_app

        return create_app(self.settings)


def run(settings: Settings, host: str, port: int, workers: int = 1, threads: int = 4) -> None:
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
        "timeout": 120,
        "accesslog": "-",
        "errorlog": "-",
        "loglevel": "info",
    }
    _Gunicorn(settings, options).run()
