"""instance faults; an index for builds nobody finishes

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04

Adds ``instance_faults`` (why an instance went wrong: a conductor that
gives a build up writes every node's reason there, so any conductor, not
only the one that gave up, can answer ``boot --wait``) and an index on
``instances (vm_state, task_state)``, by which every conductor looks for
the few builds that nobody will finish (``conductor.build_sweep``)
without reading every instance. Nothing existing changes.
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def _datetime():
    return sa.DateTime().with_variant(
        sa.dialects.mysql.DATETIME(fsp=6), 'mysql', 'mariadb')


def upgrade():
    op.create_table(
        'instance_faults',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('instance_uuid', sa.String(length=36), nullable=False),
        sa.Column('code', sa.Integer(), nullable=False),
        sa.Column('message', sa.String(length=255), nullable=True),
        sa.Column('details', sa.Text().with_variant(
            sa.dialects.mysql.MEDIUMTEXT(), 'mysql', 'mariadb'),
            nullable=True),
        sa.Column('host', sa.String(length=255), nullable=True),
        sa.Column('created_at', _datetime(), nullable=True),
        sa.Column('updated_at', _datetime(), nullable=True),
        sa.Column('deleted_at', _datetime(), nullable=True),
        sa.Column('deleted', sa.Integer(), server_default='0',
                  nullable=False),
        sa.PrimaryKeyConstraint('id', name='pk_instance_faults'),
    )
    op.create_index(
        'ix_instance_faults_instance_uuid_deleted_created_at',
        'instance_faults', ['instance_uuid', 'deleted', 'created_at'])
    op.create_index('ix_instances_vm_state_task_state', 'instances',
                    ['vm_state', 'task_state'])


def downgrade():
    op.drop_index('ix_instances_vm_state_task_state', table_name='instances')
    op.drop_index('ix_instance_faults_instance_uuid_deleted_created_at',
                  table_name='instance_faults')
    op.drop_table('instance_faults')
