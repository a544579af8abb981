"""hoststate: resource tracking and host selection for Nova-style clouds.

Every code directory of the repository is a subpackage of this one namespace
(``hoststate.conf``, ``hoststate.db``, ``hoststate.objects`` ...); see
setup.cfg's ``package_dir``.
"""
from hoststate.version import version_string

__version__ = version_string()
