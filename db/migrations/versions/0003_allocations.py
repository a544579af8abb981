"""the allocation ledger; allocation ratios in double precision

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03

Adds ``allocations``: one row per consumer and node saying what it holds
there (see ``hoststate.db.schema.allocations``). An existing database is
back-filled from what it already says: every live instance placed on a
node and not offloaded holds its flavor there (consumer: the instance),
and the destination of every move in progress holds the new side of the
move (consumer: the migration). What a row cannot know yet (the PCI
devices, which were only ever recorded as pool counts) the compute
agent's first recount fills in.

The ratio columns become double precision: MySQL's FLOAT is single, and
the scheduler's claim multiplies them in SQL, which must give the answer
Python gives. Stored values are rounded to 6 decimals on the way, which
undoes the single-precision noise (1.100000023841858 -> 1.1).
"""
import json
import math

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

_RATIOS = ('cpu_allocation_ratio', 'ram_allocation_ratio',
           'disk_allocation_ratio')
#: Nova's vm states in which an instance holds nothing on its node.
_GONE = ('deleted',)
_OFFLOADED = 'shelved_offloaded'
_DONE = ('accepted', 'confirmed', 'reverted', 'error', 'failed',
         'completed', 'cancelled', 'done')


def upgrade():
    _ratios_in_double()
    table = op.create_table(
        'allocations',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('consumer_uuid', sa.String(length=36), nullable=False),
        sa.Column('instance_uuid', sa.String(length=36), nullable=False),
        sa.Column('compute_node_id', sa.Integer(), nullable=False),
        sa.Column('vcpus', sa.Integer(), nullable=False),
        sa.Column('memory_mb', sa.Integer(), nullable=False),
        sa.Column('disk_gb', sa.Integer(), nullable=False),
        sa.Column('numa_topology', sa.Text().with_variant(
            sa.dialects.mysql.MEDIUMTEXT(), 'mysql', 'mariadb'),
            nullable=True),
        sa.Column('pci_allocation', sa.Text().with_variant(
            sa.dialects.mysql.MEDIUMTEXT(), 'mysql', 'mariadb'),
            nullable=True),
        sa.Column('created_at', _datetime(), nullable=True),
        sa.Column('updated_at', _datetime(), nullable=True),
        sa.ForeignKeyConstraint(
            ['compute_node_id'], ['compute_nodes.id'],
            name='fk_allocations_compute_node_id_compute_nodes'),
        sa.PrimaryKeyConstraint('id', name='pk_allocations'),
        sa.UniqueConstraint(
            'consumer_uuid', 'compute_node_id',
            name='uniq_allocations0consumer_uuid_compute_node_id'),
        mysql_engine='InnoDB', mysql_charset='utf8mb4')
    op.create_index('ix_allocations_compute_node_id', 'allocations',
                    ['compute_node_id'])
    op.create_index('ix_allocations_instance_uuid', 'allocations',
                    ['instance_uuid'])
    _back_fill(op.get_bind(), table)


def downgrade():
    op.drop_table('allocations')      # its indexes go with it
    with op.batch_alter_table('compute_nodes') as batch:
        for name in _RATIOS:
            batch.alter_column(name, type_=sa.Float(), existing_nullable=True)


def _datetime():
    return sa.DateTime().with_variant(
        sa.dialects.mysql.DATETIME(fsp=6), 'mysql', 'mariadb')


def _ratios_in_double():
    with op.batch_alter_table('compute_nodes') as batch:
        for name in _RATIOS:
            batch.alter_column(name, type_=sa.Double(),
                               existing_type=sa.Float(),
                               existing_nullable=True)
    conn = op.get_bind()
    if conn.dialect.name in ('mysql', 'mariadb'):
        # only MySQL stored single precision
        nodes = sa.table('compute_nodes', *(sa.column(n) for n in _RATIOS))
        conn.execute(nodes.update().values(**{
            name: sa.func.round(nodes.c[name], 6) for name in _RATIOS}))


# --- the back-fill -------------------------------------------------------------
#
# Written against the tables as this revision knows them, not the current
# schema or objects (a later revision may change both). The amounts follow
# the claim's rule (hoststate.hardware.consumption.Consumption.of): vcpus,
# memory, and disk as root (0 when booted from volume) + ephemeral GiB +
# swap MiB, rounded up to whole GiB.

def _back_fill(conn, ledger):
    instances = sa.table('instances', *(sa.column(n) for n in (
        'uuid', 'compute_id', 'vm_state', 'task_state', 'flavor',
        'image_ref', 'numa_topology', 'migration_context', 'deleted')))
    migrations = sa.table('migrations', *(sa.column(n) for n in (
        'id', 'uuid', 'instance_uuid', 'dest_compute_id', 'status',
        'deleted')))
    rows = []
    query = sa.select(instances).where(instances.c.deleted == 0,
                                       instances.c.compute_id.isnot(None))
    contexts = {}
    for row in conn.execute(query).mappings():
        if row['vm_state'] in _GONE or (row['vm_state'] == _OFFLOADED and
                                        row['task_state'] != 'spawning'):
            continue
        rows.append(_row(row['uuid'], row['uuid'], row['compute_id'],
                         row['flavor'], row['image_ref'],
                         row['numa_topology']))
        if row['migration_context']:
            contexts[row['uuid']] = row
    moving = sa.select(migrations).where(
        migrations.c.deleted == 0, migrations.c.status.notin_(_DONE),
        migrations.c.dest_compute_id.isnot(None))
    for move in conn.execute(moving).mappings():
        instance = contexts.get(move['instance_uuid'])
        new = _new_side(instance, move['id'])
        if new is None:
            continue
        flavor, numa = new
        rows.append(_row(move['uuid'], move['instance_uuid'],
                         move['dest_compute_id'], flavor,
                         instance['image_ref'], numa))
    unique = {(r['consumer_uuid'], r['compute_node_id']): r for r in rows}
    if unique:
        conn.execute(ledger.insert(), list(unique.values()))


def _row(consumer, instance_uuid, node_id, flavor, image_ref, numa):
    vcpus, memory_mb, disk_gb = _amounts(flavor, image_ref)
    return {'consumer_uuid': consumer, 'instance_uuid': instance_uuid,
            'compute_node_id': node_id, 'vcpus': vcpus,
            'memory_mb': memory_mb, 'disk_gb': disk_gb,
            'numa_topology': numa, 'pci_allocation': None}


def _fields(document):
    """The field values of a stored versioned-object document."""
    if isinstance(document, str):
        document = json.loads(document)
    return (document or {}).get('hoststate_object.data', document or {})


def _amounts(flavor_text, image_ref):
    flavor = _fields(flavor_text)
    root = 0 if not image_ref else int(flavor.get('root_gb') or 0)
    disk_mib = 1024 * (root + int(flavor.get('ephemeral_gb') or 0)) + \
        int(flavor.get('swap') or 0)
    return (int(flavor.get('vcpus') or 0), int(flavor.get('memory_mb') or 0),
            math.ceil(disk_mib / 1024))


def _new_side(instance, migration_id):
    """(new flavor document, new NUMA topology text) of the move the
    instance's migration context records, if it is this migration's."""
    if instance is None:
        return None
    context = _fields(instance['migration_context'])
    if context.get('migration_id') != migration_id or \
            not context.get('new_flavor'):
        return None
    numa = context.get('new_numa_topology')
    return context['new_flavor'], (json.dumps(numa, sort_keys=True)
                                    if numa else None)
