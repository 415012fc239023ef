"""The SQLite backend on real files: durability settings, atomicity, savepoints, append-only."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from bidkernel.store.base import StoreError
from bidkernel.store.sqlite import SQLiteStore


@pytest.fixture
def store(tmp_path: Path):
    s = SQLiteStore(tmp_path / "s.db")
    yield s
    s.close()


def test_wal_and_full_sync(store: SQLiteStore, tmp_path: Path) -> None:
    c = sqlite3.connect(tmp_path / "s.db")
    assert c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store._writer.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_commit_is_visible_and_exception_rolls_back_everything(store: SQLiteStore) -> None:
    with store.transaction() as tx:
        tx.ledger_init({"origin": "o", "hash": "sm3"})
        tx.ledger_append(0, [b"a", b"b"], [(0, 0, b"h" * 32), (0, 1, b"i" * 32), (1, 0, b"j" * 32)])
    with pytest.raises(RuntimeError):
        with store.transaction() as tx:
            tx.ledger_append(2, [b"c"], [(0, 2, b"k" * 32)])
            tx.ledger_add_checkpoint(3, b"r" * 32, 1, "note")
            raise RuntimeError("boom")
    with store.reader() as r:
        assert r.ledger_size() == 2
        assert r.ledger_leaves(0, 10) == [b"a", b"b"]
        assert r.ledger_nodes([(0, 0), (1, 0), (0, 2)]) == {(0, 0): b"h" * 32, (1, 0): b"j" * 32}
        assert r.ledger_checkpoints() == []
        assert r.ledger_meta() == {"origin": "o", "hash": "sm3"}
        assert list(r.ledger_iter_leaves(1, chunk=1)) == [(1, b"b")]
        assert list(r.ledger_iter_nodes(0, chunk=1)) == [(0, b"h" * 32), (1, b"i" * 32)]


def test_savepoint_rolls_back_alone(store: SQLiteStore) -> None:
    with store.transaction() as tx:
        tx.ledger_append(0, [b"a"], [(0, 0, b"h" * 32)])
        with pytest.raises(ValueError):
            with tx.savepoint():
                tx.ledger_append(1, [b"b"], [(0, 1, b"i" * 32)])
                raise ValueError("no")
        assert tx.ledger_size() == 1
        tx.ledger_append(1, [b"c"], [(0, 1, b"j" * 32)])
    with store.reader() as r:
        assert r.ledger_leaves(0, 5) == [b"a", b"c"]


def test_appends_never_overwrite(store: SQLiteStore) -> None:
    with store.transaction() as tx:
        tx.ledger_append(0, [b"a"], [])
    with pytest.raises(StoreError, match="holds 1 leaves"):
        with store.transaction() as tx:
            tx.ledger_append(0, [b"x"], [])
    with pytest.raises(StoreError):
        with store.transaction() as tx:
            tx.ledger_init({"origin": "o"})
            tx.ledger_init({"origin": "p"})


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE ledger_leaves SET leaf = x'00'",
        "DELETE FROM ledger_leaves",
        "UPDATE ledger_nodes SET hash = x'00'",
        "DELETE FROM ledger_nodes",
        "UPDATE ledger_checkpoints SET size = 0",
        "DELETE FROM ledger_checkpoints",
    ],
)
def test_ledger_tables_are_append_only(store: SQLiteStore, tmp_path: Path, sql: str) -> None:
    with store.transaction() as tx:
        tx.ledger_append(0, [b"a"], [(0, 0, b"h" * 32)])
        tx.ledger_add_checkpoint(1, b"h" * 32, 5, "n")
    c = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        c.execute(sql)


def test_readers_do_not_block_on_a_writer(store: SQLiteStore) -> None:
    with store.transaction() as tx:
        tx.ledger_append(0, [b"a"], [])
    seen: list[int] = []
    with store.transaction() as tx:
        tx.ledger_append(1, [b"b"], [])

        def read() -> None:
            with store.reader() as r:
                seen.append(r.ledger_size())

        t = threading.Thread(target=read)
        t.start()
        t.join(5)
    assert seen == [1]  # the uncommitted append is invisible, and the reader did not wait


def test_schema_version_mismatch_is_refused(tmp_path: Path) -> None:
    SQLiteStore(tmp_path / "v.db").close()
    c = sqlite3.connect(tmp_path / "v.db", isolation_level=None)
    c.execute("UPDATE store_meta SET value = '99' WHERE key = 'schema'")
    c.close()
    with pytest.raises(StoreError, match="schema version 99"):
        SQLiteStore(tmp_path / "v.db")


def test_closed_store_refuses(tmp_path: Path) -> None:
    s = SQLiteStore(tmp_path / "c.db")
    s.close()
    s.close()
    with pytest.raises(StoreError):
        with s.transaction():
            pass
    assert "c.db" in repr(s)


def test_unopenable_path(tmp_path: Path) -> None:
    with pytest.raises(StoreError):
        SQLiteStore(tmp_path / "missing-dir" / "x.db")


def test_no_sql_outside_the_store_package(repo_root: Path) -> None:
    """All SQL lives in bidkernel/store/ (so a PostgreSQL backend is one more module there)."""
    import re

    sql = re.compile(r"\b(SELECT\s+\S+\s+FROM|INSERT\s+INTO|CREATE\s+TABLE|UPDATE\s+\w+\s+SET|DELETE\s+FROM)\b")
    pkg = repo_root / "kernel" / "bidkernel"
    offenders = [
        str(p.relative_to(pkg))
        for p in pkg.rglob("*.py")
        if "store" not in p.relative_to(pkg).parts[:1] and sql.search(p.read_text(encoding="utf-8"))
    ]
    assert offenders == []
