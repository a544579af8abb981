"""node traits

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04

Adds two nullable ``compute_nodes`` columns, ``driver_traits`` (written
by the resource tracker from what the virt driver reports) and
``operator_traits`` (written by ``hoststate host-update --trait``), each
the JSON text of a sorted list of trait names, NULL for none (see
``hoststate.objects.traits``). Existing nodes start without traits: the
tracker's next update stores what their driver reports.
"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

_COLUMNS = ('driver_traits', 'operator_traits')


def upgrade():
    for name in _COLUMNS:
        op.add_column('compute_nodes', sa.Column(name, sa.Text().with_variant(
            sa.dialects.mysql.MEDIUMTEXT(), 'mysql', 'mariadb'),
            nullable=True))


def downgrade():
    # ALTER TABLE ... DROP COLUMN on every backend (SQLite has it since
    # 3.35): a batch copy of compute_nodes would have to drop the table
    # the allocations rows still refer to
    for name in reversed(_COLUMNS):
        op.drop_column('compute_nodes', name)
