"""``hoststate.cli.main``: the global options (before or after the
command), one line per expected failure with its exit status, log records
on stderr, and the parser that imports only the command being run."""
import argparse
import errno
import logging
import signal
import subprocess
import sys

import pytest
from kazoo import exceptions as kazoo_exceptions
from pymemcache import exceptions as memcache_exceptions

from hoststate import conf as hs_conf
from hoststate import exception
from hoststate.cli import failures
from hoststate.cli import host_commands
from hoststate.cli import main as cmd_main


@pytest.fixture(autouse=True)
def default_config():
    yield
    hs_conf.load(args=[], config_files=[])


def run(capsys, *argv):
    code = cmd_main.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def sqlite_url(tmp_path, name="hs.sqlite"):
    return f"sqlite:///{tmp_path / name}"


# --- global options after the command ------------------------------------------

def test_database_url_after_the_command(capsys, tmp_path):
    url = sqlite_url(tmp_path)
    assert run(capsys, "db", "sync", "--database-url", url)[:2] == (
        0, f"{url}: upgraded from an empty database to revision 0007\n")
    assert run(capsys, "db", "version", "--database-url", url)[:2] == (
        0, "0007\n")


def test_the_later_database_url_wins(capsys, tmp_path):
    first, later = sqlite_url(tmp_path, "first.sqlite"), sqlite_url(
        tmp_path, "later.sqlite")
    code, out, _ = run(capsys, "--database-url", first, "db", "sync",
                       "--database-url", later)
    assert (code, out.split(":")[0:2]) == (0, ["sqlite", f"///{tmp_path}"
                                                         "/later.sqlite"])
    assert not (tmp_path / "first.sqlite").exists()


def test_config_files_before_and_after_are_all_read_in_order(capsys,
                                                             tmp_path):
    before, after = tmp_path / "before.conf", tmp_path / "after.conf"
    before.write_text("[DEFAULT]\nhost = from-before\nmy_ip = 192.0.2.1\n")
    after.write_text("[DEFAULT]\nhost = from-after\n")
    code, out, _ = run(capsys, "--config-file", before, "config", "show",
                       "--config-file", after, "--group", "DEFAULT",
                       "-c", "option", "-c", "value", "-f", "value")
    values = dict(line.split(" ", 1) for line in out.splitlines())
    assert code == 0
    assert (values["host"], values["my_ip"]) == ("from-after", "192.0.2.1")


@pytest.mark.parametrize("argv, prog, message", [
    (["--database-url"], "hoststate",
     "argument --database-url: expected one argument"),
    (["host-list", "--config-file"], "hoststate host-list",
     "argument --config-file: expected one argument"),
])
def test_a_missing_option_value_is_a_usage_error(capsys, argv, prog,
                                                 message):
    with pytest.raises(SystemExit) as stopped:
        cmd_main.main(argv)
    assert stopped.value.code == 2
    assert capsys.readouterr() == ("", f"{prog}: {message}; see {prog} "
                                       f"--help\n")


@pytest.mark.parametrize("argv, line", [
    (["simulate", "--nodes", "10000000000000000000000"],
     "hoststate simulate: --nodes must be an integer from 1 to 100,000, not "
     "'10000000000000000000000'; see hoststate simulate --help"),
    (["simulate", "--no-such-option"],
     "hoststate simulate: unrecognized arguments: --no-such-option; see "
     "hoststate simulate --help"),
    (["db", "sync", "--bogus", "x\ny"],
     "hoststate db sync: unrecognized arguments: --bogus x y; see hoststate "
     "db sync --help"),
    (["db"],
     "hoststate db: the following arguments are required: ACTION; see "
     "hoststate db --help"),
    ([], "hoststate: the following arguments are required: COMMAND; see "
         "hoststate --help"),
], ids=["out-of-bounds", "unknown-option", "unknown-option-two-lines",
        "no-action", "no-command"])
def test_a_usage_error_is_one_line_naming_the_command(capsys, argv, line):
    """No usage block: that is --help's; exit status 2 as argparse's."""
    with pytest.raises(SystemExit) as stopped:
        cmd_main.main(argv)
    assert stopped.value.code == 2
    assert capsys.readouterr() == ("", line + "\n")


def test_an_unknown_command_is_one_line_listing_the_commands(capsys):
    with pytest.raises(SystemExit) as stopped:
        cmd_main.main(["no-such-command"])
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and err.count("\n") == 1
    assert err.startswith("hoststate: argument COMMAND: invalid choice: "
                          "'no-such-command' (choose from ")
    last = list(cmd_main.COMMANDS[-1][1])[-1]
    assert last in err.splitlines()[0].rsplit(",", 1)[1]   # the last
    assert err.endswith("); see hoststate --help\n")


def test_every_parser_says_its_usage_errors_in_one_line():
    """Each command's parser, nested ones included, is a OneLineParser
    (subparsers inherit their parent's class)."""
    def parsers(parser):
        yield parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    yield from parsers(sub)
    every = list(parsers(cmd_main.build_parser(
        load=[name for name, _ in cmd_main.COMMANDS])))
    assert len(every) > 15
    assert {type(each) for each in every} == {cmd_main.OneLineParser}


@pytest.mark.parametrize("argv", [["--help"], ["simulate", "--help"],
                                  ["db", "sync", "--help"]])
def test_help_still_shows_the_usage(capsys, argv):
    with pytest.raises(SystemExit) as stopped:
        cmd_main.main(argv)
    out, err = capsys.readouterr()
    assert (stopped.value.code, err) == (0, "")
    prog = " ".join(["hoststate", *argv[:-1]])
    assert out.startswith(f"usage: {prog} [-h]")


def test_debug_after_the_command(capsys, tmp_path):
    code, out, err = run(capsys, "host-list", "--debug", "--database-url",
                         f"sqlite:///{tmp_path}/missing/hs.sqlite")
    assert (code, out) == (1, "")
    assert err.startswith("Traceback (most recent call last):")


# --- failures: one line, documented status ----------------------------------------

def failing_host_list(monkeypatch, error):
    """Make host-list raise ``error`` once its arguments are parsed."""
    def fail(_args):
        raise error
    monkeypatch.setattr(host_commands, "host_list_command", fail)


@pytest.mark.parametrize("error, status, line", [
    (KeyboardInterrupt(), 130, "hoststate: interrupted (Ctrl-C)\n"),
    (exception.Interrupted(signal.SIGTERM), 143,
     "hoststate: interrupted by SIGTERM\n"),
    (exception.Interrupted(signal.SIGINT, "; database removed"), 130,
     "hoststate: interrupted by SIGINT; database removed\n"),
    (exception.ConfigInvalid(group="DEFAULT", option="report_interval",
                             value=-1, reason="must be positive"), 2,
     "hoststate: configuration error: Invalid value -1 for option "
     "[DEFAULT] report_interval: must be positive\n"),
    (exception.ConfigFileInvalid(path="/etc/x.conf",
                                 reason="does not exist"), 2,
     "hoststate: configuration file /etc/x.conf does not exist\n"),
    (exception.NotFound("a message\nover two lines"), 1,
     "hoststate: a message over two lines\n"),
    (PermissionError(errno.EACCES, "Permission denied", "/root/plot.png"), 1,
     "hoststate: cannot use /root/plot.png: Permission denied; check the "
     "path and its permissions\n"),
    (kazoo_exceptions.ConnectionLoss(), 1,
     "hoststate: ZooKeeper cannot be reached: ConnectionLoss; check that "
     "it is running at [zookeeper] address\n"),
    (memcache_exceptions.MemcacheUnexpectedCloseError(), 1,
     "hoststate: memcached failed: (no message); check that it is running "
     "at [DEFAULT] memcached_servers\n"),
    (ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"), 1,
     "hoststate: cannot connect: [Errno 111] Connection refused; check "
     "that the server it names is running\n"),
], ids=lambda value: type(value).__name__ if isinstance(
    value, BaseException) else None)
def test_an_expected_failure_is_one_line_and_its_status(
        capsys, monkeypatch, tmp_path, error, status, line):
    failing_host_list(monkeypatch, error)
    assert run(capsys, "--database-url", sqlite_url(tmp_path),
               "host-list") == (status, "", line)


def test_a_broken_pipe_ends_quietly(capsys, monkeypatch, tmp_path):
    failing_host_list(monkeypatch, BrokenPipeError())
    assert run(capsys, "host-list") == (141, "", "")


def test_a_bug_keeps_its_traceback(monkeypatch):
    failing_host_list(monkeypatch, ZeroDivisionError("a bug"))
    with pytest.raises(ZeroDivisionError):
        cmd_main.main(["host-list"])


def test_every_failure_rule_names_a_documented_status():
    documented = {0, 1, 2, 3} | {128 + s for s in (signal.SIGINT,
                                                   signal.SIGTERM,
                                                   signal.SIGPIPE)}
    for error in (KeyboardInterrupt(), exception.HoststateError("x"),
                  exception.ConfigInvalid(group="g", option="o", value=1,
                                          reason="r"),
                  failures.UsageError("x"), BrokenPipeError(), OSError()):
        assert failures.explain(error).status in documented


# --- logging ----------------------------------------------------------------

def test_log_records_are_prefixed_one_line_warnings(capsys, monkeypatch,
                                                    tmp_path):
    def log_some(_args):
        logging.getLogger("hoststate.anything").info("not shown")
        logging.getLogger("hoststate.anything").warning("two\nlines")
        logging.getLogger("kazoo.client").info("connecting: not shown")
        logging.getLogger("kazoo.client").warning("Connection dropped")
        try:
            raise ValueError("why\nmore")
        except ValueError:
            logging.getLogger("pymemcache").error("failed", exc_info=True)
    monkeypatch.setattr(host_commands, "host_list_command", log_some)
    handlers = list(logging.getLogger().handlers)
    assert run(capsys, "host-list") == (0, "", (
        "hoststate: warning: two lines\n"
        "hoststate: warning: Connection dropped\n"
        "hoststate: error: failed: ValueError: why\n"))
    assert logging.getLogger().handlers == handlers   # none left behind


# --- the parser ---------------------------------------------------------------

def test_top_level_help_lists_each_command_as_its_module_defines_it():
    """The help main lists without importing a command's module is the
    help that module gives its command."""
    placeholders = cmd_main.build_parser([])
    for module_name, helps in cmd_main.COMMANDS:
        loaded = cmd_main.build_parser([], load=[module_name])
        for name in helps:
            assert _help_of(loaded, name) == _help_of(placeholders, name)


def _help_of(parser, command):
    action = next(a for a in parser._actions
                  if isinstance(a, argparse._SubParsersAction))
    return next(c.help for c in action._choices_actions if c.dest == command)


@pytest.mark.parametrize("argv, imported", [
    (["--version"], []),
    (["--help"], []),
    (["--database-url", "sqlite://", "host-list"], ["host_commands"]),
    (["--config-file=/nowhere", "--database-url=x", "service-list"],
     ["service_commands"]),
    (["--data", "x", "hypervisor-list"], ["hypervisor_commands"]),
])
def test_only_the_command_run_is_imported(argv, imported):
    probe = ("import sys; from hoststate.cli import main\n"
             f"main.build_parser({argv!r})\n"
             "print(sorted(m.rsplit('.', 1)[1] for m in sys.modules\n"
             "             if m.startswith('hoststate.cli.') and\n"
             "             m.endswith(('_command', '_commands'))))\n"
             "print('sqlalchemy' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True,
                          text=True, check=True)
    modules, sqlalchemy = done.stdout.splitlines()
    assert modules == repr(imported)
    assert sqlalchemy == repr(bool(imported))
    assert done.stderr == ""
