"""Each failure a new user met, run as the installed ``hoststate`` entry
point in a process of its own: exactly one line on stderr, the documented
exit status, and (for ``simulate``) nothing run. ``--debug`` shows the
traceback instead."""
import os
import pathlib
import subprocess
import sys
import uuid

import pytest

from support import servers
from support.view_cloud import closed_port

ENTRY_POINT = pathlib.Path(sys.executable).with_name("hoststate")
TIMEOUT_S = 120
VIEW = ("service-list",)
SIMULATE = ("simulate", "--requests", "1", "--nodes", "1")


def hoststate(*argv, cwd=None):
    """(exit status, stdout, stderr) of the installed command."""
    if not ENTRY_POINT.exists():
        message = f"no installed entry point at {ENTRY_POINT}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    done = subprocess.run([str(ENTRY_POINT), *map(str, argv)], cwd=cwd,
                          capture_output=True, text=True, timeout=TIMEOUT_S,
                          stdin=subprocess.DEVNULL)
    return done.returncode, done.stdout, done.stderr


def one_line(stderr):
    """The single line of ``stderr`` (fails if there are more or none)."""
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("hoststate: "), stderr
    return lines[0]


# --- configuration files: exit 2 ---------------------------------------------

@pytest.mark.parametrize("content, says", [
    (None, "does not exist"),
    (b"\x00\x01\xff\xfe\x89PNG binary", "UTF-8"),
    (b"no section header here\n[broken\n", "INI"),
], ids=["missing", "binary", "not-ini"])
def test_a_bad_config_file_is_one_line_exit_2(tmp_path, content, says):
    path = tmp_path / "nova.conf"
    if content is not None:
        path.write_bytes(content)
    code, out, err = hoststate("--config-file", path, "config", "show")
    line = one_line(err)
    assert (code, out) == (2, "")
    assert str(path) in line and says in line


# --- databases: exit 1, for a view and for simulate --------------------------

def missing_postgresql_database():
    admin = servers.require("postgresql")
    return admin.rsplit("/", 1)[0] + f"/hs_missing_{uuid.uuid4().hex[:8]}"


def mariadb_wrong_password():
    admin = servers.require("mysql")      # root has no password
    return admin.replace("root@", "root:wrong-password@") + "hoststate"


def refused_port():
    return f"postgresql://postgres@127.0.0.1:{closed_port()}/hoststate"


DATABASES = {
    "postgresql-database-missing": (
        missing_postgresql_database, "does not exist; create it"),
    "mariadb-wrong-password": (
        mariadb_wrong_password, "cannot log in to database "
                                "mysql+pymysql://root:***@"),
    "refused-port": (
        refused_port, "cannot reach database "),
    "sqlite-directory-missing": (
        None, "does not exist; create it, or name a file in an existing "
              "directory"),
}


@pytest.mark.parametrize("command", [VIEW, SIMULATE],
                         ids=["service-list", "simulate"])
@pytest.mark.parametrize("case", sorted(DATABASES))
def test_an_unusable_database_is_one_line_exit_1(tmp_path, case, command):
    make_url, says = DATABASES[case]
    missing_dir = tmp_path / "no" / "such" / "directory"
    url = make_url() if make_url else f"sqlite:///{missing_dir}/hs.sqlite"
    code, out, err = hoststate("--database-url", url, *command, cwd=tmp_path)
    line = one_line(err)
    assert (code, out) == (1, "")          # simulate never started
    assert says in line
    assert "wrong-password" not in line    # the password is masked
    assert not missing_dir.parent.exists()


def test_debug_shows_the_traceback_instead(tmp_path):
    code, out, err = hoststate("--database-url", refused_port(), "--debug",
                               *VIEW)
    assert (code, out) == (1, "")
    assert err.startswith("Traceback (most recent call last):")
    assert "OperationalError" in err        # the driver's error, chained
    assert err.splitlines()[-1].startswith(
        "hoststate.db.engine.DatabaseUnavailable: cannot reach database ")


def test_an_argument_that_is_not_utf8_is_one_line_exit_2(tmp_path):
    """Bytes of the command line that are not UTF-8 (Python keeps them as
    lone surrogates) are refused before anything reads them."""
    if not ENTRY_POINT.exists():
        pytest.skip(f"no installed entry point at {ENTRY_POINT}")
    done = subprocess.run(
        [str(ENTRY_POINT).encode(), b"hypervisor-delete", b"node\xff1"],
        cwd=tmp_path, capture_output=True, timeout=TIMEOUT_S,
        stdin=subprocess.DEVNULL)
    assert (done.returncode, done.stdout) == (2, b"")
    assert done.stderr == (b"hoststate: argument 2 is not UTF-8 text "
                           b"(character 5 of it)\n")
