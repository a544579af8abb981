"""What a compute agent may ask the conductor to do.

The conductor runs remotable object methods for agents that hold no
database credentials, so it is the only gate between a hypervisor host and
the database. Two rules:

* **an allow-list**: only the object classes and methods an agent needs
  are callable at all (:data:`ALLOWED`); anything else is refused;
* **ownership**: a write touches only rows of the caller's own host: its
  compute nodes, its service, the instances placed on it and the
  migrations with it at one end. Both the object as sent and the row as
  stored must belong to the caller, so an agent cannot take another
  host's row by sending an object that names its own host with the other
  row's id.

The caller is the host named by the request context (``service_host``).
That is what the message claims; telling one host from another on the
wire is the broker's job (a broker user per host, with permissions on its
own queues). These rules stop an agent that is wrong about what it owns,
and any forged call that names a host, from touching another host's rows.

Every refusal raises :class:`hoststate.exception.ConductorRefused` naming
the class, the method, the caller and why, before anything is written.
"""
from hoststate import exception

#: reads: any row (an agent looks up nodes it may take over, migrations
#: and instances that reach it from elsewhere)
READ = "read"
#: writes: the caller's rows only
WRITE = "write"

#: class methods that write the objects of their first argument: each
#: must be the caller's
WRITE_EACH = "write each"
#: class methods that write rows of the host their ``host`` argument
#: names: it must be the caller
WRITE_OWN_HOST = "write own host"

#: {(object name, method): kind}
ALLOWED = {
    ("Service", "get_by_compute_host"): READ,
    ("Service", "get_by_host_and_binary"): READ,
    ("Service", "get_by_id"): READ,
    ("Service", "create"): WRITE,
    ("Service", "save"): WRITE,
    ("ServiceList", "get_by_host"): READ,
    ("ServiceList", "get_by_binary"): READ,
    ("ComputeNode", "get_by_id"): READ,
    ("ComputeNode", "get_by_uuid"): READ,
    ("ComputeNode", "get_by_host_and_nodename"): READ,
    ("ComputeNode", "get_by_nodename"): READ,
    ("ComputeNode", "create"): WRITE,
    ("ComputeNode", "save"): WRITE,
    ("ComputeNode", "save_with_ledger"): WRITE,
    ("ComputeNode", "destroy"): WRITE,
    ("ComputeNode", "undelete"): WRITE,
    ("ComputeNodeList", "get_all_by_host"): READ,
    ("ComputeNodeList", "get_all_by_uuids"): READ,
    ("ComputeNodeList", "get_nodenames_by_host"): READ,
    ("ComputeNodeList", "get_by_service_id"): READ,
    ("ComputeNodeList", "create_all"): WRITE_EACH,
    # each node as sent here, each as stored in the method itself
    ("ComputeNodeList", "save_all"): WRITE_EACH,
    ("ComputeHostRows", "nodes_of_host"): READ,
    ("ComputeHostRows", "usage_of_host"): READ,
    ("ComputeHostRows", "placed_instance"): READ,
    ("ComputeHostRows", "take_build"): WRITE_OWN_HOST,
    ("ComputeHostRows", "changes_of_host"): READ,
    ("Instance", "destroy"): WRITE,
    ("Instance", "get_by_uuid"): READ,
    ("Instance", "save"): WRITE,
    ("InstanceList", "get_by_host"): READ,
    ("InstanceList", "get_by_host_and_node"): READ,
    ("InstanceList", "get_by_uuids"): READ,
    ("Migration", "get_by_id"): READ,
    ("Migration", "get_by_uuid"): READ,
    ("Migration", "create"): WRITE,
    ("Migration", "save"): WRITE,
    ("MigrationList", "get_in_progress_by_host"): READ,
    ("MigrationList", "get_in_progress_by_host_and_node"): READ,
    ("MigrationList", "get_by_instance_uuid"): READ,
    ("Allocation", "get_by_consumer"): READ,
    ("AllocationList", "get_by_instance"): READ,
    ("AllocationList", "get_by_node"): READ,
    ("AllocationList", "get_by_nodes"): READ,
    ("AggregateList", "get_by_host"): READ,
}


def refuse(objname, method, caller, reason):
    raise exception.ConductorRefused(objname=objname, method=method,
                                     caller=caller, reason=reason)


def check_allowed(objname, method, caller):
    """The kind of call (READ or WRITE), or a refusal."""
    kind = ALLOWED.get((objname, method))
    if kind is None:
        refuse(objname, method, caller, "not on the conductor's allow-list")
    if not caller:
        refuse(objname, method, caller,
               "the request context names no service host")
    return kind


def check_host_argument(objname, method, caller, kwargs):
    """Refuse a WRITE_OWN_HOST call whose ``host`` (sent by keyword) is
    not the caller."""
    host = kwargs.get("host")
    if host != caller:
        refuse(objname, method, caller,
               f"it writes rows of host {host!r}, not the caller's")


def check_owned(obj, method, caller, stored=None):
    """Refuse a write to ``obj`` unless the caller owns it as sent and,
    when the row exists, as stored (``stored``: the row's object as read
    by the conductor, or None for a new row). An instance sent with no
    host is one its agent gives up (a failed build handed back): only
    its row as stored must be the caller's."""
    for which, candidate in (("as sent", obj), ("as stored", stored)):
        if candidate is None or (candidate is obj and stored is not None
                                 and _given_up(obj)):
            continue
        owners = owners_of(candidate)
        if caller not in owners:
            shown = ", ".join(sorted(o for o in owners if o)) or "no host"
            refuse(obj.obj_name(), method, caller,
                   f"the {obj.obj_name()} {which} belongs to {shown}")


def _given_up(obj):
    return obj.obj_name() == "Instance" and obj.obj_get("host") is None


def owners_of(obj):
    """The hosts that may write ``obj``'s row."""
    name = obj.obj_name()
    if name == "Migration":
        return {obj.obj_get("source_compute"), obj.obj_get("dest_compute")}
    return {obj.obj_get("host")}
