"""The ``hoststate`` command, run in-process against real databases."""
import pytest

from hoststate import conf as hs_conf
from hoststate.cli import main as cmd_main
from hoststate.db import migration

from support import packaging

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
                        f"revision 0002\n", "")
    assert second == (0, f"{shown}: already at revision 0002\n", "")
    assert migration.current_revision(empty_database.engine) == "0002"


def test_db_status_lists_every_table(capsys, empty_database):
    migration.sync(empty_database.engine)
    code, out, _ = run(capsys, "--database-url", empty_database.url, "db",
                       "status")
    lines = out.splitlines()
    assert code == 0
    assert lines[1] == "revision: 0002"
    assert lines[2].split() == ["table", "rows"]
    assert sorted(line.split()[0] for line in lines[3:]) == sorted(
        ["aggregates", "aggregate_hosts", "aggregate_metadata", "cell_mappings",
         "compute_nodes", "host_mappings", "instance_group_member",
         "instance_group_policy", "instance_groups", "instances",
         "migrations", "services"])
    assert {line.split()[1] for line in lines[3:]} == {"0"}


def test_db_status_of_an_empty_database_says_to_sync(capsys, tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.sqlite'}"
    code, out, _ = run(capsys, "--database-url", url, "db", "status")
    assert code == 1
    assert out.splitlines()[1] == "revision: none (run hoststate db sync)"


def test_database_url_comes_from_the_config_file(capsys, tmp_path):
    url = f"sqlite:///{tmp_path / 'from-conf.sqlite'}"
    conf_file = tmp_path / "nova.conf"
    conf_file.write_text(f"[database]\nconnection = {url}\n")

    code, out, _ = run(capsys, "--config-file", str(conf_file), "db", "sync")

    assert (code, out) == (0, f"{url}: upgraded from an empty database to "
                              f"revision 0002\n")


def test_default_database_is_sqlite_under_state_path(capsys, tmp_path):
    conf_file = tmp_path / "nova.conf"
    conf_file.write_text(f"[DEFAULT]\nstate_path = {tmp_path / 'state'}\n")

    code, out, _ = run(capsys, "--config-file", str(conf_file), "db", "sync")

    expected = f"sqlite:///{tmp_path / 'state' / 'hoststate.sqlite'}"
    assert (code, out) == (0, f"{expected}: upgraded from an empty database "
                              f"to revision 0002\n")


def test_config_show_reads_a_nova_conf(capsys):
    code, out, _ = run(capsys, "--config-file", str(NOVA_CONF), "config",
                       "show", "--group", "DEFAULT")
    rows = {line.split()[1]: line.split(None, 2)[2] for line in
            out.splitlines()[1:] if len(line.split()) == 3}
    assert code == 0
    assert rows["servicegroup_driver"] == "zk"


def test_config_show_masks_secrets(capsys, tmp_path):
    conf_file = tmp_path / "nova.conf"
    conf_file.write_text("[database]\nconnection = mysql://nova:s3cret@db/nova\n")
    code, out, _ = run(capsys, "--config-file", str(conf_file), "config",
                       "show", "--group", "database")
    assert code == 0
    assert out.splitlines()[1].split() == ["database", "connection", "****"]
    assert "s3cret" not in out


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
