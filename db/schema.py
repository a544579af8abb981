"""The SQL schema: every table hoststate stores, as SQLAlchemy Core tables.

Conventions copied from Nova so its operators find what they expect:

* Tables of a cell database (services, compute_nodes, instances, migrations)
  are soft-deleted: ``deleted`` is 0 while the row lives and becomes the row's
  own id when it is deleted, so unique keys that include ``deleted`` allow one
  live row and any number of deleted ones.
* Tables Nova keeps in its API database (aggregates, instance groups, cell and
  host mappings) are deleted for real, as Nova's API database does.
* ``compute_nodes`` and ``services`` carry a ``generation`` that every write
  bumps; writers compare-and-swap on it (see ``hoststate.db.api``).
* Times are naive UTC. MySQL/MariaDB keep microseconds (``DATETIME(6)``),
  because liveness and refresh watermarks compare times closer than 1 s.
"""
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uniq_%(table_name)s0%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

DateTime = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
#: JSON documents (NUMA topologies, PCI pools, stats) stored as text, exactly
#: as the versioned objects serialise them.
JsonText = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")


def _timestamps():
    return [
        sa.Column("created_at", DateTime, nullable=True),
        sa.Column("updated_at", DateTime, nullable=True),
    ]


def _soft_delete():
    return [
        sa.Column("deleted_at", DateTime, nullable=True),
        sa.Column("deleted", sa.Integer, nullable=False, server_default="0"),
    ]


def _id():
    return sa.Column("id", sa.Integer, primary_key=True, autoincrement=True)


services = sa.Table(
    "services", metadata,
    _id(),
    sa.Column("uuid", sa.String(36), nullable=False),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("binary", sa.String(255), nullable=False),
    sa.Column("topic", sa.String(255), nullable=True),
    sa.Column("report_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("disabled_reason", sa.String(255), nullable=True),
    sa.Column("last_seen_up", DateTime, nullable=True),
    sa.Column("forced_down", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("version", sa.Integer, nullable=False, server_default="0"),
    sa.Column("generation", sa.Integer, nullable=False, server_default="0"),
    *_timestamps(), *_soft_delete(),
    sa.UniqueConstraint("uuid"),
    sa.UniqueConstraint("host", "binary", "deleted"),
    sa.UniqueConstraint("host", "topic", "deleted"),
    sa.Index("ix_services_updated_at", "updated_at"),
    sa.Index("ix_services_deleted_at", "deleted_at"),
)

compute_nodes = sa.Table(
    "compute_nodes", metadata,
    _id(),
    sa.Column("uuid", sa.String(36), nullable=False),
    sa.Column("service_id", sa.Integer, sa.ForeignKey("services.id"), nullable=True),
    sa.Column("host", sa.String(255), nullable=True),
    sa.Column("hypervisor_hostname", sa.String(255), nullable=True),
    sa.Column("vcpus", sa.Integer, nullable=False),
    sa.Column("memory_mb", sa.Integer, nullable=False),
    sa.Column("local_gb", sa.Integer, nullable=False),
    sa.Column("vcpus_used", sa.Integer, nullable=False, server_default="0"),
    sa.Column("memory_mb_used", sa.Integer, nullable=False, server_default="0"),
    sa.Column("local_gb_used", sa.Integer, nullable=False, server_default="0"),
    sa.Column("free_ram_mb", sa.Integer, nullable=True),
    sa.Column("free_disk_gb", sa.Integer, nullable=True),
    sa.Column("disk_available_least", sa.Integer, nullable=True),
    sa.Column("current_workload", sa.Integer, nullable=True),
    sa.Column("running_vms", sa.Integer, nullable=True),
    sa.Column("hypervisor_type", sa.String(255), nullable=False),
    sa.Column("hypervisor_version", sa.BigInteger, nullable=False),
    sa.Column("cpu_info", JsonText, nullable=False),
    sa.Column("host_ip", sa.String(39), nullable=True),
    sa.Column("supported_instances", JsonText, nullable=True),
    sa.Column("metrics", JsonText, nullable=True),
    sa.Column("pci_stats", JsonText, nullable=True),
    sa.Column("extra_resources", JsonText, nullable=True),
    sa.Column("stats", JsonText, nullable=True),
    sa.Column("numa_topology", JsonText, nullable=True),
    # the node's traits, one column per writer (the virt driver through
    # the resource tracker; the operator through host-update): JSON text of
    # a sorted list of names, NULL for none (see hoststate.objects.traits)
    sa.Column("driver_traits", JsonText, nullable=True),
    sa.Column("operator_traits", JsonText, nullable=True),
    # double precision everywhere (MySQL's FLOAT is single): the claim's
    # capacity check runs in SQL and must multiply the same ratio Python
    # reads
    sa.Column("cpu_allocation_ratio", sa.Double, nullable=True),
    sa.Column("ram_allocation_ratio", sa.Double, nullable=True),
    sa.Column("disk_allocation_ratio", sa.Double, nullable=True),
    sa.Column("mapped", sa.Integer, nullable=False, server_default="0"),
    sa.Column("generation", sa.Integer, nullable=False, server_default="0"),
    *_timestamps(), *_soft_delete(),
    sa.UniqueConstraint("uuid"),
    sa.UniqueConstraint("host", "hypervisor_hostname", "deleted"),
    sa.Index("ix_compute_nodes_updated_at", "updated_at"),
    sa.Index("ix_compute_nodes_deleted_at", "deleted_at"),
)

instances = sa.Table(
    "instances", metadata,
    _id(),
    sa.Column("uuid", sa.String(36), nullable=False),
    sa.Column("display_name", sa.String(255), nullable=True),
    sa.Column("project_id", sa.String(255), nullable=True),
    sa.Column("user_id", sa.String(255), nullable=True),
    sa.Column("host", sa.String(255), nullable=True),
    sa.Column("node", sa.String(255), nullable=True),
    sa.Column("compute_id", sa.Integer, nullable=True),
    sa.Column("launched_on", sa.String(255), nullable=True),
    sa.Column("availability_zone", sa.String(255), nullable=True),
    sa.Column("vm_state", sa.String(255), nullable=True),
    sa.Column("task_state", sa.String(255), nullable=True),
    sa.Column("power_state", sa.Integer, nullable=True),
    sa.Column("instance_type_id", sa.Integer, nullable=True),
    sa.Column("memory_mb", sa.Integer, nullable=True),
    sa.Column("vcpus", sa.Integer, nullable=True),
    sa.Column("root_gb", sa.Integer, nullable=True),
    sa.Column("ephemeral_gb", sa.Integer, nullable=True),
    sa.Column("image_ref", sa.String(255), nullable=True),
    sa.Column("os_type", sa.String(255), nullable=True),
    sa.Column("flavor", JsonText, nullable=True),
    sa.Column("numa_topology", JsonText, nullable=True),
    sa.Column("pci_requests", JsonText, nullable=True),
    sa.Column("migration_context", JsonText, nullable=True),
    *_timestamps(), *_soft_delete(),
    sa.UniqueConstraint("uuid"),
    sa.Index("ix_instances_host_node_deleted", "host", "node", "deleted"),
    sa.Index("ix_instances_project_id", "project_id"),
    # conductors look for builds nobody finishes (conductor.build_sweep):
    # the few BUILDING rows, not every instance
    sa.Index("ix_instances_vm_state_task_state", "vm_state", "task_state"),
    # a cell's feed of instance changes to its parent (cells.instance_feed)
    # reads the rows stamped since a watermark: created, updated or
    # deleted at or after it, one index per stamp
    sa.Index("ix_instances_created_at", "created_at"),
    sa.Index("ix_instances_updated_at", "updated_at"),
    sa.Index("ix_instances_deleted_at", "deleted_at"),
)

#: Why an instance went wrong, newest last (Nova's table of the same
#: name): a conductor that gives a build up writes the reason of every
#: node it tried, so any conductor can tell ``boot --wait`` why.
instance_faults = sa.Table(
    "instance_faults", metadata,
    _id(),
    sa.Column("instance_uuid", sa.String(36), nullable=False),
    sa.Column("code", sa.Integer, nullable=False),
    sa.Column("message", sa.String(255), nullable=True),
    # one reason per line
    sa.Column("details", JsonText, nullable=True),
    sa.Column("host", sa.String(255), nullable=True),
    *_timestamps(), *_soft_delete(),
    sa.Index("ix_instance_faults_instance_uuid_deleted_created_at",
             "instance_uuid", "deleted", "created_at"),
)

migrations = sa.Table(
    "migrations", metadata,
    _id(),
    sa.Column("uuid", sa.String(36), nullable=False),
    sa.Column("instance_uuid", sa.String(36),
              sa.ForeignKey("instances.uuid"), nullable=False),
    sa.Column("source_compute", sa.String(255), nullable=True),
    sa.Column("dest_compute", sa.String(255), nullable=True),
    sa.Column("source_node", sa.String(255), nullable=True),
    sa.Column("dest_node", sa.String(255), nullable=True),
    sa.Column("dest_host", sa.String(255), nullable=True),
    sa.Column("dest_compute_id", sa.Integer, nullable=True),
    sa.Column("old_instance_type_id", sa.Integer, nullable=True),
    sa.Column("new_instance_type_id", sa.Integer, nullable=True),
    sa.Column("status", sa.String(255), nullable=True),
    sa.Column("migration_type", sa.String(32), nullable=True),
    sa.Column("hidden", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("cross_cell_move", sa.Boolean, nullable=False,
              server_default=sa.false()),
    sa.Column("user_id", sa.String(255), nullable=True),
    sa.Column("project_id", sa.String(255), nullable=True),
    *_timestamps(), *_soft_delete(),
    sa.UniqueConstraint("uuid"),
    sa.Index("ix_migrations_source_compute_source_node", "source_compute",
             "source_node"),
    sa.Index("ix_migrations_dest_compute_dest_node", "dest_compute", "dest_node"),
    sa.Index("ix_migrations_instance_uuid", "instance_uuid"),
)

#: The ledger: one row per consumer (an instance, or the migration that
#: holds the other side of its move) and node, saying exactly what it holds
#: there. A node's usage counters are reserved + the sum of its rows,
#: written in the same transaction as any change of them. Rows are deleted
#: for real: a resource given back leaves no history to filter out.
allocations = sa.Table(
    "allocations", metadata,
    _id(),
    sa.Column("consumer_uuid", sa.String(36), nullable=False),
    sa.Column("instance_uuid", sa.String(36), nullable=False),
    sa.Column("compute_node_id", sa.Integer,
              sa.ForeignKey("compute_nodes.id"), nullable=False),
    sa.Column("vcpus", sa.Integer, nullable=False),
    sa.Column("memory_mb", sa.Integer, nullable=False),
    sa.Column("disk_gb", sa.Integer, nullable=False),
    # the fitted InstanceNUMATopology (cells, pinned cpus, page size)
    sa.Column("numa_topology", JsonText, nullable=True),
    # the PCI devices taken: hardware.pci.Allocation.to_dict()
    sa.Column("pci_allocation", JsonText, nullable=True),
    *_timestamps(),
    sa.UniqueConstraint("consumer_uuid", "compute_node_id"),
    sa.Index("ix_allocations_compute_node_id", "compute_node_id"),
    sa.Index("ix_allocations_instance_uuid", "instance_uuid"),
)

aggregates = sa.Table(
    "aggregates", metadata,
    _id(),
    sa.Column("uuid", sa.String(36), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    *_timestamps(),
    sa.UniqueConstraint("uuid"),
    sa.UniqueConstraint("name"),
)

aggregate_hosts = sa.Table(
    "aggregate_hosts", metadata,
    _id(),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("aggregate_id", sa.Integer,
              sa.ForeignKey("aggregates.id", ondelete="CASCADE"), nullable=False),
    *_timestamps(),
    sa.UniqueConstraint("host", "aggregate_id"),
)

aggregate_metadata = sa.Table(
    "aggregate_metadata", metadata,
    _id(),
    sa.Column("aggregate_id", sa.Integer,
              sa.ForeignKey("aggregates.id", ondelete="CASCADE"), nullable=False),
    sa.Column("key", sa.String(255), nullable=False),
    sa.Column("value", sa.String(255), nullable=False),
    *_timestamps(),
    sa.UniqueConstraint("aggregate_id", "key"),
    sa.Index("ix_aggregate_metadata_key", "key"),
)

instance_groups = sa.Table(
    "instance_groups", metadata,
    _id(),
    sa.Column("uuid", sa.String(36), nullable=False),
    sa.Column("name", sa.String(255), nullable=True),
    sa.Column("user_id", sa.String(255), nullable=True),
    sa.Column("project_id", sa.String(255), nullable=True),
    *_timestamps(),
    sa.UniqueConstraint("uuid"),
)

instance_group_policy = sa.Table(
    "instance_group_policy", metadata,
    _id(),
    sa.Column("group_id", sa.Integer,
              sa.ForeignKey("instance_groups.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("policy", sa.String(255), nullable=False),
    sa.Column("rules", sa.Text, nullable=True),
    *_timestamps(),
    sa.UniqueConstraint("group_id"),
)

instance_group_member = sa.Table(
    "instance_group_member", metadata,
    _id(),
    sa.Column("group_id", sa.Integer,
              sa.ForeignKey("instance_groups.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("instance_uuid", sa.String(36), nullable=False),
    *_timestamps(),
    sa.UniqueConstraint("group_id", "instance_uuid"),
)

cell_mappings = sa.Table(
    "cell_mappings", metadata,
    _id(),
    sa.Column("uuid", sa.String(36), nullable=False),
    sa.Column("name", sa.String(255), nullable=True),
    sa.Column("transport_url", sa.Text, nullable=True),
    sa.Column("database_connection", sa.Text, nullable=True),
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
    *_timestamps(),
    sa.UniqueConstraint("uuid"),
)

host_mappings = sa.Table(
    "host_mappings", metadata,
    _id(),
    sa.Column("cell_id", sa.Integer,
              sa.ForeignKey("cell_mappings.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("host", sa.String(255), nullable=False),
    *_timestamps(),
    sa.UniqueConstraint("host"),
)

#: The cell tree (Nova's cells v1 ``cells`` table): this cell's parent
#: (at most one) and its children, each with the transport URL its cells
#: service is reached at, credentials included. Soft-deleted, as the other
#: tables of a cell database, so a live name is unique and a removed cell
#: leaves its history. The weights are double precision: MySQL's FLOAT is
#: single, and a weight must read back as it was typed.
cells = sa.Table(
    "cells", metadata,
    _id(),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("is_parent", sa.Boolean, nullable=False,
              server_default=sa.false()),
    sa.Column("transport_url", sa.Text, nullable=False),
    sa.Column("weight_offset", sa.Double, nullable=False),
    sa.Column("weight_scale", sa.Double, nullable=False),
    *_timestamps(), *_soft_delete(),
    sa.UniqueConstraint("name", "deleted"),
)

#: The longest cell path ``cell_instances`` stores, in characters: one
#: index key of MariaDB's InnoDB holds 3,072 bytes, and the path (4 bytes
#: a character in utf8mb4) shares its key with ``changed_at``. Enough for
#: ten levels of 50-character names; longer paths are refused.
CELL_PATH_LENGTH = 512

#: The top cell's view of every instance of every cell below it (Nova's
#: cells v1 kept it in the top's ``instances`` table): which cell holds
#: it (``cell_path``, names joined by "!"; NULL when none does, a build
#: that no cell took), where and in what state, its sizes, and
#: ``changed_at``, the child's own stamp of the change the row reflects
#: (NULL while the top has forwarded the build and heard nothing back).
#: One row per uuid for ever: ``deleted`` (the row's id, as in every
#: soft-deleted table) says the instance was deleted in its cell, and the
#: row stays so that an older change sent again cannot bring it back.
cell_instances = sa.Table(
    "cell_instances", metadata,
    _id(),
    sa.Column("uuid", sa.String(36), nullable=False),
    sa.Column("cell_path", sa.String(CELL_PATH_LENGTH), nullable=True),
    sa.Column("host", sa.String(255), nullable=True),
    sa.Column("node", sa.String(255), nullable=True),
    sa.Column("vm_state", sa.String(255), nullable=True),
    sa.Column("task_state", sa.String(255), nullable=True),
    sa.Column("vcpus", sa.Integer, nullable=True),
    sa.Column("memory_mb", sa.Integer, nullable=True),
    sa.Column("root_gb", sa.Integer, nullable=True),
    sa.Column("ephemeral_gb", sa.Integer, nullable=True),
    sa.Column("project_id", sa.String(255), nullable=True),
    sa.Column("changed_at", DateTime, nullable=True),
    *_timestamps(), *_soft_delete(),
    sa.UniqueConstraint("uuid"),
    # a cell's instances, and the newest change of one cell (where a
    # restarted child resumes its feed)
    sa.Index("ix_cell_instances_cell_path_changed_at", "cell_path",
             "changed_at"),
)

#: Nova's names stored in rows: a compute service's ``services.binary``,
#: and the ``aggregate_metadata.key`` that gives an aggregate's zone. Here
#: (not in the objects) so code that reads rows without the versioned
#: objects, such as the views, uses the one definition.
COMPUTE_BINARY = "nova-compute"
AZ_KEY = "availability_zone"

#: Tables whose rows are soft-deleted (``deleted`` = id) rather than removed.
SOFT_DELETE_TABLES = frozenset(
    t.name for t in metadata.sorted_tables if "deleted" in t.c)

for _table in metadata.tables.values():
    # InnoDB for transactions and foreign keys, utf8mb4 so host names and
    # display names in any script round-trip; other dialects ignore these.
    _table.dialect_kwargs["mysql_engine"] = "InnoDB"
    _table.dialect_kwargs["mysql_charset"] = "utf8mb4"
