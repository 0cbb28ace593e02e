"""Adapting what reads an index's queries to its wiki, from the wiki's own pages.

It reads an index and relabels it; it is not a build stage. ``pairs`` mines
training pairs, ``train`` trains the copy that reads queries, ``gate`` scores
it on held-back pages, ``run`` decides and switches (``wikisearch adapt``).
"""
