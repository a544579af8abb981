"""instances of every cell at the top; the instance feed's indexes

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04

Adds ``cell_instances`` (the top cell's view of every instance of every
cell below it, kept by ``hoststate.cells.instance_store``; harmless and
empty in the other cells) and indexes on ``instances`` ``created_at``,
``updated_at`` and ``deleted_at``, by which a child cell's feed of
instance changes (``hoststate.cells.instance_feed``) reads the rows
stamped since its watermark without reading every instance. Nothing
existing changes.
"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

#: the instance feed's indexes: (name, column)
_FEED_INDEXES = (
    ('ix_instances_created_at', 'created_at'),
    ('ix_instances_updated_at', 'updated_at'),
    ('ix_instances_deleted_at', 'deleted_at'),
)


def _datetime():
    return sa.DateTime().with_variant(
        sa.dialects.mysql.DATETIME(fsp=6), 'mysql', 'mariadb')


def upgrade():
    op.create_table(
        'cell_instances',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('uuid', sa.String(length=36), nullable=False),
        # 512: see hoststate.db.schema.CELL_PATH_LENGTH (MariaDB's key
        # length); written out, as a migration never changes
        sa.Column('cell_path', sa.String(length=512), nullable=True),
        sa.Column('host', sa.String(length=255), nullable=True),
        sa.Column('node', sa.String(length=255), nullable=True),
        sa.Column('vm_state', sa.String(length=255), nullable=True),
        sa.Column('task_state', sa.String(length=255), nullable=True),
        sa.Column('vcpus', sa.Integer(), nullable=True),
        sa.Column('memory_mb', sa.Integer(), nullable=True),
        sa.Column('root_gb', sa.Integer(), nullable=True),
        sa.Column('ephemeral_gb', sa.Integer(), nullable=True),
        sa.Column('project_id', sa.String(length=255), nullable=True),
        sa.Column('changed_at', _datetime(), nullable=True),
        sa.Column('created_at', _datetime(), nullable=True),
        sa.Column('updated_at', _datetime(), nullable=True),
        sa.Column('deleted_at', _datetime(), nullable=True),
        sa.Column('deleted', sa.Integer(), server_default='0',
                  nullable=False),
        sa.PrimaryKeyConstraint('id', name='pk_cell_instances'),
        sa.UniqueConstraint('uuid', name='uniq_cell_instances0uuid'),
        mysql_engine='InnoDB', mysql_charset='utf8mb4')
    op.create_index('ix_cell_instances_cell_path_changed_at',
                    'cell_instances', ['cell_path', 'changed_at'])
    for name, column in _FEED_INDEXES:
        op.create_index(name, 'instances', [column])


def downgrade():
    for name, _ in reversed(_FEED_INDEXES):
        op.drop_index(name, table_name='instances')
    op.drop_table('cell_instances')     # its indexes go with it
