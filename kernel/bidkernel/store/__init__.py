"""Storage backends behind one interface (:mod:`bidkernel.store.base`); SQL lives only here.

:class:`~bidkernel.store.sqlite.SQLiteStore` is the embedded default (WAL, ``synchronous=FULL``).
"""
