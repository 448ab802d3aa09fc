"""subscriptions record why they ended (the shopper, or failed payments) and the order name fixed when subscribing

Revision ID: 4f7b2e9d0c61
Revises: 6e1f3a9b2c57
Create Date: 2026-12-07 12:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '4f7b2e9d0c61'
down_revision = '6e1f3a9b2c57'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ended_reason', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('order_name', sa.String(length=40), nullable=True))
        batch_op.create_check_constraint(batch_op.f('ck_subscriptions_ended_reason'),
                                         "ended_reason IN ('cancelled', 'payment_failed')")
    # Subscriptions made before were sent the plan's base name: they keep it. Why an older one
    # ended is not known (NULL), and it reads as before.
    op.execute("UPDATE subscriptions SET order_name = (SELECT substr(plans.name, 1, 40) FROM plans "
               "WHERE plans.id = subscriptions.plan_id)")


def downgrade():
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_subscriptions_ended_reason'), type_='check')
        batch_op.drop_column('order_name')
        batch_op.drop_column('ended_reason')
