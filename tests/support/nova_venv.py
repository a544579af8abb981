"""A virtual environment holding a released Nova, for the differential test.

``ensure()`` returns a ``NovaVenv`` with ``nova==<version>`` installed from
PyPI (``$HOSTSTATE_NOVA_VERSION``, default ``DEFAULT_VERSION``), cached at
``$HOSTSTATE_NOVA_VENV`` or ``~/.cache/hoststate/nova-venvs/nova-<version>``
and reused while its Nova imports. Beside Nova it holds the legacy
RamFilter, CoreFilter and DiskFilter modules (with their Aggregate*
variants), which Nova no longer ships: the three files are taken from the
last wheel that has them (``LEGACY_VERSION``) into a package of their own,
``LEGACY_PACKAGE``, under ``legacy_dir``; they are loaded against the
installed Nova's base classes (they import nothing else).

Two sessions may race to build the same venv: each builds in a temporary
directory beside the target and renames it into place; the loser finds the
target there, discards its own and uses the winner's (a venv's python
finds its packages from where it is run, so the renamed venv works; its
console scripts keep the temporary path and are never used).

``$HOSTSTATE_NOVA_PYTHON`` names the interpreter to build the venv with
(default: the one running the tests), for a Nova release that needs
another Python.
"""
import dataclasses
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile

DEFAULT_VERSION = "34.0.0"
#: The last Nova release whose wheel ships RamFilter, CoreFilter and
#: DiskFilter (Stein; removed in Train 20.0.0). Its Aggregate* variants
#: are the ones Ussuri 21 still shipped, with the same rules.
LEGACY_VERSION = "19.3.2"
LEGACY_FILES = ("ram_filter.py", "core_filter.py", "disk_filter.py")
LEGACY_PACKAGE = "hoststate_nova_legacy"
#: Seconds pip may take for the whole installation (a cold one takes about
#: a minute on a fast network).
PIP_TIMEOUT_S = 900
_MARKER = "hoststate-nova-venv.txt"


class NovaVenvUnavailable(Exception):
    """Nova could not be installed; the message carries pip's own words."""


@dataclasses.dataclass(frozen=True)
class NovaVenv:
    path: pathlib.Path
    version: str
    #: seconds this session spent building it (0.0 when it was reused)
    build_seconds: float

    @property
    def python(self):
        return self.path / "bin" / "python"

    @property
    def legacy_dir(self):
        """The directory to put on sys.path for ``LEGACY_PACKAGE``."""
        return self.path / "hoststate-legacy"


def version():
    return os.environ.get("HOSTSTATE_NOVA_VERSION") or DEFAULT_VERSION


def location(nova_version):
    configured = os.environ.get("HOSTSTATE_NOVA_VENV")
    if configured:
        return pathlib.Path(configured).expanduser()
    return (pathlib.Path.home() / ".cache" / "hoststate" / "nova-venvs" /
            f"nova-{nova_version}")


def ensure(nova_version=None, path=None):
    """The venv of ``nova_version`` at ``path``, built if it is missing or
    broken. Raises NovaVenvUnavailable with pip's error when it cannot be
    built (no network, no such release)."""
    nova_version = nova_version or version()
    path = pathlib.Path(path) if path else location(nova_version)
    if usable(path, nova_version):
        return NovaVenv(path, nova_version, 0.0)
    started = time.monotonic()
    path.parent.mkdir(parents=True, exist_ok=True)
    building = pathlib.Path(tempfile.mkdtemp(prefix=f".{path.name}.",
                                             dir=path.parent))
    building.chmod(0o755)       # mkdtemp's 0700 would be the venv's
    try:
        _build(building, nova_version)
        _move_into_place(building, path, nova_version)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    if not usable(path, nova_version):
        raise NovaVenvUnavailable(
            f"the Nova {nova_version} venv at {path} does not import nova")
    return NovaVenv(path, nova_version, time.monotonic() - started)


def usable(path, nova_version):
    """Whether ``path`` is a finished venv whose nova (and legacy filters)
    import, with Nova at ``nova_version``."""
    python = pathlib.Path(path) / "bin" / "python"
    if not (pathlib.Path(path) / _MARKER).exists() or not python.exists():
        return False
    legacy = str(pathlib.Path(path) / "hoststate-legacy")
    probe = (f"import sys; sys.path.insert(0, {legacy!r});"
             f" import nova, {LEGACY_PACKAGE}; from importlib import metadata;"
             f" print(metadata.version('nova'))")
    result = subprocess.run([str(python), "-c", probe], capture_output=True,
                            text=True, timeout=120)
    return result.returncode == 0 and \
        result.stdout.strip().splitlines()[-1:] == [nova_version]


def _build(directory, nova_version):
    base_python = os.environ.get("HOSTSTATE_NOVA_PYTHON") or sys.executable
    _run([base_python, "-m", "venv", str(directory)], "python -m venv")
    python = str(directory / "bin" / "python")
    # --no-compile: byte-compiling all of Nova and its dependencies is a
    # third of a cold install (38 s against 27 s here); the differential
    # side imports a small part, compiled as it is first imported
    _run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check",
          "--no-compile", f"nova=={nova_version}"],
         f"pip install nova=={nova_version}")
    _extract_legacy_filters(python, directory / "hoststate-legacy")
    (directory / _MARKER).write_text(
        f"nova {nova_version}; legacy filters from nova {LEGACY_VERSION}\n")


def _extract_legacy_filters(python, target):
    """The legacy filter modules, from the legacy wheel into
    ``target/LEGACY_PACKAGE`` (only those three files are kept)."""
    with tempfile.TemporaryDirectory() as download:
        _run([python, "-m", "pip", "download", "-q", "--no-deps",
              "--disable-pip-version-check", "-d", download,
              f"nova=={LEGACY_VERSION}"],
             f"pip download nova=={LEGACY_VERSION}")
        [wheel] = pathlib.Path(download).glob("nova-*.whl")
        package = target / LEGACY_PACKAGE
        package.mkdir(parents=True)
        (package / "__init__.py").write_text(
            f'"""RamFilter, CoreFilter, DiskFilter and their Aggregate* '
            f'variants, from nova {LEGACY_VERSION}."""\n')
        with zipfile.ZipFile(wheel) as archive:
            for name in LEGACY_FILES:
                member = f"nova/scheduler/filters/{name}"
                (package / name).write_bytes(archive.read(member))


def _move_into_place(building, path, nova_version):
    """Rename the finished venv to ``path``; a venv another session put
    there first (and that works) wins, a broken one is replaced."""
    try:
        os.rename(building, path)
        return
    except OSError:
        if usable(path, nova_version):
            return
    stale = path.with_name(f".{path.name}.stale-{os.getpid()}")
    try:
        os.rename(path, stale)
    except OSError:
        pass
    os.rename(building, path)
    shutil.rmtree(stale, ignore_errors=True)


def _run(command, what):
    try:
        result = subprocess.run(command, capture_output=True, text=True,
                                timeout=PIP_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NovaVenvUnavailable(f"{what} failed: {exc}") from None
    if result.returncode != 0:
        output = (result.stderr.strip() or result.stdout.strip())
        raise NovaVenvUnavailable(
            f"{what} failed (exit {result.returncode}): {_last_lines(output)}")


def _last_lines(text, count=8):
    """pip's last lines, without its warnings about local index paths."""
    lines = [line for line in text.splitlines()
             if not line.startswith("WARNING: Location ")]
    return "\n".join(lines[-count:])
