"""The build side: sources → parse → chunk → embed → a new index version.

``build.build_index`` runs the stages; ``sources`` yields documents; ``parse``
and ``chunk`` cut them; the index is written through ``index_format``.
"""
