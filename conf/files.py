"""Why a configuration file could not be read, as one typed error.

oslo.config reports an unreadable file in five different ways (its own
not-found, permission-denied and parse errors, a bare ``UnicodeDecodeError``
that does not say which file, an ``IsADirectoryError``...). :func:`explain`
turns each into :class:`hoststate.exception.ConfigFileInvalid` naming the
file and saying what is wrong with it, on one line.
"""
import errno
import glob
import os
import re

from oslo_config import cfg

from hoststate import exception
from hoststate.conf import utils

# oslo's parse errors read "at <path>:<line>, <what>"
_PARSE_DETAIL = re.compile(r"^at (?P<path>.*?):(?P<line>\d+), (?P<what>.*)$",
                           re.DOTALL)


def candidates(args, config_files):
    """The files oslo.config reads for ``args`` and ``config_files``, in
    order: ``--config-file`` arguments (which replace ``config_files``
    when there is one), then the ``*.conf`` files of ``--config-dir``
    arguments."""
    named = _option_values(args, "--config-file")
    paths = named or list(config_files)
    for directory in _option_values(args, "--config-dir"):
        paths += sorted(glob.glob(os.path.join(directory, "*.conf")))
    return paths


def _option_values(args, option):
    values = []
    for index, arg in enumerate(args):
        if arg == option and index + 1 < len(args):
            values.append(args[index + 1])
        elif arg.startswith(option + "="):
            values.append(arg[len(option) + 1:])
    return values


def explain(exc, paths):
    """``exc`` (raised while oslo.config read ``paths``) as a
    ConfigFileInvalid, or None when it is not about reading a file."""
    if isinstance(exc, cfg.ConfigFilesNotFoundError):
        return _invalid(_first(exc.config_files), "does not exist")
    if isinstance(exc, cfg.ConfigFilesPermissionDeniedError):
        return _invalid(_first(exc.config_files),
                        "cannot be read: permission denied")
    if isinstance(exc, cfg.ConfigDirNotFoundError):
        return _invalid(exc.config_dir,
                        "does not exist (it was given as --config-dir)")
    if isinstance(exc, cfg.ConfigFileParseError):
        return _invalid(exc.config_file,
                        "is not valid INI: " + _parse_detail(exc.msg))
    if isinstance(exc, UnicodeDecodeError):
        return _undecodable(exc, paths)
    if isinstance(exc, OSError) and exc.filename is not None:
        return _invalid(exc.filename, _os_reason(exc))
    return None


def _invalid(path, reason):
    return exception.ConfigFileInvalid(path=path, reason=reason)


def _first(paths):
    paths = list(paths)
    return paths[0] if paths else "(unknown)"


def _parse_detail(message):
    """oslo's "at <path>:<line>, <what>" as "line <line>: <what>"."""
    found = _PARSE_DETAIL.match(str(message))
    if found is None:
        return utils.shorten(message)
    return "line %s: %s" % (found["line"], utils.shorten(found["what"]))


def _undecodable(exc, paths):
    """The first of ``paths`` that is not UTF-8 text; oslo.config's
    UnicodeDecodeError does not say which file it was reading."""
    for path in paths:
        try:
            with open(path, "rb") as handle:
                handle.read().decode("utf-8")
        except UnicodeDecodeError as found:
            return _invalid(path, "is not UTF-8 text (a binary file?): byte "
                            "0x%02x at offset %d" % (found.object[found.start],
                                                     found.start))
        except OSError:
            continue
    return _invalid(_first(paths), "is not UTF-8 text: %s" % exc.reason)


def _os_reason(exc):
    if exc.errno == errno.EISDIR:
        return "is a directory, not a file"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "cannot be read: permission denied"
    return "cannot be read: %s" % (exc.strerror or exc)
