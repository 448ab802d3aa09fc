"""users record the terms, privacy and age-14 consents separately, each with when and which version

Revision ID: c7e1a3f5b9d2
Revises: c5e1a7d3f9b2
Create Date: 2026-12-07 18:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c7e1a3f5b9d2'
down_revision = 'c5e1a7d3f9b2'
branch_labels = None
depends_on = None


def upgrade():
    # Accounts made before keep NULLs: they are asked for each consent at their next log-in.
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('terms_consent_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('terms_version', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('privacy_consent_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('privacy_version', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('age_confirmed_at', sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('age_confirmed_at')
        batch_op.drop_column('privacy_version')
        batch_op.drop_column('privacy_consent_at')
        batch_op.drop_column('terms_version')
        batch_op.drop_column('terms_consent_at')
