"""A test needing a server that is not there skips, and fails under CI."""
import pytest

from support import servers

UNREACHABLE = "postgresql+psycopg://nobody@127.0.0.1:1/none"


@pytest.fixture
def no_server(monkeypatch):
    monkeypatch.setitem(servers.SERVERS, "postgresql",
                        (UNREACHABLE, lambda: None))
    monkeypatch.setattr(servers, "_reachable", {})


def test_missing_server_skips_with_the_reason(no_server, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception) as skipped:
        servers.require("postgresql")
    assert "postgresql server unavailable" in str(skipped.value)
    assert "no start command for it on this machine" in str(skipped.value)


def test_missing_server_fails_under_ci(no_server, monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception) as failed:
        servers.require("postgresql")
    assert "CI=true: a missing server fails" in str(failed.value)


def test_sqlite_needs_no_server():
    assert servers.require("sqlite") is None
