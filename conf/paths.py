"""[DEFAULT] state_path: where hoststate keeps its local state."""

import os

from oslo_config import cfg

from hoststate.conf import limits

_STATE_PATH_SAMPLE = '~/.local/share/hoststate'

path_opts = [
    cfg.StrOpt(
        'state_path',
        default=os.path.expanduser(_STATE_PATH_SAMPLE),
        sample_default=_STATE_PATH_SAMPLE,
        max_length=limits.PATH_LENGTH,
        help="""
Directory holding hoststate's local state. When [database]
connection is not set, the embedded SQLite database is the file
``hoststate.sqlite`` in this directory. A leading ``~`` is expanded
when the path is used. Other options may refer to this one as
``$state_path``.
"""),
]


def register_opts(conf):
    conf.register_opts(path_opts)


def list_opts():
    return {'DEFAULT': path_opts}
