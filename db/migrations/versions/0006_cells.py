"""the cell tree

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04

Adds ``cells`` (Nova's cells v1 table): this cell's parent and children,
each with the transport URL its cells service is reached at, and the
weights the cell scheduling step will read (see
``hoststate.db.schema.cells`` and ``hoststate.cells.tree``). Soft-deleted
like the other tables of a cell database: a live name is unique. Nothing
existing changes.
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def _datetime():
    return sa.DateTime().with_variant(
        sa.dialects.mysql.DATETIME(fsp=6), 'mysql', 'mariadb')


def upgrade():
    op.create_table(
        'cells',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.Column('is_parent', sa.Boolean(), server_default=sa.false(),
                  nullable=False),
        sa.Column('transport_url', sa.Text(), nullable=False),
        sa.Column('weight_offset', sa.Double(), nullable=False),
        sa.Column('weight_scale', sa.Double(), nullable=False),
        sa.Column('created_at', _datetime(), nullable=True),
        sa.Column('updated_at', _datetime(), nullable=True),
        sa.Column('deleted_at', _datetime(), nullable=True),
        sa.Column('deleted', sa.Integer(), server_default='0',
                  nullable=False),
        sa.PrimaryKeyConstraint('id', name='pk_cells'),
        sa.UniqueConstraint('name', 'deleted',
                            name='uniq_cells0name_deleted'),
        mysql_engine='InnoDB', mysql_charset='utf8mb4')


def downgrade():
    op.drop_table('cells')      # its unique constraint goes with it
