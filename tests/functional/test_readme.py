"""The Python examples in README.md run as written."""
import os
import re

from support import packaging


def _python_blocks():
    text = (packaging.REPO / "README.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_readme_has_python_examples():
    assert len(_python_blocks()) >= 1


def test_readme_python_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {}
    for block in _python_blocks():
        exec(compile(block, "README.md", "exec"), namespace)
    assert os.path.exists(tmp_path / "hoststate.sqlite")
    service = namespace["svc"]
    stored = type(service).get_by_id(namespace["ctx"], service.id)
    assert (stored.report_count, stored.last_seen_up is not None) == (1, True)


def test_readme_tracker_example_claims_the_instance(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {}
    for block in _python_blocks():
        exec(compile(block, "README.md", "exec"), namespace)
    node = namespace["compute"].tracker("node-1").node
    # 2 vcpus claimed; memory 4096 plus the default 512 MiB reserved
    assert (node.vcpus_used, node.memory_mb_used, node.local_gb_used) == \
        (2, 4608, 20)
    assert namespace["vm"].node == "node-1"


def test_readme_scheduler_example_claims_a_node(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {}
    for block in _python_blocks():
        exec(compile(block, "README.md", "exec"), namespace)
    chosen = namespace["chosen"]
    assert (chosen.service_host, chosen.nodename) == ("compute-1", "node-1")
    assert namespace["alternates"] == []          # one node only
    node = namespace["compute"].tracker("node-1").node
    stored = type(node).get_by_id(namespace["ctx"], node.id)
    # the tracker's claim (2 vcpus, 4096 MiB + 512 reserved, 20 GiB) and
    # the scheduler's claim of the same flavor
    assert (stored.vcpus_used, stored.memory_mb_used,
            stored.local_gb_used) == (4, 8704, 40)
