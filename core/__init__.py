"""What every side shares: settings, errors, the documents that flow through
the build, the model registry and encoders, and the text rules (wikitext,
lexical terms, URLs) that the build and the search must apply alike."""

__version__ = "0.1.0"
