"""stats snapshot: the overview's numbers as last worked out, shared by every replica

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 23:45:00.000000
"""

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import op
# It renders advanced-alchemy's types as sa.<Name>.
sa.GUID = GUID  # type: ignore[attr-defined]
sa.DateTimeUTC = DateTimeUTC  # type: ignore[attr-defined]

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('stats_snapshot',
    sa.Column('publication_id', sa.GUID(length=16), nullable=False),
    sa.Column('interval', sa.String(length=8), nullable=False),
    sa.Column('periods', sa.Integer(), nullable=False),
    sa.Column('computed_at', sa.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('series', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['publication_id'], ['publication.id'], name=op.f('fk_stats_snapshot_publication_id_publication'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('publication_id', 'interval', 'periods', name=op.f('pk_stats_snapshot'))
    )


def downgrade() -> None:
    op.drop_table('stats_snapshot')
