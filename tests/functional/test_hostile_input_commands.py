"""Hostile arguments for every ``hoststate`` command, run in-process
through ``hoststate.cli.main.main(argv)`` on a copy of a small SQLite
cloud: each ends with exit status 0, 1 or 2, and a failure says one line
on stderr (an argparse usage error too, exit 2).

The argument surface comes from the parser itself, so a new command or
option is covered as soon as it exists. The cases run in a child process
under a memory limit, like those of test_hostile_input.py, whose cloud
and helpers they share.
"""
import argparse
import contextlib
import io
import os
import sqlite3
import tempfile

import pytest
from hypothesis import given
from hypothesis import strategies as st

from functional.test_hostile_input import CASE_SECONDS
from functional.test_hostile_input import OUTCOMES
from functional.test_hostile_input import QUICK
from functional.test_hostile_input import THOROUGH
from functional.test_hostile_input import CaseTooSlow
from functional.test_hostile_input import _cloud
from functional.test_hostile_input import _fresh_copy
from functional.test_hostile_input import _report
from functional.test_hostile_input import _time_limit
from support import hostile

MODULE = "functional.test_hostile_input_commands"


def _run(function, tmp_path, *args):
    result = hostile.run_in_child(MODULE, function, [str(tmp_path), *args],
                                  cwd=str(tmp_path))
    assert result.returncode == 0, (
        f"exit {result.returncode}\n{result.stdout[-6000:]}\n"
        f"{result.stderr[-6000:]}")
    return result


def test_every_command_takes_hostile_arguments(tmp_path):
    _run("command_cases", tmp_path, QUICK[2])


@pytest.mark.slow
def test_every_command_takes_hostile_arguments_thoroughly(tmp_path):
    _run("command_cases", tmp_path, THOROUGH[2])


# --- in the child ------------------------------------------------------------

def _commands():
    """{command words: leaf parser} of every ``hoststate`` command."""
    from hoststate.cli import main as cli_main

    def walk(parser, words):
        found = {}
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    found.update(walk(sub, words + [name]))
                return found
        return {tuple(words): parser}
    # the real parser of every command, not the placeholders of commands
    # that are not being run
    modules = [name for name, _ in getattr(cli_main, "COMMANDS", ())]
    try:
        parser = cli_main.build_parser(load=modules)
    except TypeError:
        parser = cli_main.build_parser()
    return walk(parser, [])


#: Arguments a case never varies: they would reach real servers (zk, mc),
#: print tracebacks on purpose (--debug) or only print help.
_FIXED = {"--debug", "-h", "--help", "--version", "--servicegroup"}
#: Commands that run work sized by their numbers: given only values that
#: are invalid or tiny, so that a valid one does not run for minutes.
_LONG_RUNNING = {("simulate",), ("compute",)}
_TINY = {("simulate",): ["--nodes", "2", "--requests", "3"],
         ("compute",): ["--once", "--fake-nodes", "1"]}


#: Values that are valid for most arguments (names of the cloud's hosts
#: and nodes, small counts, a column, a zone).
PLAUSIBLE = ("h1", "h2", "h1-n1", "h2-n2", "1", "2", "nova", "host", "up")


def _invalid_or_tiny(text):
    """Whether ``text`` is no count a command would run with, or at most 3
    (simulate and compute run as long as their counts say; the huge ones
    have tests of their own below)."""
    try:
        return int(text) <= 3
    except ValueError:
        return True


def _argument_values(action, long_running):
    """Values for one argument of a command: a plausible one, or (one time
    in three) a hostile one."""
    numbers = st.one_of(st.sampled_from(hostile.NUMERALS),
                        st.sampled_from(hostile.BOUNDARY_INTS).map(str),
                        st.integers(-3, 3).map(str))
    if long_running:
        numbers = numbers.filter(_invalid_or_tiny)
    bad = st.one_of(numbers, hostile.texts().map(
        lambda v: v if isinstance(v, str) else str(v)))
    good = st.sampled_from(sorted(map(str, action.choices))
                           if action.choices else PLAUSIBLE)
    return hostile.valid_or(good, bad).filter(lambda text: "\x00" not in text)


def command_cases(directory, examples):
    template = _cloud(directory)
    config = os.path.join(directory, "hostile.conf")
    with open(config, "w") as handle:
        handle.write(f"[DEFAULT]\ncompute_driver = fake\n"
                     f"state_path = {directory}\nhost = hostile-host\n")
    commands = _commands()

    @st.composite
    def argv(draw):
        words = draw(st.sampled_from(sorted(commands)))
        parser = commands[words]
        long_running = words in _LONG_RUNNING
        args = list(words) + list(_TINY.get(words, []))
        for action in parser._actions:
            flag = action.option_strings[0] if action.option_strings else None
            if flag in _FIXED or flag in ("--config-file", "--database-url"):
                continue
            if action.nargs == 0:           # a switch
                if draw(st.booleans()):
                    args.append(flag)
                continue
            if flag is not None and draw(st.integers(0, 2)):
                continue                    # an option given one time in 3
            value = draw(_argument_values(action, long_running))
            args += [flag, value] if flag else [value]
        url = draw(hostile.valid_or(st.just(None), st.sampled_from([
            "sqlite:///" + os.path.join(directory, "missing", "x.sqlite"),
            "nonsense://", "", "sqlite:///" + config])))
        args += ["--config-file", config]
        if url is None and words == ("simulate",):
            return args         # its own temporary database: it needs one
        return args + ["--database-url", url or "sqlite:///" + os.path.join(
            directory, "work.sqlite")]

    @hostile.hostile_settings(examples)
    @given(args=argv())
    def command(args):
        engine, _ = _fresh_copy(template, directory)
        engine.dispose()
        with _temporary_files_in(directory):
            # --keep-database keeps simulate's temporary database, on
            # purpose: here it lands in the test's directory
            status, lines, raised = run_command(args)
        OUTCOMES[f"{' '.join(args[:1])} exit {status}"] += 1
        known = known_bug(args, status, lines, raised)
        if known:
            OUTCOMES[f"known bug: {known}"] += 1
            return
        if raised is not None:
            raise raised
        assert status in (0, 1, 2), (status, lines)
        if status:
            assert len(lines) == 1, lines
            assert lines[0].startswith("hoststate"), lines
    return _report("commands", command)


@contextlib.contextmanager
def _temporary_files_in(directory):
    """Temporary files and directories made meanwhile go in ``directory``."""
    before = tempfile.tempdir
    tempfile.tempdir = directory
    try:
        yield
    finally:
        tempfile.tempdir = before


def run_command(args, seconds=CASE_SECONDS):
    """``hoststate args`` in this process: (exit status, non-empty lines
    of stderr, the exception that escaped main or None); CaseTooSlow
    after ``seconds``."""
    from hoststate import conf as hs_conf
    from hoststate.cli import main as cli_main
    out, err = io.StringIO(), io.StringIO()
    status, raised = None, None
    try:
        with contextlib.redirect_stdout(out), \
                contextlib.redirect_stderr(err), _time_limit(seconds):
            status = cli_main.main(args)
    except SystemExit as exc:
        status = exc.code
    except Exception as exc:       # noqa: BLE001 - reported by the caller
        raised = exc
    finally:
        hs_conf.CONF.reset()
    return status, [line for line in err.getvalue().splitlines() if line], \
        raised


#: Failures of code this file's author does not own, each pinned by a
#: strict xfail test below: {name: matches(args, status, lines, raised)}.
#: The property tolerates them so that it keeps looking for others. None
#: are known today.
KNOWN_BUGS = {}


def known_bug(args, status, lines, raised):
    return next((name for name, matches in KNOWN_BUGS.items()
                 if matches(args, status, lines, raised)), None)


# --- bugs the property found, fixed: each one line now -----------------------

def _one_line_failure(args):
    """(exit status, the one line on stderr) of a failing command."""
    status, lines, raised = run_command(args)
    assert raised is None, f"{type(raised).__name__}: {raised}"
    assert status in (1, 2) and len(lines) == 1, (status, lines)
    return status, lines[0]


def test_an_sqlite_url_naming_a_file_that_is_no_database_is_one_line(
        tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a database\n" * 100)
    status, line = _one_line_failure(
        ["host-list", "--database-url", f"sqlite:///{text}"])
    assert (status, line) == (1, (
        f"hoststate: sqlite:///{text} is not an SQLite database: file is "
        f"not a database; name an SQLite database file, or a new file in an "
        f"existing directory, with --database-url or [database] "
        f"connection"))
    assert text.read_text() == "not a database\n" * 100
    assert [path.name for path in tmp_path.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize("make", ["absent", "without-schema"])
def test_db_status_of_a_database_without_a_schema_says_why_on_stderr(
        tmp_path, make):
    path = tmp_path / "empty.sqlite"
    if make == "without-schema":
        sqlite3.connect(path).close()      # a database file, no table
    status, line = _one_line_failure(
        ["db", "status", "--database-url", f"sqlite:///{path}"])
    said = {"absent": "does not exist; run hoststate db sync to create it",
            "without-schema": "has no hoststate schema; run hoststate db "
                              "sync"}[make]
    assert (status, line) == (1, f"hoststate: database sqlite:///{path} "
                                 f"{said}")
    assert path.exists() == (make == "without-schema")     # none created


@pytest.mark.parametrize("revision", ["h1", "-0", "", "heads", "000"])
def test_db_sync_to_a_revision_that_is_none_is_one_line(tmp_path, revision):
    from hoststate.cli import db_commands
    database = tmp_path / "x.sqlite"
    status, line = _one_line_failure(
        ["db", "sync", "--revision", revision,
         "--database-url", f"sqlite:///{database}"])
    known = ", ".join(db_commands.known_revisions())
    assert (status, line) == (2, (
        f"hoststate db sync: --revision must be head or one of this "
        f"release's revisions ({known}), not {revision!r}; see hoststate "
        f"db sync --help"))
    assert not database.exists()


def test_the_revisions_db_sync_knows_are_this_releases():
    from hoststate.cli import db_commands
    from hoststate.db import migration
    known = db_commands.known_revisions()
    assert known[0] == "0001" and known[-1] == migration.head_revision()
    assert len(set(known)) == len(known)


def compute_with_a_huge_node_count(directory):
    args = ["compute", "--once", "--fake-nodes", str(10 ** 22),
            "--database-url", f"sqlite:///{directory}/x.sqlite"]
    try:
        # refusing the count is instant; without a bound it runs until
        # memory or time runs out
        status, lines, raised = run_command(args, seconds=5)
    except CaseTooSlow as exc:
        print(exc)
        return 1
    print(status, lines, repr(raised))
    return 0 if (status, lines) == (2, [
        "hoststate compute: --fake-nodes must be an integer from 1 to "
        "100,000, not '10000000000000000000000'; see hoststate compute "
        "--help"]) else 1


def test_compute_refuses_a_node_count_beyond_its_bound(tmp_path):
    _run("compute_with_a_huge_node_count", tmp_path)
