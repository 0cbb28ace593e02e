"""wikisearch web app: search page, JSON API, OpenSearch, about page.

``create_app`` builds the app from settings; indexes and models are loaded
once per worker process and kept in ``app.extensions["wikisearch"]``.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from core.settings import Settings
from query.catalog import Catalog, parse_index_specs

from . import errors, views
from .limits import limiter

logger = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, catalog: Catalog | None = None, **flask_config: Any) -> Flask:
    settings = settings or Settings.load()
    app = Flask(__name__)
    app.config.update(
        RATELIMIT_DEFAULT=settings.rate_limit,
        RATELIMIT_STORAGE_URI="memory://",
        RATELIMIT_HEADERS_ENABLED=False,
        **flask_config,
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    # Toolforge's front proxy sets X-Forwarded-For/-Proto/-Host: trust one hop.
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]
    if catalog is None:
        catalog = Catalog(parse_index_specs([settings.indexes]), settings)
    app.extensions["wikisearch"] = catalog
    app.extensions["wikisearch_settings"] = settings
    limiter.init_app(app)
    app.register_blueprint(views.bp)
    errors.register(app)
    views.register_filters(app)
    return app
