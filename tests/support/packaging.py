"""Build hoststate from a copy of the source tree and install it in a venv."""
import configparser
import os
import pathlib
import shutil
import site
import subprocess
import sys
import venv

REPO = pathlib.Path(__file__).resolve().parents[2]
NOT_CODE = {"tests", "benchmarks", "build", "dist", ".git", ".ci"}


def source_packages(root=REPO):
    """Dotted names of every code directory with an __init__.py."""
    names = {"hoststate"}
    for init in root.rglob("__init__.py"):
        parts = init.parent.relative_to(root).parts
        if not parts or parts[0] in NOT_CODE or any(
                p.startswith(".") or p.endswith(".egg-info") for p in parts):
            continue
        names.add(".".join(("hoststate",) + parts))
    return names


def declared_packages(setup_cfg):
    parser = configparser.ConfigParser()
    parser.read(setup_cfg)
    return {line.strip() for line in parser["options"]["packages"].splitlines()
            if line.strip()}


def copy_source(destination):
    ignore = shutil.ignore_patterns(".git", "build", "dist", "*.egg-info",
                                    "__pycache__", ".pytest_cache",
                                    ".benchmarks", ".hypothesis", "*.sqlite*")
    shutil.copytree(REPO, destination, ignore=ignore)
    return destination


def run(command, **kwargs):
    return subprocess.run(command, capture_output=True, text=True,
                          timeout=300, **kwargs)


def build_wheel(source, wheel_dir):
    """A plain (non-editable) wheel of ``source``, built without network."""
    result = run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                  "--no-build-isolation", "-w", str(wheel_dir), str(source)])
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = pathlib.Path(wheel_dir).glob("hoststate-*.whl")
    return wheel


def make_venv(directory, wheel):
    """A fresh venv with ``wheel`` installed.

    The venv sees the system's site-packages for hoststate's dependencies
    (so the test needs no network); hoststate itself comes only from the
    wheel, which ``check_imports`` verifies by module path.
    """
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(directory)
    python = pathlib.Path(directory) / "bin" / "python"
    _see_running_venv(python)
    result = run([sys.executable, "-m", "pip", "--python", str(python),
                  "install", "--no-deps", "--no-index", str(wheel)])
    if result.returncode != 0 and "no such option: --python" in result.stderr:
        result = run([str(python), "-m", "pip", "install", "--no-deps",
                      "--no-index", str(wheel)])
    assert result.returncode == 0, result.stdout + result.stderr
    return python


def _see_running_venv(python):
    """When the tests themselves run in a venv, hoststate's dependencies
    are in its site-packages, not the system's: the new venv gets them
    as plain path lines of a ``.pth`` (which, unlike a site directory,
    runs none of the ``.pth`` files there: an editable hoststate stays
    out)."""
    if sys.prefix == sys.base_prefix:
        return
    paths = subprocess.run(
        [str(python), "-c", "import sysconfig; "
         "print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True).stdout.strip()
    running = [p for p in site.getsitepackages() if p.startswith(sys.prefix)]
    pathlib.Path(paths, "running-venv.pth").write_text(
        "".join(f"{p}\n" for p in running))


CHECK_IMPORTS = """
import importlib, pathlib, sys, sysconfig
site = pathlib.Path(sysconfig.get_paths()["purelib"]).resolve()
failed = []
for name in sys.argv[1:]:
    try:
        module = importlib.import_module(name)
    except Exception as exc:
        failed.append(f"{name}: {type(exc).__name__}: {exc}")
        continue
    where = pathlib.Path(module.__file__).resolve()
    if site not in where.parents:
        failed.append(f"{name}: imported from {where}, not from the install")
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""


def check_imports(python, packages, cwd):
    """Import each package in the venv; a failure lists what was missing."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return run([str(python), "-c", CHECK_IMPORTS, *sorted(packages)],
               cwd=cwd, env=env)
