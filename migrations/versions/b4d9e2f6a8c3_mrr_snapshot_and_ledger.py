"""MRR: each subscription's monthly amount, and a ledger of its changes (back-filled)

Revision ID: b4d9e2f6a8c3
Revises: a9c4e2f7b1d3
Create Date: 2026-12-07 15:00:00.000000

"""
from decimal import ROUND_HALF_UP, Decimal

from alembic import op
import sqlalchemy as sa
from babel.numbers import get_currency_precision


# revision identifiers, used by Alembic.
revision = 'b4d9e2f6a8c3'
down_revision = 'a9c4e2f7b1d3'
branch_labels = None
depends_on = None

LIVE = ('active', 'past_due')


def monthly(price, currency, interval):
    """As billing/mrr.monthly_amount (copied: a migration keeps the rule of its day)."""
    months = 12 if interval == 'year' else 1
    unit = Decimal(1).scaleb(-get_currency_precision(currency))
    return (Decimal(str(price)) / months).quantize(unit, rounding=ROUND_HALF_UP)


def upgrade():
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mrr_amount', sa.Numeric(precision=12, scale=2), nullable=True))
    op.create_table(
        'mrr_changes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('subscription_id', sa.Integer(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('occurred_at', sa.DateTime(), nullable=False),
        sa.Column('amount_before', sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column('amount_after', sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.Column('voluntary', sa.Boolean(), nullable=True),
        sa.CheckConstraint("kind IN ('start', 'end', 'change')", name=op.f('ck_mrr_changes_kind')),
        sa.ForeignKeyConstraint(['subscription_id'], ['subscriptions.id'],
                                name=op.f('fk_mrr_changes_subscription_id_subscriptions')),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_mrr_changes_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_mrr_changes')),
    )
    with op.batch_alter_table('mrr_changes', schema=None) as batch_op:
        batch_op.create_index('ix_mrr_changes_occurred_at', ['occurred_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_mrr_changes_subscription_id'), ['subscription_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_mrr_changes_user_id'), ['user_id'], unique=False)
    back_fill()


def back_fill():
    """Every subscription that was ever live gets its snapshot (from its plan's price, the
    only price there was) and a start row at its first period's start; an ended one an end
    row at its end too (voluntary unless it ended after failed payments)."""
    bind = op.get_bind()
    subs = sa.table('subscriptions', sa.column('id'), sa.column('user_id'), sa.column('plan_id'),
                    sa.column('status'), sa.column('billing_anchor', sa.DateTime),
                    sa.column('current_period_start', sa.DateTime),
                    sa.column('created_at', sa.DateTime), sa.column('canceled_at', sa.DateTime),
                    sa.column('ended_reason'),
                    sa.column('mrr_amount', sa.Numeric(12, 2)))
    plans = sa.table('plans', sa.column('id'), sa.column('price', sa.Numeric(12, 2)),
                     sa.column('currency'),
                     sa.column('interval'))
    changes = sa.table('mrr_changes', sa.column('user_id'), sa.column('subscription_id'),
                       sa.column('currency'), sa.column('occurred_at', sa.DateTime),
                       sa.column('amount_before', sa.Numeric(12, 2)),
                       sa.column('amount_after', sa.Numeric(12, 2)), sa.column('kind'),
                       sa.column('voluntary', sa.Boolean))
    began = sa.func.coalesce(subs.c.billing_anchor, subs.c.current_period_start)
    live = subs.c.status.in_(LIVE)
    was_live = (subs.c.status == 'canceled') & began.isnot(None) & subs.c.canceled_at.isnot(None)
    rows = bind.execute(
        sa.select(subs.c.id, subs.c.user_id, subs.c.status, subs.c.ended_reason,
                  sa.func.coalesce(began, subs.c.created_at), subs.c.canceled_at,
                  plans.c.price, plans.c.currency, plans.c.interval)
        .select_from(subs.join(plans, plans.c.id == subs.c.plan_id))
        .where(live | was_live).order_by(subs.c.id)
    ).all()
    ledger = []
    for sub_id, user_id, status, reason, started, ended, price, currency, interval in rows:
        amount = monthly(price, currency, interval)
        bind.execute(sa.update(subs).where(subs.c.id == sub_id).values(mrr_amount=amount))
        common = {'user_id': user_id, 'subscription_id': sub_id, 'currency': currency}
        ledger.append({**common, 'occurred_at': started, 'amount_before': Decimal(0),
                       'amount_after': amount, 'kind': 'start', 'voluntary': None})
        if status == 'canceled':
            ledger.append({**common, 'occurred_at': ended, 'amount_before': amount,
                           'amount_after': Decimal(0), 'kind': 'end',
                           'voluntary': reason != 'payment_failed'})
    if ledger:
        op.bulk_insert(changes, ledger)


def downgrade():
    with op.batch_alter_table('mrr_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mrr_changes_user_id'))
        batch_op.drop_index(batch_op.f('ix_mrr_changes_subscription_id'))
        batch_op.drop_index('ix_mrr_changes_occurred_at')
    op.drop_table('mrr_changes')
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_column('mrr_amount')
