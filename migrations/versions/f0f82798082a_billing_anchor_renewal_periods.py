"""billing anchor, renewal periods

Revision ID: f0f82798082a
Revises: dfc59d6daca3
Create Date: 2026-12-01 20:15:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f0f82798082a'
down_revision = 'dfc59d6daca3'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('billing_anchor', sa.DateTime(), nullable=True))
    # Periods so far were chained from the previous end; the current one's start is the best
    # anchor there is (a subscription never activated gets its anchor when it is).
    op.execute("UPDATE subscriptions SET billing_anchor = COALESCE(current_period_start, created_at)")

    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('period_start', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('attempt', sa.Integer(), nullable=True))
    # Open renewals (scheduled, or run and awaiting their outcome) pay the current period; they
    # are numbered in the order they were made. Settled ones are history and stay unnumbered.
    op.execute(
        "UPDATE payments SET "
        "period_start = (SELECT current_period_end FROM subscriptions "
        "WHERE subscriptions.id = payments.subscription_id), "
        "attempt = (SELECT COUNT(*) FROM payments AS earlier "
        "WHERE earlier.subscription_id = payments.subscription_id AND earlier.kind = 'renewal' "
        "AND earlier.status IN ('scheduled', 'pending', 'review') AND earlier.id < payments.id) "
        "WHERE kind = 'renewal' AND status IN ('scheduled', 'pending', 'review')"
    )
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.create_unique_constraint(
            'uq_payments_renewal_attempt', ['subscription_id', 'period_start', 'attempt'])


def downgrade():
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_constraint('uq_payments_renewal_attempt', type_='unique')
        batch_op.drop_column('attempt')
        batch_op.drop_column('period_start')
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_column('billing_anchor')
