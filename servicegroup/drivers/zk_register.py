"""Creating and deleting the zk driver's ephemeral znodes, in bulk.

A join of 100,000 simulated hosts must not be 100,000 round trips one
after the other, nor even 100,000 pipelined requests: kazoo wakes its
connection thread once per request, ~0.3 ms each. So each group's members
are listed once, the missing znodes are created in transactions of
:data:`CHUNK` (one ZooKeeper ``multi`` request each: 100,000 znodes in
~3 s), and only znodes already there are looked at one by one (whose
session owns them). The same code serves one member, a batch, and the
re-registration of every member after a lost session.

``wait(async_result)`` is the driver's bounded wait; ``io_errors`` what a
failed or timed-out call raises.
"""
import logging

from kazoo import exceptions as kazoo_exc

#: The zk driver's logger: its logs come under one name.
LOG = logging.getLogger("hoststate.servicegroup.drivers.zk")
#: Creates per transaction: far below ZooKeeper's 1 MB request limit.
CHUNK = 500


def register(client, wanted, session, wait, io_errors):
    """Make sure our ephemeral znode exists for each ``{path: data}`` of
    ``wanted``; ``{path: error}`` of those that could not be made.

    A znode left by an earlier session (a restarted process) is replaced:
    one member per ``(group, host)``.
    """
    failed, listed = _list_groups(client, wanted, wait, io_errors)
    new, existing = [], []
    for path in wanted:
        if path not in failed:
            parent, _, name = path.rpartition("/")
            (existing if name in listed[parent] else new).append(path)
    for start in range(0, len(new), CHUNK):
        chunk = {path: wanted[path] for path in new[start:start + CHUNK]}
        existing += _create(client, chunk, wait, io_errors, failed)
    stats = {path: client.exists_async(path) for path in existing}
    for path, result in stats.items():
        try:
            stat = wait(result)
            if stat is None or stat.ephemeralOwner != session:
                _replace(client, path, wanted[path], stat, wait)
        except io_errors as exc:
            failed[path] = exc
    return failed


def unregister(client, paths, session, wait):
    """Delete the znodes of ``paths`` that are ours on this session (a
    znode of another session belongs to another process). Raises the first
    error of ``io_errors`` kinds; a znode gone meanwhile is fine."""
    stats = [(path, client.exists_async(path)) for path in paths]
    deletes = []
    for path, result in stats:
        stat = wait(result)
        if stat is not None and stat.ephemeralOwner == session:
            deletes.append(client.delete_async(path, version=stat.version))
    for result in deletes:
        try:
            wait(result)
        except kazoo_exc.NoNodeError:
            pass


def _list_groups(client, wanted, wait, io_errors):
    """Create each group's znode if need be and list its children:
    ``({path: error} of members of groups that failed, {group path:
    children})``."""
    groups = {}
    for path in wanted:
        groups.setdefault(path.rpartition("/")[0], []).append(path)
    failed, listed = {}, {}
    for parent, paths in groups.items():
        try:
            wait(client.ensure_path_async(parent))
            listed[parent] = set(wait(client.get_children_async(parent)))
        except io_errors as exc:
            failed.update(dict.fromkeys(paths, exc))
    return failed, listed


def _create(client, chunk, wait, io_errors, failed):
    """Create the ``{path: data}`` of ``chunk`` in one transaction; if it
    fails (a znode made meanwhile), one by one. Returns the paths that
    exist already; records failures in ``failed``."""
    tx = client.transaction()
    for path, data in chunk.items():
        tx.create(path, data, ephemeral=True)
    try:
        if not any(isinstance(r, Exception) for r in wait(tx.commit_async())):
            return []
    except io_errors:
        pass  # the single creates below tell what happened
    pending = {path: client.create_async(path, data, ephemeral=True)
               for path, data in chunk.items()}
    existing = []
    for path, result in pending.items():
        try:
            wait(result)
        except kazoo_exc.NodeExistsError:
            existing.append(path)
        except io_errors as exc:
            failed[path] = exc
    return existing


def _replace(client, path, data, stat, wait):
    LOG.info("Replacing %s, left by an earlier session", path)
    tx = client.transaction()
    if stat is not None:
        tx.delete(path, version=stat.version)
    tx.create(path, data, ephemeral=True)
    for result in wait(tx.commit_async()):
        if isinstance(result, Exception):
            raise result
