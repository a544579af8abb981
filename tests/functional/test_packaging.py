"""A plain ``pip install .`` carries every subpackage and the command."""
import os

import pytest

from support import packaging

# One subpackage the check must notice when setup.cfg forgets it.
FORGOTTEN = "hoststate.scheduler.weights"


def test_setup_cfg_declares_every_code_directory():
    assert packaging.declared_packages(packaging.REPO / "setup.cfg") == \
        packaging.source_packages()


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("install")
    source = packaging.copy_source(tmp / "src")
    wheel = packaging.build_wheel(source, tmp / "wheels")
    return packaging.make_venv(tmp / "venv", wheel), tmp


def test_installed_wheel_imports_every_subpackage(installed):
    python, tmp = installed
    result = packaging.check_imports(python, packaging.source_packages(), tmp)
    assert result.returncode == 0, result.stdout + result.stderr


def test_installed_command_reports_its_version(installed):
    python, tmp = installed
    result = packaging.run([str(python.parent / "hoststate"), "--version"],
                           cwd=tmp)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "hoststate 0.1.0"


def test_installed_command_creates_the_schema(installed):
    python, tmp = installed
    url = f"sqlite:///{tmp / 'installed.sqlite'}"
    result = packaging.run([str(python.parent / "hoststate"),
                            "--database-url", url, "db", "sync"], cwd=tmp)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == (
        f"{url}: upgraded from an empty database to revision 0007")


def test_a_subpackage_missing_from_setup_cfg_fails_the_check(tmp_path):
    source = packaging.copy_source(tmp_path / "src")
    setup_cfg = source / "setup.cfg"
    text = setup_cfg.read_text()
    assert f"    {FORGOTTEN}\n" in text
    setup_cfg.write_text(text.replace(f"    {FORGOTTEN}\n", ""))
    wheel = packaging.build_wheel(source, tmp_path / "wheels")
    python = packaging.make_venv(tmp_path / "venv", wheel)

    result = packaging.check_imports(python, packaging.source_packages(),
                                     tmp_path)

    assert result.returncode == 1
    assert result.stdout.splitlines()[0].startswith(f"{FORGOTTEN}: ")
    assert os.fspath(packaging.REPO) not in result.stdout or \
        "not from the install" in result.stdout
