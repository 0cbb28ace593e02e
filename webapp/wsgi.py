"""WSGI entry point: ``gunicorn webapp.wsgi:app`` or Toolforge's ``webservice``.

Indexes come from ``WIKISEARCH_INDEXES=name=dir,name=dir``.
"""

import logging

from . import create_app

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
app = create_app()
