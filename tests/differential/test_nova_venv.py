"""support/nova_venv.py without the network: a cached venv is reused, two
sessions racing to build one end with one working venv, and a failed
build is an error carrying the tool's words.

The "venvs" here are directories shaped like a finished one whose
``bin/python`` is a shell script answering the version probe.
"""
import os
import pathlib

import pytest

from support import nova_venv


def fake_venv(path, version="34.0.0", label="built"):
    """A finished-looking venv at ``path`` whose probe answers
    ``version``."""
    python = pathlib.Path(path) / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(f"#!/bin/sh\necho {version}\n")
    python.chmod(0o755)
    (pathlib.Path(path) / "hoststate-legacy").mkdir()
    (pathlib.Path(path) / nova_venv._MARKER).write_text(label)
    return pathlib.Path(path)


def label(path):
    return (path / nova_venv._MARKER).read_text()


def test_a_cached_venv_is_reused_without_building(tmp_path, monkeypatch):
    cached = fake_venv(tmp_path / "nova-34.0.0")
    monkeypatch.setenv("HOSTSTATE_NOVA_VENV", str(cached))
    # a build would fail: this interpreter cannot make a venv
    monkeypatch.setenv("HOSTSTATE_NOVA_PYTHON", "/bin/false")
    venv = nova_venv.ensure("34.0.0")
    assert (venv.path, venv.build_seconds) == (cached, 0.0)
    assert venv.python == cached / "bin" / "python"


def test_a_venv_of_another_version_is_not_reused(tmp_path, monkeypatch):
    cached = fake_venv(tmp_path / "venv", version="33.0.2")
    assert not nova_venv.usable(cached, "34.0.0")
    assert nova_venv.usable(cached, "33.0.2")


def test_the_first_finished_build_is_renamed_into_place(tmp_path):
    building = fake_venv(tmp_path / ".building", label="mine")
    target = tmp_path / "nova-34.0.0"
    nova_venv._move_into_place(building, target, "34.0.0")
    assert label(target) == "mine"
    assert not building.exists()


def test_a_session_that_lost_the_race_keeps_the_winners(tmp_path):
    target = fake_venv(tmp_path / "nova-34.0.0", label="winner")
    building = fake_venv(tmp_path / ".building", label="loser")
    nova_venv._move_into_place(building, target, "34.0.0")
    assert label(target) == "winner"


def test_a_broken_venv_in_place_is_replaced(tmp_path):
    target = tmp_path / "nova-34.0.0"
    (target / "bin").mkdir(parents=True)        # no marker: unfinished
    building = fake_venv(tmp_path / ".building", label="mine")
    nova_venv._move_into_place(building, target, "34.0.0")
    assert label(target) == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nova-34.0.0"]


def test_a_failed_build_says_what_failed_and_leaves_nothing(tmp_path,
                                                            monkeypatch):
    monkeypatch.setenv("HOSTSTATE_NOVA_PYTHON", "/bin/false")
    with pytest.raises(nova_venv.NovaVenvUnavailable) as caught:
        nova_venv.ensure("34.0.0", path=tmp_path / "nova-34.0.0")
    assert str(caught.value).startswith("python -m venv failed (exit 1)")
    assert os.listdir(tmp_path) == []
