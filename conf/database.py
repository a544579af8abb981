"""[database] and [api_database] connection strings, and database_url()."""

import os

from oslo_config import cfg

from hoststate.conf import limits
from hoststate.conf import utils

#: File name of the embedded SQLite database inside state_path.
SQLITE_FILENAME = 'hoststate.sqlite'

database_group = cfg.OptGroup(
    'database',
    title='Cell database options',
    help='The database holding compute nodes, services and instances.')

api_database_group = cfg.OptGroup(
    'api_database',
    title='API database options',
    help='The top-level database holding cell mappings and flavors.')

database_opts = [
    cfg.StrOpt(
        'connection',
        default=None,
        secret=True,
        max_length=limits.TEXT_LENGTH,
        help="""
SQLAlchemy URL of the cell database, for example
``mysql+pymysql://nova:secret@db.example.org/nova``. Unset means an
embedded SQLite file in [DEFAULT] state_path.
"""),
]

api_database_opts = [
    cfg.StrOpt(
        'connection',
        default=None,
        secret=True,
        max_length=limits.TEXT_LENGTH,
        help='SQLAlchemy URL of the API (top-level) database.'),
]


def database_url(conf, override=None):
    """Return the SQLAlchemy URL of the cell database.

    Precedence: ``override`` (for example a ``--database-url`` argument), then
    ``[database] connection``, then the SQLite file ``hoststate.sqlite`` in
    ``[DEFAULT] state_path`` (``~`` expanded, made absolute). An empty string
    counts as unset at every level. The directory is not created here.
    """
    if override:
        return override
    connection = conf.database.connection
    if connection:
        return connection
    state_path = os.path.abspath(os.path.expanduser(conf.state_path))
    return 'sqlite:///' + os.path.join(state_path, SQLITE_FILENAME)


def register_opts(conf):
    utils.register_group_opts(conf, database_group, database_opts)
    utils.register_group_opts(conf, api_database_group, api_database_opts)


def list_opts():
    return {database_group.name: database_opts,
            api_database_group.name: api_database_opts}
