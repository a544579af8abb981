"""The ``hoststate`` command, run in-process against real databases."""
import json
import uuid

import pytest

from hoststate import conf as hs_conf
from hoststate.cli import main as cmd_main
from hoststate.db import engine as db_engine
from hoststate.db import migration

from support import packaging
from support import servers

NOVA_CONF = packaging.REPO / "tests" / "unit" / "data" / "nova.conf"


@pytest.fixture(autouse=True)
def default_config():
    """Commands load files into the global CONF; leave it at the defaults."""
    yield
    hs_conf.load(args=[], config_files=[])


def run(capsys, *argv):
    code = cmd_main.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_version(capsys):
    with pytest.raises(SystemExit) as done:
        cmd_main.main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == "hoststate 0.1.0\n"


def test_db_sync_creates_then_reports_up_to_date(capsys, empty_database):
    url = empty_database.url

    first = run(capsys, "--database-url", url, "db", "sync")
    second = run(capsys, "--database-url", url, "db", "sync")

    shown = empty_database.engine.url.render_as_string(hide_password=True)
    assert first == (0, f"{shown}: upgraded from an empty database to "
                        f"revision 0007\n", "")
    assert second == (0, f"{shown}: already at revision 0007\n", "")
    assert migration.current_revision(empty_database.engine) == "0007"


def test_db_status_lists_every_table(capsys, empty_database):
    migration.sync(empty_database.engine)
    code, out, _ = run(capsys, "--database-url", empty_database.url, "db",
                       "status")
    lines = out.splitlines()
    assert code == 0
    assert lines[1] == "revision: 0007"
    assert lines[2].split() == ["table", "rows"]
    assert sorted(line.split()[0] for line in lines[3:]) == sorted(
        ["aggregates", "aggregate_hosts", "aggregate_metadata", "allocations",
         "cell_instances", "cell_mappings", "cells",
         "compute_nodes", "host_mappings", "instance_group_member",
         "instance_faults", "instance_group_policy", "instance_groups",
         "instances",
         "migrations", "services"])
    assert {line.split()[1] for line in lines[3:]} == {"0"}


def test_db_status_of_an_empty_database_says_to_sync(capsys, empty_database):
    empty_database.engine.connect().close()     # SQLite: the file exists
    code, out, err = run(capsys, "--database-url", empty_database.url, "db",
                         "status")
    shown = empty_database.engine.url.render_as_string(hide_password=True)
    assert (code, out, err) == (1, "", f"hoststate: database {shown} has no "
                                       f"hoststate schema; run hoststate db "
                                       f"sync\n")


def test_db_status_of_a_database_behind_says_to_sync(capsys, tmp_path):
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    run(capsys, "--database-url", url, "db", "sync", "--revision", "0001")
    code, out, err = run(capsys, "--database-url", url, "db", "status")
    assert (code, err) == (0, "")
    assert out.splitlines()[1] == ("revision: 0001 (this release: 0007; run "
                                   "hoststate db sync)")


def test_db_sync_to_an_older_revision_changes_nothing(capsys, tmp_path):
    url = f"sqlite:///{tmp_path / 'hs.sqlite'}"
    run(capsys, "--database-url", url, "db", "sync")
    code, out, err = run(capsys, "--database-url", url, "db", "sync",
                         "--revision", "0001")
    assert (code, out, err) == (0, f"{url}: at revision 0007, newer than "
                                   f"0001; db sync does not downgrade\n", "")


@pytest.mark.parametrize("database", ["postgresql", "mysql"])
def test_db_sync_of_a_database_that_does_not_exist_says_create_it(
        capsys, database):
    """db sync creates the schema: the advice ends at CREATE DATABASE."""
    admin = servers.require(database)
    url = db_engine.normalize_url(admin).set(
        database=f"hs_missing_{uuid.uuid4().hex[:8]}")
    code, out, err = run(capsys, "--database-url",
                         url.render_as_string(False), "db", "sync")
    assert (code, out) == (1, "")
    assert err.startswith(f"hoststate: database {db_engine.shown(url)} does "
                          f"not exist: ")
    assert err.endswith("; create it (CREATE DATABASE)\n")


def test_database_url_comes_from_the_config_file(capsys, tmp_path):
    url = f"sqlite:///{tmp_path / 'from-conf.sqlite'}"
    conf_file = tmp_path / "nova.conf"
    conf_file.write_text(f"[database]\nconnection = {url}\n")

    code, out, _ = run(capsys, "--config-file", str(conf_file), "db", "sync")

    assert (code, out) == (0, f"{url}: upgraded from an empty database to "
                              f"revision 0007\n")


def test_default_database_is_sqlite_under_state_path(capsys, tmp_path):
    """hoststate creates its own state directory (only there, and only for
    the default database)."""
    conf_file = tmp_path / "nova.conf"
    conf_file.write_text(f"[DEFAULT]\nstate_path = {tmp_path / 'state'}\n")

    code, out, _ = run(capsys, "--config-file", str(conf_file), "db", "sync")

    expected = f"sqlite:///{tmp_path / 'state' / 'hoststate.sqlite'}"
    assert (code, out) == (0, f"{expected}: upgraded from an empty database "
                              f"to revision 0007\n")


def test_config_show_reads_a_nova_conf(capsys):
    code, out, _ = run(capsys, "--config-file", str(NOVA_CONF), "config",
                       "show", "--group", "DEFAULT")
    rows = {line.split()[1]: line.split(None, 2)[2] for line in
            out.splitlines()[1:] if len(line.split()) == 3}
    assert code == 0
    assert rows["servicegroup_driver"] == "zk"


def test_config_show_masks_secrets(capsys, tmp_path):
    """A URL keeps all but its password; another secret shows as ****."""
    conf_file = tmp_path / "nova.conf"
    conf_file.write_text("[database]\nconnection = mysql://nova:s3cret@db/nova\n"
                         "[api_database]\nconnection = not a url s3cret\n")
    code, out, _ = run(capsys, "--config-file", str(conf_file), "config",
                       "show", "--group", "database",
                       "-f", "value")
    assert (code, out) == (0, "database connection mysql://nova:***@db/nova\n")
    code, out, _ = run(capsys, "--config-file", str(conf_file), "config",
                       "show", "--group", "api_database", "-f", "value")
    assert (code, out) == (0, "api_database connection ****\n")


def test_config_show_has_the_database_url_of_the_command_line(capsys,
                                                              tmp_path):
    conf_file = tmp_path / "nova.conf"
    conf_file.write_text("[database]\nconnection = sqlite:///from-file\n")
    code, out, _ = run(
        capsys, "--config-file", str(conf_file), "config", "show",
        "--database-url", "postgresql://hs:pw@db.example.org/hs",
        "--group", "database", "-f", "json")
    assert (code, out) == (0, """[
  {
    "group": "database",
    "option": "connection",
    "value": "postgresql://hs:***@db.example.org/hs"
  }
]
""")


def test_config_show_without_a_database_shows_the_default_file(capsys,
                                                               tmp_path):
    conf_file = tmp_path / "nova.conf"
    conf_file.write_text(f"[DEFAULT]\nstate_path = {tmp_path}\n")
    code, out, _ = run(capsys, "--config-file", str(conf_file), "config",
                       "show", "--group", "database", "-c", "value", "-f",
                       "value")
    assert (code, out) == (0, f"sqlite:///{tmp_path}/hoststate.sqlite\n")


def test_config_show_values_keep_their_types_in_json(capsys):
    code, out, _ = run(capsys, "config", "show", "--group", "DEFAULT",
                       "-f", "json")
    values = {row["option"]: row["value"] for row in json.loads(out)}
    assert code == 0
    assert (values["report_interval"], values["cpu_allocation_ratio"],
            values["servicegroup_driver"]) == (10, None, "db")


def test_db_sync_does_not_create_the_directory_of_an_sqlite_url(capsys,
                                                                tmp_path):
    missing = tmp_path / "no" / "such"
    code, out, err = run(capsys, "--database-url",
                         f"sqlite:///{missing}/hs.sqlite", "db", "sync")
    assert (code, out) == (1, "")
    assert err == (f"hoststate: database sqlite:///{missing}/hs.sqlite: "
                   f"directory {missing} does not exist; create it, or name "
                   f"a file in an existing directory with --database-url or "
                   f"[database] connection\n")
    assert not (tmp_path / "no").exists()


@pytest.mark.parametrize("action, status, said", [
    ("version", 0, ("none\n", "")),
    ("status", 1, ("", "hoststate: database {url} does not exist; run "
                       "hoststate db sync to create it\n")),
])
def test_db_version_and_status_create_no_file(capsys, tmp_path, action,
                                              status, said):
    url = f"sqlite:///{tmp_path / 'absent.sqlite'}"
    code, out, err = run(capsys, "--database-url", url, "db", action)
    assert (code, out, err) == (status, said[0], said[1].format(url=url))
    assert not (tmp_path / "absent.sqlite").exists()


def test_invalid_config_is_exit_2_naming_option_and_value(capsys, tmp_path):
    conf_file = tmp_path / "nova.conf"
    conf_file.write_text("[DEFAULT]\nservicegroup_driver = redis\n")
    code, out, err = run(capsys, "--config-file", str(conf_file), "db", "sync")
    assert (code, out) == (2, "")
    assert err.startswith("hoststate: configuration error: ")
    assert "servicegroup_driver" in err and "'redis'" in err


def test_unsupported_database_is_exit_1_naming_it(capsys):
    code, out, err = run(capsys, "--database-url", "oracle://x@y/z", "db", "sync")
    assert (code, out) == (1, "")
    assert "unsupported database 'oracle'" in err


def test_missing_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as done:
        cmd_main.main([])
    assert done.value.code == 2
    assert "COMMAND" in capsys.readouterr().err
