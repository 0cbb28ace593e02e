"""wikisearch web app (Flask): search page and JSON API."""
