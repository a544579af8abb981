"""``cell-add`` asks the cells service at the URL before it stores
anything (cells.handshake): nothing answering, another cell answering,
a link that makes a loop are each one line, exit 1, and the table as it
was; a cell that answers is stored. Real cells services on RabbitMQ
(one vhost per cell), SQLite databases."""
import pytest

from hoststate import conf as hs_conf
from hoststate import rpc
from hoststate.cli import main as cmd_main
from support.cells import InProcessCell, link, stop_all, wait_until
from support.databases import snapshot

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def default_config():
    """Commands load files into the global CONF; leave it at the defaults."""
    yield
    hs_conf.load(args=[], config_files=[])


@pytest.fixture(scope="module")
def line(tmp_path_factory, rabbitmq_module_vhosts):
    """api ── c1 ── g1, and two cells on their own, x and z: every cells
    service running."""
    tmp_path = tmp_path_factory.mktemp("cells")
    cells = [InProcessCell(name, rabbitmq_module_vhosts(name), "sqlite",
                           tmp_path)
             for name in ("api", "c1", "g1", "x", "z")]
    api, c1, g1, x, z = cells
    link(api, c1)
    link(c1, g1)
    for cell in cells:
        cell.start()
    wait_until(lambda: g1.service.path == "api!c1!g1", "g1 knows its path")
    yield cells
    stop_all(cells)
    rpc.cleanup()
    for cell in cells:
        cell.drop()


def add(capsys, tmp_path, cell, *argv):
    """``cell-add`` run at ``cell`` (its database, its bus, its name)."""
    conf_file = tmp_path / f"{cell.name}.conf"
    conf_file.write_text(f"[DEFAULT]\ntransport_url = {cell.bus_url}\n"
                         f"[cells]\nenable = true\nname = {cell.name}\n"
                         f"call_timeout = 2\n")
    before = snapshot(cell.database.engine)["cells"]
    code = cmd_main.main(["--config-file", str(conf_file), "--database-url",
                          cell.database.url, "cell-add", *argv])
    out, err = capsys.readouterr()
    unchanged = snapshot(cell.database.engine)["cells"] == before
    return code, out, err, unchanged


def shown(url):
    return rpc.shown_url(url)


def test_a_url_nothing_answers_on_is_refused(line, capsys, tmp_path,
                                             rabbitmq_vhosts):
    _, _, _, x, _ = line
    silent = rabbitmq_vhosts("silent")
    assert add(capsys, tmp_path, x, "c5", "--child", "--transport-url",
               silent) == (
        1, "", f"hoststate: no cells service of cell c5 at {shown(silent)} "
               f"answered within 2 s; nothing was stored\n", True)


def test_another_cell_answering_is_refused(line, capsys, tmp_path):
    _, c1, _, x, _ = line
    assert add(capsys, tmp_path, x, "c9", "--child", "--transport-url",
               c1.bus_url) == (
        1, "", f"hoststate: the cells service at {shown(c1.bus_url)} is "
               f"cell c1, not c9; nothing was stored\n", True)


def test_an_ancestor_as_a_child_is_a_loop(line, capsys, tmp_path):
    api, _, g1, _, _ = line
    assert add(capsys, tmp_path, g1, "api", "--child", "--transport-url",
               api.bus_url) == (
        1, "", "hoststate: cell api cannot be linked here: it is on this "
               "cell's own path, api!c1!g1 (the tree would have a loop); "
               "nothing was stored\n", True)


def test_a_child_with_another_parent_is_refused(line, capsys, tmp_path):
    _, c1, _, x, _ = line
    assert add(capsys, tmp_path, x, "c1", "--child", "--transport-url",
               c1.bus_url) == (
        1, "", "hoststate: cell c1 cannot be linked here: it already has a "
               "parent, api (the tree would have a loop); nothing was "
               "stored\n", True)


def test_a_descendant_as_the_parent_is_a_loop(line, capsys, tmp_path):
    api, _, g1, _, _ = line
    # the top takes its own grandchild as its parent
    assert add(capsys, tmp_path, api, "g1", "--parent", "--transport-url",
               g1.bus_url) == (
        1, "", "hoststate: cell g1 cannot be linked here: this cell is on "
               "its path, api!c1!g1 (the tree would have a loop); nothing "
               "was stored\n", True)


def test_a_cell_that_answers_is_stored(line, capsys, tmp_path):
    _, _, _, x, z = line
    code, out, err, unchanged = add(capsys, tmp_path, x, "z", "--child",
                                    "--transport-url", z.bus_url, "-f",
                                    "value", "-c", "name", "-c", "role")
    assert (code, out, err, unchanged) == (0, "z\nchild\n", "", False)
