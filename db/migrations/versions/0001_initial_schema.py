"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-22

The tables as they stood at hoststate 0.1. Frozen here on purpose: later
revisions change the schema relative to this, so this file must not import
hoststate.db.schema.
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

DateTime = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
JsonText = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('aggregates',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('uuid', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('created_at', DateTime, nullable=True),
    sa.Column('updated_at', DateTime, nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_aggregates')),
    sa.UniqueConstraint('name', name=op.f('uniq_aggregates0name')),
    sa.UniqueConstraint('uuid', name=op.f('uniq_aggregates0uuid')),
    mysql_charset='utf8mb4',
    mysql_engine='InnoDB'
    )
    op.create_table('cell_mappings',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('uuid', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('transport_url', sa.Text(), nullable=True),
    sa.Column('database_connection', sa.Text(), nullable=True),
    sa.Column('disabled', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('created_at', DateTime, nullable=True),
    sa.Column('updated_at', DateTime, nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cell_mappings')),
    sa.UniqueConstraint('uuid', name=op.f('uniq_cell_mappings0uuid')),
    mysql_charset='utf8mb4',
    mysql_engine='InnoDB'
    )
    op.create_table('instance_groups',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('uuid', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('user_id', sa.String(length=255), nullable=True),
    sa.Column('project_id', sa.String(length=255), nullable=True),
    sa.Column('created_at', DateTime, nullable=True),
    sa.Column('updated_at', DateTime, nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_instance_groups')),
    sa.UniqueConstraint('uuid', name=op.f('uniq_instance_groups0uuid')),
    mysql_charset='utf8mb4',
    mysql_engine='InnoDB'
    )
    op.create_table('instances',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('uuid', sa.String(length=36), nullable=False),
    sa.Column('display_name', sa.String(length=255), nullable=True),
    sa.Column('project_id', sa.String(length=255), nullable=True),
    sa.Column('user_id', sa.String(length=255), nullable=True),
    sa.Column('host', sa.String(length=255), nullable=True),
    sa.Column('node', sa.String(length=255), nullable=True),
    sa.Column('compute_id', sa.Integer(), nullable=True),
    sa.Column('launched_on', sa.String(length=255), nullable=True),
    sa.Column('availability_zone', sa.String(length=255), nullable=True),
    sa.Column('vm_state', sa.String(length=255), nullable=True),
    sa.Column('task_state', sa.String(length=255), nullable=True),
    sa.Column('power_state', sa.Integer(), nullable=True),
    sa.Column('instance_type_id', sa.Integer(), nullable=True),
    sa.Column('memory_mb', sa.Integer(), nullable=True),
    sa.Column('vcpus', sa.Integer(), nullable=True),
    sa.Column('root_gb', sa.Integer(), nullable=True),
    sa.Column('ephemeral_gb', sa.Integer(), nullable=True),
    sa.Column('image_ref', sa.String(length=255), nullable=True),
    sa.Column('os_type', sa.String(length=255), nullable=True),
    sa.Column('flavor', JsonText, nullable=True),
    sa.Column('numa_topology', JsonText, nullable=True),
    sa.Column('pci_requests', JsonText, nullable=True),
    sa.Column('migration_context', JsonText, nullable=True),
    sa.Column('created_at', DateTime, nullable=True),
    sa.Column('updated_at', DateTime, nullable=True),
    sa.Column('deleted_at', DateTime, nullable=True),
    sa.Column('deleted', sa.Integer(), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_instances')),
    sa.UniqueConstraint('uuid', name=op.f('uniq_instances0uuid')),
    mysql_charset='utf8mb4',
    mysql_engine='InnoDB'
    )
    with op.batch_alter_table('instances', schema=None) as batch_op:
        batch_op.create_index('ix_instances_host_node_deleted', ['host', 'node', 'deleted'], unique=False)
        batch_op.create_index('ix_instances_project_id', ['project_id'], unique=False)

    op.create_table('services',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('uuid', sa.String(length=36), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('binary', sa.String(length=255), nullable=False),
    sa.Column('topic', sa.String(length=255), nullable=True),
    sa.Column('report_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('disabled', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('disabled_reason', sa.String(length=255), nullable=True),
    sa.Column('last_seen_up', DateTime, nullable=True),
    sa.Column('forced_down', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('version', sa.Integer(), server_default='0', nullable=False),
    sa.Column('generation', sa.Integer(), server_default='0', nullable=False),
    sa.Column('created_at', DateTime, nullable=True),
    sa.Column('updated_at', DateTime, nullable=True),
    sa.Column('deleted_at', DateTime, nullable=True),
    sa.Column('deleted', sa.Integer(), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_services')),
    sa.UniqueConstraint('host', 'binary', 'deleted', name=op.f('uniq_services0host_binary_deleted')),
    sa.UniqueConstraint('host', 'topic', 'deleted', name=op.f('uniq_services0host_topic_deleted')),
    sa.UniqueConstraint('uuid', name=op.f('uniq_services0uuid')),
    mysql_charset='utf8mb4',
    mysql_engine='InnoDB'
    )
    op.create_table('aggregate_hosts',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('aggregate_id', sa.Integer(), nullable=False),
    sa.Column('created_at', DateTime, nullable=True),
    sa.Column('updated_at', DateTime, nullable=True),
    sa.ForeignKeyConstraint(['aggregate_id'], ['aggregates.id'], name=op.f('fk_aggregate_hosts_aggregate_id_aggregates'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_aggregate_hosts')),
    sa.UniqueConstraint('host', 'aggregate_id', name=op.f('uniq_aggregate_hosts0host_aggregate_id')),
    mysql_charset='utf8mb4',
    mysql_engine='InnoDB'
    )
    op.create_table('aggregate_metadata',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('aggregate_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('value', sa.String(length=255), nullable=False),
    sa.Column('created_at', DateTime, nullable=True),
    sa.Column('updated_at', DateTime, nullable=True),
    sa.ForeignKeyConstraint(['aggregate_id'], ['aggregates.id'], name=op.f('fk_aggregate_metadata_aggregate_id_aggregates'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_aggregate_metadata')),
    sa.UniqueConstraint('aggregate_id', 'key', name=op.f('uniq_aggregate_metadata0aggregate_id_key')),
    mysql_charset='utf8mb4',
    mysql_engine='InnoDB'
    )
    with op.batch_alter_table('aggregate_metadata', schema=None) as batch_op:
        batch_op.create_index('ix_aggregate_metadata_key', ['key'], unique=False)

    op.create_table('compute_nodes',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('uuid', sa.String(length=36), nullable=False),
    sa.Column('service_id', sa.Integer(), nullable=True),
    sa.Column('host', sa.String(length=255), nullable=True),
    sa.Column('hypervisor_hostname', sa.String(length=255), nullable=True),
    sa.Column('vcpus', sa.Integer(), nullable=False),
    sa.Column('memory_mb', sa.Integer(), nullable=False),
    sa.Column('local_gb', sa.Integer(), nullable=False),
    sa.Column('vcpus_used', sa.Integer(), server_default='0', nullable=False),
    sa.Column('memory_mb_used', sa.Integer(), server_default='0', nullable=False),
    sa.Column('local_gb_used', sa.Integer(), server_default='0', nullable=False),
    sa.Column('free_ram_mb', sa.Integer(), nullable=True),
    sa.Column('free_disk_gb', sa.Integer(), nullable=True),
    sa.Column('disk_available_least', sa.Integer(), nullable=True),
    sa.Column('current_workload', sa.Integer(), nullable=True),
    sa.Column('running_vms', sa.Integer(), nullable=True),
    sa.Column('hypervisor_type', sa.String(length=255), nullable=False),
    sa.Column('hypervisor_version', sa.BigInteger(), nullable=False),
    sa.Column('cpu_info', JsonText, nullable=False),
    sa.Column('host_ip', sa.String(length=39), nullable=True),
    sa.Column('supported_instances', JsonText, nullable=True),
    sa.Column('metrics', JsonText, nullable=True),
    sa.Column('pci_stats', JsonText, nullable=True),
    sa.Column('extra_resources', JsonText, nullable=True),
    sa.Column('stats', JsonText, nullable=True),
    sa.Column('numa_topology', JsonText, nullable=True),
    sa.Column('cpu_allocation_ratio', sa.Float(), nullable=True),
    sa.Column('ram_allocation_ratio', sa.Float(), nullable=True),
    sa.Column('disk_allocation_ratio', sa.Float(), nullable=True),
    sa.Column('mapped', sa.Integer(), server_default='0', nullable=False),
    sa.Column('generation', sa.Integer(), server_default='0', nullable=False),
    sa.Column('created_at', DateTime, nullable=True),
    sa.Column('updated_at', DateTime, nullable=True),
    sa.Column('deleted_at', DateTime, nullable=True),
    sa.Column('deleted', sa.Integer(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['service_id'], ['services.id'], name=op.f('fk_compute_nodes_service_id_services')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_compute_nodes')),
    sa.UniqueConstraint('host', 'hypervisor_hostname', 'deleted', name=op.f('uniq_compute_nodes0host_hypervisor_hostname_deleted')),
    sa.UniqueConstraint('uuid', name=op.f('uniq_compute_nodes0uuid')),
    mysql_charset='utf8mb4',
    mysql_engine='InnoDB'
    )
    with op.batch_alter_table('compute_nodes', schema=None) as batch_op:
        batch_op.create_index('ix_compute_nodes_updated_at', ['updated_at'], unique=False)

    op.create_table('host_mappings',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('cell_id', sa.Integer(), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('created_at', DateTime, nullable=True),
    sa.Column('updated_at', DateTime, nullable=True),
    sa.ForeignKeyConstraint(['cell_id'], ['cell_mappings.id'], name=op.f('fk_host_mappings_cell_id_cell_mappings'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_host_mappings')),
    sa.UniqueConstraint('host', name=op.f('uniq_host_mappings0host')),
    mysql_charset='utf8mb4',
    mysql_engine='InnoDB'
    )
    op.create_table('instance_group_member',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('instance_uuid', sa.String(length=36), nullable=False),
    sa.Column('created_at', DateTime, nullable=True),
    sa.Column('updated_at', DateTime, nullable=True),
    sa.ForeignKeyConstraint(['group_id'], ['instance_groups.id'], name=op.f('fk_instance_group_member_group_id_instance_groups'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_instance_group_member')),
    sa.UniqueConstraint('group_id', 'instance_uuid', name=op.f('uniq_instance_group_member0group_id_instance_uuid')),
    mysql_charset='utf8mb4',
    mysql_engine='InnoDB'
    )
    op.create_table('instance_group_policy',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('policy', sa.String(length=255), nullable=False),
    sa.Column('rules', sa.Text(), nullable=True),
    sa.Column('created_at', DateTime, nullable=True),
    sa.Column('updated_at', DateTime, nullable=True),
    sa.ForeignKeyConstraint(['group_id'], ['instance_groups.id'], name=op.f('fk_instance_group_policy_group_id_instance_groups'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_instance_group_policy')),
    sa.UniqueConstraint('group_id', name=op.f('uniq_instance_group_policy0group_id')),
    mysql_charset='utf8mb4',
    mysql_engine='InnoDB'
    )
    op.create_table('migrations',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('uuid', sa.String(length=36), nullable=False),
    sa.Column('instance_uuid', sa.String(length=36), nullable=False),
    sa.Column('source_compute', sa.String(length=255), nullable=True),
    sa.Column('dest_compute', sa.String(length=255), nullable=True),
    sa.Column('source_node', sa.String(length=255), nullable=True),
    sa.Column('dest_node', sa.String(length=255), nullable=True),
    sa.Column('dest_host', sa.String(length=255), nullable=True),
    sa.Column('dest_compute_id', sa.Integer(), nullable=True),
    sa.Column('old_instance_type_id', sa.Integer(), nullable=True),
    sa.Column('new_instance_type_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=255), nullable=True),
    sa.Column('migration_type', sa.String(length=32), nullable=True),
    sa.Column('hidden', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('cross_cell_move', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('user_id', sa.String(length=255), nullable=True),
    sa.Column('project_id', sa.String(length=255), nullable=True),
    sa.Column('created_at', DateTime, nullable=True),
    sa.Column('updated_at', DateTime, nullable=True),
    sa.Column('deleted_at', DateTime, nullable=True),
    sa.Column('deleted', sa.Integer(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['instance_uuid'], ['instances.uuid'], name=op.f('fk_migrations_instance_uuid_instances')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_migrations')),
    sa.UniqueConstraint('uuid', name=op.f('uniq_migrations0uuid')),
    mysql_charset='utf8mb4',
    mysql_engine='InnoDB'
    )
    with op.batch_alter_table('migrations', schema=None) as batch_op:
        batch_op.create_index('ix_migrations_dest_compute_dest_node', ['dest_compute', 'dest_node'], unique=False)
        batch_op.create_index('ix_migrations_instance_uuid', ['instance_uuid'], unique=False)
        batch_op.create_index('ix_migrations_source_compute_source_node', ['source_compute', 'source_node'], unique=False)



def downgrade():
    # Children before parents, so foreign keys never block a drop.
    for table in ("host_mappings", "cell_mappings", "instance_group_member",
                  "instance_group_policy", "instance_groups",
                  "aggregate_metadata", "aggregate_hosts", "aggregates",
                  "migrations", "instances", "compute_nodes", "services"):
        op.drop_table(table)
