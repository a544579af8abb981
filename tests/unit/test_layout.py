"""The repository root is the ``hoststate`` package, and ``python -m pytest``
(or any script run from the root) puts that root on ``sys.path``: a
top-level directory or module named like a standard-library module would
then hide it (``./cmd`` once hid ``cmd``, and ``python -m pytest`` failed)."""
import pathlib
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]


def top_level_names(root):
    """Names importable from ``root`` when it is on sys.path."""
    names = set()
    for entry in root.iterdir():
        if entry.name.startswith("."):
            continue
        if entry.is_dir() and not entry.name.startswith("__"):
            names.add(entry.name)
        elif entry.suffix == ".py" and entry.stem != "__init__":
            names.add(entry.stem)
    return names


def test_no_top_level_name_shadows_the_standard_library():
    shadowing = sorted(top_level_names(REPO) & set(sys.stdlib_module_names))
    assert shadowing == []


def test_the_check_sees_a_shadowing_directory(tmp_path):
    (tmp_path / "cmd").mkdir()
    (tmp_path / "scheduler").mkdir()
    (tmp_path / "version.py").write_text("")
    assert top_level_names(tmp_path) & set(sys.stdlib_module_names) == \
        {"cmd"}
