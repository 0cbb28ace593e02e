"""The query side: one ``search`` function, its ranking and snippets, the
catalog of served indexes, and retrieval evaluation. Reads indexes through
``index_format``; never imports the build side."""
