"""users record when they agreed to the terms of use and the privacy policy

Revision ID: 5d2a9c7e4f18
Revises: 3c8e5d1f7a24
Create Date: 2026-12-02 02:50:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5d2a9c7e4f18'
down_revision = '3c8e5d1f7a24'
branch_labels = None
depends_on = None


def upgrade():
    # Accounts made before the sign-up asked keep NULL: they agreed to nothing recorded.
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('terms_agreed_at', sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('terms_agreed_at')
