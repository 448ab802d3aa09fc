"""a subscription may end by withdrawal (청약철회): ended_reason 'withdrawn'

Revision ID: c7e1a4d9b2f5
Revises: c7e1a3f5b9d2
Create Date: 2026-12-07 18:00:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'c7e1a4d9b2f5'
down_revision = 'c7e1a3f5b9d2'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_subscriptions_ended_reason'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_subscriptions_ended_reason'),
                                         "ended_reason IN ('cancelled', 'payment_failed', 'withdrawn')")


def downgrade():
    # A withdrawn subscription reads as cancelled once the value is gone (it was the shopper's choice).
    op.execute("UPDATE subscriptions SET ended_reason = 'cancelled' WHERE ended_reason = 'withdrawn'")
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_subscriptions_ended_reason'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_subscriptions_ended_reason'),
                                         "ended_reason IN ('cancelled', 'payment_failed')")
