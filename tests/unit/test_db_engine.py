"""Engine URLs and SQLite settings."""
import pytest
import sqlalchemy as sa

from hoststate import exception
from hoststate.db import engine as db_engine


@pytest.mark.parametrize("given, driver", [
    ("postgresql://u@h/db", "postgresql+psycopg"),
    ("postgres://u@h/db", "postgresql+psycopg"),
    ("mysql://root@h/db", "mysql+pymysql"),
    ("mariadb://root@h/db", "mariadb+pymysql"),
    ("mysql+pymysql://root@h/db", "mysql+pymysql"),
    ("sqlite:///x.sqlite", "sqlite"),
])
def test_urls_get_the_driver_hoststate_ships(given, driver):
    assert db_engine.normalize_url(given).drivername == driver


def test_an_unsupported_database_is_named():
    with pytest.raises(exception.DBError, match="unsupported database 'oracle'"):
        db_engine.normalize_url("oracle://u@h/db")


def test_a_malformed_url_is_named():
    with pytest.raises(exception.DBError, match="invalid database URL 'no-url'"):
        db_engine.normalize_url("no-url")


def test_sqlite_file_database_uses_wal_and_foreign_keys(tmp_path):
    engine = db_engine.create_engine(f"sqlite:///{tmp_path / 'x.sqlite'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_sqlite_memory_database_is_shared_by_all_connections():
    engine = db_engine.create_engine("sqlite://")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        conn.exec_driver_sql("INSERT INTO t VALUES (7)")
    with engine.connect() as other:
        assert other.exec_driver_sql("SELECT x FROM t").scalar() == 7
    assert engine.pool.__class__ is sa.pool.StaticPool


def test_sqlite_transaction_rolls_back_entirely(tmp_path):
    engine = db_engine.create_engine(f"sqlite:///{tmp_path / 'x.sqlite'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    with pytest.raises(RuntimeError):
        with engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO t VALUES (1)")
            raise RuntimeError("abort")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 0
