"""reads at scale: grants found by their key (a publication's key and the keys under it)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 20:50:00.000000
"""

from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A publication's grants are `key = 'pub:x' OR key LIKE 'pub:x:%'` (members, stats): the
    # pattern operator class serves both, whatever the database's collation.
    with op.batch_alter_table('reader_grant', schema=None) as batch_op:
        batch_op.create_index(
            'ix_reader_grant_key', ['key'], unique=False, postgresql_ops={'key': 'varchar_pattern_ops'}
        )


def downgrade() -> None:
    with op.batch_alter_table('reader_grant', schema=None) as batch_op:
        batch_op.drop_index('ix_reader_grant_key')
