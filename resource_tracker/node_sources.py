"""What one node's recount takes of a host-wide read.

An agent reads everything its host's nodes count in one go
(``usage_source.read_host``); each node's recount is then given its own
part of it.
"""


def of_node(host, nodename, by_node, migrations, others, ledger):
    """The part of a host-wide read that one node's recount needs (the
    ledger by node id: the tracker picks its node's)."""
    instances = by_node.get(nodename, [])
    mine = [m for m in migrations
            if (m.source_compute, m.source_node) == (host, nodename)
            or (m.dest_compute, m.dest_node) == (host, nodename)]
    by_uuid = {}
    if mine:   # only the migrations' instances are looked up
        by_uuid.update(others)
        # a move between two nodes of this host: its instance lives on
        # the other node, and is this host's too
        moving = {m.instance_uuid for m in mine} - set(others)
        for node_instances in by_node.values():
            by_uuid.update((i.uuid, i) for i in node_instances
                           if i.uuid in moving)
    return instances, mine, by_uuid, ledger
