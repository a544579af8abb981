"""The installed version of hoststate."""
from importlib import metadata


def version_string():
    try:
        return metadata.version("hoststate")
    except metadata.PackageNotFoundError:  # running from a bare source tree
        return "0+unknown"
