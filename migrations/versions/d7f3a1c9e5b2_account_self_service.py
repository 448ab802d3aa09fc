"""account self-service: e-mail confirmed, account erased; the buyer a window's order was opened with

Revision ID: d7f3a1c9e5b2
Revises: 4f7b2e9d0c61
Create Date: 2026-12-07 11:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd7f3a1c9e5b2'
down_revision = '4f7b2e9d0c61'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_confirmed_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('erased_at', sa.DateTime(), nullable=True))
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('buyer_email', sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column('buyer_name', sa.String(length=121), nullable=True))


def downgrade():
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_column('buyer_name')
        batch_op.drop_column('buyer_email')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('erased_at')
        batch_op.drop_column('email_confirmed_at')
