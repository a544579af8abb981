"""SQLite's WAL checkpoints run in a thread of their own (issue 14: a
claim whose commit checkpointed took 5-15 ms instead of 0.4)."""
import os
import subprocess
import sys
import threading

import sqlalchemy as sa

from hoststate.db import engine as db_engine
from hoststate.db import sqlite_checkpoints

ROW_TEXT = "x" * 4000           # about one database page per row
ROWS = 400                       # ~1.6 MB of log, far below the backstop


def _engine(tmp_path):
    engine = db_engine.create_engine(f"sqlite:///{tmp_path}/c.sqlite")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT)")
    return engine


def _write_rows(engine, count):
    for _ in range(count):
        with engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO t (a) VALUES (?)", (ROW_TEXT,))


def test_writers_checkpoint_only_far_behind_the_thread(tmp_path):
    engine = _engine(tmp_path)
    try:
        with engine.connect() as conn:
            pages = conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
        assert pages == sqlite_checkpoints.BACKSTOP_PAGES
        assert sqlite_checkpoints.of(engine).running()
    finally:
        engine.dispose()


def test_the_thread_copies_the_log_into_the_database_file(tmp_path):
    engine = _engine(tmp_path)
    checkpoints = sqlite_checkpoints.of(engine)
    database = f"{tmp_path}/c.sqlite"
    try:
        checkpoints.stop()          # nothing copied while the rows go in
        _write_rows(engine, ROWS)
        before = os.path.getsize(database)
        assert before < ROWS * len(ROW_TEXT) / 4   # in the log, not the file
        seen = checkpoints.count
        checkpoints.start()
        assert checkpoints.wait_for(seen + 2, timeout=30)
        assert os.path.getsize(database) > ROWS * len(ROW_TEXT)
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM t")).scalar() \
                == ROWS
    finally:
        engine.dispose()


def test_dispose_ends_the_thread_and_a_new_connection_starts_it(tmp_path):
    engine = _engine(tmp_path)
    checkpoints = sqlite_checkpoints.of(engine)
    [thread] = [t for t in threading.enumerate()
                if t is checkpoints._thread]
    engine.dispose()
    assert not checkpoints.running()
    assert not thread.is_alive()
    with engine.connect():
        assert checkpoints.running()
    engine.dispose()
    assert not checkpoints.running()


def test_an_in_memory_database_has_none(tmp_path):
    engine = db_engine.create_engine("sqlite://")
    try:
        with engine.connect():
            pass
        assert sqlite_checkpoints.of(engine) is None
    finally:
        engine.dispose()


def test_a_process_that_never_disposes_leaves_the_database_file_alone(
        tmp_path):
    """Its thread's connection is closed at exit, so the last connection's
    close folds the log into the file and removes it (as SQLite does
    without the thread)."""
    script = ("import sys\n"
              "from hoststate.db import engine\n"
              "e = engine.create_engine(f'sqlite:///{sys.argv[1]}')\n"
              "with e.begin() as c:\n"
              "    c.exec_driver_sql('CREATE TABLE t (a)')\n"
              "    c.exec_driver_sql('INSERT INTO t VALUES (1)')\n")
    subprocess.run([sys.executable, "-c", script, f"{tmp_path}/p.sqlite"],
                   check=True, timeout=60)
    assert sorted(os.listdir(tmp_path)) == ["p.sqlite"]
