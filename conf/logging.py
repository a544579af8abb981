"""Service logging: oslo.log's own options, with Nova's names.

The long-running commands (``hoststate scheduler``, ``conductor``,
``compute``) log through oslo.log as Nova's services do, so the options a
nova.conf sets for that (``debug``, ``log_file``, ``log_dir``,
``use_journal``, ``log_config_append``, ``default_log_levels`` ...) are
read as they are. They are oslo.log's own option objects, registered here
up front (as conf/rpc.py does with oslo.messaging's) so ``hoststate
config`` shows them and ``load`` validates them before a service starts.

They are registered as ordinary options, not as command-line ones as
``oslo_log.log.register_options`` does: hoststate's commands parse their
own arguments (``--debug`` is the ``hoststate`` command's), and a
ConfigOpts that has parsed its arguments once refuses new command-line
options, while :func:`hoststate.conf.load` registers every option again on
each load.
"""
from oslo_log import _options as log_options


def _log_opts():
    """oslo.log's options (its entry point for oslo-config-generator,
    all in [DEFAULT])."""
    return [opt for _group, opts in log_options.list_opts() for opt in opts]


def register_opts(conf):
    conf.register_opts(_log_opts())


def list_opts():
    return {'DEFAULT': _log_opts()}
