"""index the columns scheduler refreshes read by

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22

The scheduler's refresh reads the compute nodes that changed since its last
watermark: live rows by updated_at (indexed since 0001) and deleted ones by
deleted_at, which a soft delete stamps without touching updated_at. Without
this index the second half is a full scan of the table on every refresh.
Services are read the same way (a disabled or forced-down host), by
updated_at and deleted_at.
"""
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_compute_nodes_deleted_at', 'compute_nodes',
                    ['deleted_at'])
    op.create_index('ix_services_updated_at', 'services', ['updated_at'])
    op.create_index('ix_services_deleted_at', 'services', ['deleted_at'])


def downgrade():
    op.drop_index('ix_services_deleted_at', table_name='services')
    op.drop_index('ix_services_updated_at', table_name='services')
    op.drop_index('ix_compute_nodes_deleted_at', table_name='compute_nodes')
