"""Reaching (and if need be starting) the real servers tests run against.

PostgreSQL and MariaDB run on the development and CI machines. When one does
not answer, we try to start it the way this machine's image does; when that
is impossible, its tests skip with the reason, except under ``CI=true``,
where a missing server is a failure: CI must never pass by skipping.
"""
import os
import shutil
import subprocess
import time

import pytest
import sqlalchemy as sa

from hoststate.db import engine as db_engine

POSTGRESQL_URL = os.environ.get(
    "HOSTSTATE_TEST_POSTGRESQL_URL",
    "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
MYSQL_URL = os.environ.get(
    "HOSTSTATE_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/")

START_TIMEOUT_S = 30


def _postgresql_start_command():
    if not os.path.isdir("/etc/postgresql") or not shutil.which("pg_ctlcluster"):
        return None
    versions = sorted(os.listdir("/etc/postgresql"))
    if not versions:
        return None
    return ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main",
            "start"]


def _mariadb_start_command():
    daemon = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
    if not os.path.exists(daemon) or not shutil.which("start-stop-daemon"):
        return None
    return ["start-stop-daemon", "--start", "--oknodo", "--background",
            "--exec", daemon]


SERVERS = {
    "postgresql": (POSTGRESQL_URL, _postgresql_start_command),
    "mysql": (MYSQL_URL, _mariadb_start_command),
}

_reachable = {}


def _answers(url):
    engine = db_engine.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        return None
    except Exception as exc:  # any failure to connect means "not reachable"
        return f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    finally:
        engine.dispose()


def _try_start(command):
    if command is None:
        return "no start command for it on this machine"
    if os.geteuid() != 0:
        return f"not root, cannot run {' '.join(command)}"
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        return f"{' '.join(command)} failed: {result.stderr.strip()[:200]}"
    return None


def require(backend):
    """Return the admin URL of ``backend``'s server, or skip/fail the test."""
    if backend == "sqlite":
        return None
    if backend not in _reachable:
        _reachable[backend] = _reach(backend)
    problem = _reachable[backend]
    if problem:
        message = f"{backend} server unavailable: {problem}"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (CI=true: a missing server fails)")
        pytest.skip(message)
    return SERVERS[backend][0]


def _reach(backend):
    url, start_command = SERVERS[backend]
    problem = _answers(url)
    if problem is None:
        return None
    start_problem = _try_start(start_command())
    if start_problem:
        return f"{problem}; could not start it: {start_problem}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        problem = _answers(url)
        if problem is None:
            return None
        time.sleep(0.5)
    return f"started it, but it did not answer within {START_TIMEOUT_S}s: {problem}"
