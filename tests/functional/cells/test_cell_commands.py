"""``hoststate cell-add``, ``cell-list`` and ``cell-remove`` on each
backend: the round trip, the output, and every refusal (its one line, its
exit status, and the table exactly as it was)."""
import importlib.metadata
import json

import pytest

from hoststate import conf as hs_conf
from hoststate import context as hs_context
from hoststate import exception
from hoststate.cells import tree
from hoststate.cli import main as cmd_main

from support.databases import snapshot

SECRET = "s3cret-pw"
PARENT_URL = f"rabbit://guest:{SECRET}@127.0.0.1:5672/api"
CHILD_URL = (f"rabbit://cells:{SECRET}@10.0.0.1:5672,"
             f"cells:{SECRET}@10.0.0.2:5672/child1")
#: CHILD_URL as shown: every host's password hidden
CHILD_SHOWN = "rabbit://cells:***@10.0.0.1:5672,cells:***@10.0.0.2:5672/child1"


@pytest.fixture(autouse=True)
def default_config():
    """Commands load files into the global CONF; leave it at the defaults."""
    yield
    hs_conf.load(args=[], config_files=[])


def run(capsys, database, *argv):
    code = cmd_main.main(["--database-url", database.url, *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def tree_of_two(database, capsys):
    """This cell (``[cells] name`` default, nova) with a parent ``api``
    and a child ``child1``."""
    assert run(capsys, database, "cell-add", "api", "--parent",
               "--no-check", "--transport-url", PARENT_URL)[0] == 0
    assert run(capsys, database, "cell-add", "child1", "--child",
               "--no-check", "--transport-url", CHILD_URL,
               "--weight-offset", "-1.5",
               "--weight-scale", "2")[0] == 0
    return database


def test_add_list_remove_round_trip(tree_of_two, capsys):
    database = tree_of_two

    code, out, err = run(capsys, database, "cell-list", "-c", "name", "-c",
                         "role", "-c", "transport_url", "-c",
                         "weight_offset", "-c", "weight_scale")

    assert (code, err) == (0, "")
    width = len(CHILD_SHOWN)
    assert out.splitlines() == [
        f"name    role    {'transport_url':<{width}}  weight_offset  "
        f"weight_scale",
        f"api     parent  {'rabbit://guest:***@127.0.0.1:5672/api':<{width}}"
        f"  0.0            1.0",
        f"child1  child   {CHILD_SHOWN}  -1.5           2.0"]

    assert run(capsys, database, "cell-remove", "child1") == (
        0, "removed cell child1 (child of this cell)\n", "")
    code, out, _ = run(capsys, database, "cell-list", "-f", "value", "-c",
                       "name")
    assert (code, out) == (0, "api\n")
    # the removed name is free again (a soft-deleted row keeps its history)
    assert run(capsys, database, "cell-add", "child1", "--child",
               "--no-check", "--transport-url", "local://")[0] == 0
    assert [(c.name, c.role, c.transport_url) for c in
            tree.list_cells(
                hs_context.get_admin_context(engine=database.engine))] == [
        ("api", "parent", PARENT_URL), ("child1", "child", "local://")]


def test_list_as_json_hides_passwords_and_keeps_types(tree_of_two, capsys):
    code, out, err = run(capsys, tree_of_two, "cell-list", "-f", "json")

    assert (code, err) == (0, "")
    assert SECRET not in out
    listed = json.loads(out)
    assert [{k: v for k, v in cell.items() if k not in ("id", "created_at")}
            for cell in listed] == [
        {"name": "api", "role": "parent",
         "transport_url": "rabbit://guest:***@127.0.0.1:5672/api",
         "weight_offset": 0.0, "weight_scale": 1.0},
        {"name": "child1", "role": "child",
         "transport_url": CHILD_SHOWN,
         "weight_offset": -1.5, "weight_scale": 2.0}]
    assert all(isinstance(cell["id"], int) and cell["created_at"]
               for cell in listed)


def test_add_prints_the_cell_it_added(ctx, database, capsys):
    code, out, err = run(capsys, database, "cell-add", "child2", "--child",
                         "--no-check", "--transport-url", CHILD_URL,
                         "-f", "json")
    assert (code, err) == (0, "")
    added = json.loads(out)
    assert (added["name"], added["role"], added["transport_url"]) == (
        "child2", "child", CHILD_SHOWN)


def test_an_empty_tree_lists_nothing(ctx, database, capsys):
    assert run(capsys, database, "cell-list", "-f", "json") == (0, "[]\n",
                                                                "")


#: (arguments of cell-add or cell-remove, exit status, the line on stderr)
#: against the tree_of_two (parent api, child child1; this cell: nova)
REFUSALS = [
    (["cell-add", "child1", "--child", "--transport-url", "local://"], 1,
     "a cell named child1 already exists (a child of this cell)"),
    (["cell-add", "CHILD1", "--child", "--transport-url", "local://"], 1,
     "a cell named child1 already exists (a child of this cell)"),
    (["cell-add", "api", "--child", "--transport-url", "local://"], 1,
     "a cell named api already exists (a parent of this cell)"),
    (["cell-add", "other", "--parent", "--transport-url", "local://"], 1,
     "this cell already has a parent, api; a cell has at most one "
     "(remove it first)"),
    (["cell-add", "nova", "--child", "--transport-url", "local://"], 1,
     "cell nova is this cell ([cells] name); it cannot be its own child"),
    (["cell-add", "nova", "--parent", "--transport-url", "local://"], 1,
     "cell nova is this cell ([cells] name); it cannot be its own parent"),
    (["cell-add", "", "--child", "--transport-url", "local://"], 2,
     "invalid cell name '': it is empty"),
    (["cell-add", "x" * 256, "--child", "--transport-url", "local://"], 2,
     f"invalid cell name '{'x' * 59}...: it has 256 characters, more "
     f"than 255"),
    (["cell-add", "a b", "--child", "--transport-url", "local://"], 2,
     "invalid cell name 'a b': it contains whitespace or a control "
     "character"),
    (["cell-add", "a\tb", "--child", "--transport-url", "local://"], 2,
     "invalid cell name 'a\\tb': it contains whitespace or a control "
     "character"),
    (["cell-add", "a!b", "--child", "--transport-url", "local://"], 2,
     "invalid cell name 'a!b': it contains '!', the cell path separator"),
    (["cell-add", "c2", "--child", "--transport-url", "nonsense"], 2,
     "invalid transport URL nonsense for cell c2: oslo.messaging cannot "
     "parse it: No scheme specified"),
    (["cell-add", "c2", "--child", "--transport-url",
      f"rabbit://guest:{SECRET}@h:port/"], 2,
     "invalid transport URL rabbit://guest:***@h:port/ for cell c2: "
     "oslo.messaging cannot parse it: invalid literal for int() with "
     "base 10: 'port'"),
    (["cell-add", "c2", "--child", "--transport-url",
      f"nosuchbus://guest:{SECRET}@h/"], 2,
     "invalid transport URL nosuchbus://guest:***@h/ for cell c2: no "
     "oslo.messaging driver 'nosuchbus' is installed (installed: "
     + ", ".join(sorted({e.name for e in importlib.metadata.entry_points(
         group=tree.DRIVER_GROUP)})) + ")"),
    (["cell-add", "c2", "--child", "--transport-url", "local://",
      "--weight-offset", "nan"], 2,
     "invalid weight offset nan for cell c2: it must be a finite number"),
    (["cell-add", "c2", "--child", "--transport-url", "local://",
      "--weight-scale=-inf"], 2,
     "invalid weight scale -inf for cell c2: it must be a finite number"),
    (["cell-remove", "gone"], 1, "Cell gone could not be found"),
    (["cell-remove", "a!b"], 2,
     "invalid cell name 'a!b': it contains '!', the cell path separator"),
]


@pytest.mark.parametrize("argv, status, line", REFUSALS,
                         ids=[" ".join(r[0][:2])[:30] + f"-{i}"
                              for i, r in enumerate(REFUSALS)])
def test_a_refusal_is_one_line_and_writes_nothing(tree_of_two, capsys, argv,
                                                  status, line):
    before = snapshot(tree_of_two.engine)

    code, out, err = run(capsys, tree_of_two, *argv)

    assert (code, out, err) == (status, "", f"hoststate: {line}\n")
    assert SECRET not in err
    assert snapshot(tree_of_two.engine) == before


def test_a_refusal_shows_a_traceback_only_with_debug(tree_of_two, capsys):
    code, out, err = run(capsys, tree_of_two, "cell-add", "a!b", "--child",
                         "--transport-url", "local://", "--debug")
    assert (code, out) == (2, "")
    assert err.startswith("Traceback (most recent call last):")
    assert "InvalidCellName" in err


def test_this_cells_name_comes_from_the_configuration(ctx, database, capsys,
                                                      tmp_path):
    conf_file = tmp_path / "nova.conf"
    conf_file.write_text("[cells]\nname = api\n")
    before = snapshot(database.engine)

    refused = run(capsys, database, "--config-file", str(conf_file),
                  "cell-add", "api", "--parent", "--transport-url",
                  "local://")
    added = run(capsys, database, "--config-file", str(conf_file),
                "cell-add", "nova", "--parent", "--no-check",
                "--transport-url", "local://", "-f", "value", "-c", "name")

    assert refused == (1, "", "hoststate: cell api is this cell ([cells] "
                              "name); it cannot be its own parent\n")
    assert added == (0, "nova\n", "")
    assert len(snapshot(database.engine)["cells"]) == \
        len(before["cells"]) + 1


def test_a_name_equal_only_by_collation_is_refused_as_a_duplicate(
        ctx, database):
    """MariaDB's collation ignores accents; the unique key refuses what the
    check here lets through, and the refusal is the same typed error."""
    tree.add(ctx, "cafe", "child", "local://")
    if database.backend != "mysql":
        tree.add(ctx, "caf\u00e9", "child", "local://")
        assert [c.name for c in tree.list_cells(ctx)] == ["cafe",
                                                          "caf\u00e9"]
        return
    before = snapshot(database.engine)
    with pytest.raises(exception.CellExists) as refused:
        tree.add(ctx, "caf\u00e9", "child", "local://")
    assert str(refused.value) == \
        "a cell named cafe already exists (a child of this cell)"
    assert snapshot(database.engine) == before


def test_cell_list_needs_the_schema(empty_database, capsys):
    empty_database.engine.connect().close()     # SQLite: the file exists
    code, out, err = run(capsys, empty_database, "cell-list")
    shown = empty_database.engine.url.render_as_string(hide_password=True)
    assert (code, out, err) == (1, "", f"hoststate: database {shown} has no "
                                       f"hoststate schema; run hoststate db "
                                       f"sync\n")
