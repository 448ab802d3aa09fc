"""Each subscription's own price per interval (back-filled with its plan's price)

Revision ID: c5e1a7d3f9b2
Revises: b4d9e2f6a8c3
Create Date: 2026-12-07 18:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c5e1a7d3f9b2'
down_revision = 'b4d9e2f6a8c3'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('price', sa.Numeric(precision=12, scale=2), nullable=True))
    # Until now every subscriber paid their plan's price: it is theirs.
    op.execute("UPDATE subscriptions SET price = (SELECT plans.price FROM plans "
               "WHERE plans.id = subscriptions.plan_id) WHERE status <> 'incomplete'")


def downgrade():
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_column('price')
