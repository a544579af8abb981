"""``hoststate cells`` refuses a configuration it cannot run with, in one
line (exit 2), before it connects to anything or writes anything."""
import pytest

from hoststate import conf as hs_conf
from hoststate.cli import main as cmd_main


@pytest.fixture(autouse=True)
def default_config():
    """Commands load files into the global CONF; leave it at the defaults."""
    yield
    hs_conf.load(args=[], config_files=[])


@pytest.mark.parametrize("text, line", [
    ("[cells]\nenable = true\ncapabilities = hypervisor=kvm, os\n",
     "configuration error: Invalid value 'hypervisor=kvm, os' for option "
     "[cells] capabilities: invalid cell capability 'os': no '=' between a "
     "key and its values (set in {path})"),
    ("[cells]\nenable = true\ncapabilities = os=linux, os=windows\n",
     "configuration error: Invalid value 'os=linux, os=windows' for option "
     "[cells] capabilities: invalid cell capability 'os=windows': key 'os' "
     "is given twice (set in {path})"),
    ("[DEFAULT]\ntransport_url = rabbit://guest:guest@127.0.0.1:5672/x\n"
     "[cells]\nenable = false\n",
     "configuration error: Invalid value False for option [cells] enable: "
     "the cells service runs only in a cell that takes part in cell "
     "scheduling"),
    ("[cells]\nenable = true\n",
     "configuration error: Invalid value None for option [DEFAULT] "
     "transport_url: the cells service needs a message broker "
     "(rabbit://...): on the in-process bus no other process can reach it"),
    ("[DEFAULT]\ntransport_url = rabbit://guest:guest@127.0.0.1:5672/x\n"
     "[cells]\nenable = true\nscheduler_filters = DownCellFilter, Nope\n",
     "configuration error: Invalid value 'Nope' for option [cells] "
     "scheduler_filters: no cell filter 'Nope'; known: CapabilitiesFilter, "
     "CapacityFilter, DownCellFilter, TargetCellFilter"),
])
def test_a_configuration_the_service_cannot_run_with_is_one_line(
        tmp_path, capsys, text, line):
    path = tmp_path / "cells.conf"
    path.write_text(text)
    database = tmp_path / "cell.sqlite"
    code = cmd_main.main(["--config-file", str(path), "--database-url",
                          f"sqlite:///{database}", "cells"])
    out, err = capsys.readouterr()
    assert (code, out, err) == (2, "", f"hoststate: "
                                       f"{line.format(path=path)}\n")
    assert not database.exists()


def test_cell_capacities_without_cells_is_one_line(tmp_path, capsys):
    path = tmp_path / "cells.conf"
    path.write_text("[cells]\nenable = false\n")
    code = cmd_main.main(["--config-file", str(path), "cell-capacities"])
    out, err = capsys.readouterr()
    assert (code, out, err) == (
        2, "", "hoststate: configuration error: Invalid value False for "
               "option [cells] enable: cell-capacities asks this cell's "
               "cells service, which runs only with cells enabled\n")


def test_cell_capacities_with_no_cells_service_is_one_line(
        tmp_path, capsys, rabbitmq_vhosts):
    path = tmp_path / "cells.conf"
    path.write_text(f"[DEFAULT]\ntransport_url = {rabbitmq_vhosts('lone')}\n"
                    "[cells]\nenable = true\nname = lone\ncall_timeout = 1\n")
    code = cmd_main.main(["--config-file", str(path), "cell-capacities"])
    out, err = capsys.readouterr()
    assert (code, out) == (1, "")
    assert err == ("hoststate: cell lone did not answer within 1 s; check "
                   "that its cells service runs on [DEFAULT] transport_url\n")
