"""plan changes: the plan_changes table, a downgrade waiting on the subscription (next_plan_id,
next_price), the payment kind 'change', its timeline events, and one live subscription per
shopper (a partial unique index; shoppers holding several live ones now keep them, flagged
kept_before_one_live on all but the newest, which the index leaves out)

Revision ID: d8a4f1c6b2e9
Revises: d8a6f2c4e1b9
Create Date: 2026-12-07 19:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd8a4f1c6b2e9'
down_revision = 'd8a6f2c4e1b9'
branch_labels = None
depends_on = None

OLD_EVENT_KINDS = ("'consent_given', 'payment_attempt', 'payment_paid', 'payment_failed', "
                   "'payment_held', 'payment_cancelled', 'refund_owed', 'refund_done', "
                   "'renewal_scheduled', 'schedule_withdrawn', 'activated', 'renewed', "
                   "'card_changed', 'past_due', 'cancel_requested', 'resumed', 'ended', "
                   "'price_consent_asked', 'price_consent_reminded', 'price_agreed', 'price_lowered'")
NEW_EVENT_KINDS = "'plan_changed', 'plan_change_scheduled', 'plan_change_cancelled'"
ONE_LIVE = sa.text("status IN ('active', 'past_due') AND NOT kept_before_one_live")


def upgrade():
    op.create_table(
        'plan_changes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('subscription_id', sa.Integer(), nullable=False),
        sa.Column('token', sa.String(length=64), nullable=False),
        sa.Column('from_plan_id', sa.Integer(), nullable=False),
        sa.Column('to_plan_id', sa.Integer(), nullable=False),
        sa.Column('old_price', sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column('new_price', sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column('amount', sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('takes_effect', sa.String(length=10), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('period_end', sa.DateTime(), nullable=False),
        sa.Column('deadline', sa.DateTime(), nullable=False),
        sa.Column('payment_id', sa.Integer(), nullable=True),
        sa.Column('consent_at', sa.DateTime(), nullable=True),
        sa.Column('consent_version', sa.String(length=20), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('settled_at', sa.DateTime(), nullable=True),
        sa.CheckConstraint("status IN ('offered', 'charging', 'waiting', 'applied', 'failed', 'cancelled')",
                           name=op.f('ck_plan_changes_status')),
        sa.CheckConstraint("takes_effect IN ('now', 'period_end')", name=op.f('ck_plan_changes_takes_effect')),
        sa.CheckConstraint("amount >= 0", name=op.f('ck_plan_changes_amount_not_negative')),
        sa.ForeignKeyConstraint(['subscription_id'], ['subscriptions.id'],
                                name=op.f('fk_plan_changes_subscription_id_subscriptions')),
        sa.ForeignKeyConstraint(['from_plan_id'], ['plans.id'], name=op.f('fk_plan_changes_from_plan_id_plans')),
        sa.ForeignKeyConstraint(['to_plan_id'], ['plans.id'], name=op.f('fk_plan_changes_to_plan_id_plans')),
        sa.ForeignKeyConstraint(['payment_id'], ['payments.id'], name=op.f('fk_plan_changes_payment_id_payments')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_changes')),
        sa.UniqueConstraint('token', name=op.f('uq_plan_changes_token')),
        sa.UniqueConstraint('payment_id', name=op.f('uq_plan_changes_payment_id')),
    )
    op.create_index(op.f('ix_plan_changes_subscription_id'), 'plan_changes', ['subscription_id'])
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_plan_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('next_price', sa.Numeric(precision=12, scale=2), nullable=True))
        batch_op.add_column(sa.Column('kept_before_one_live', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.create_foreign_key(op.f('fk_subscriptions_next_plan_id_plans'), 'plans',
                                    ['next_plan_id'], ['id'])
    # Shoppers holding several live subscriptions keep them: all but the newest are left out of
    # the index, so the newest still blocks a third.
    op.execute(
        "UPDATE subscriptions SET kept_before_one_live = true "
        "WHERE status IN ('active', 'past_due') AND id < ("
        "SELECT max(newest.id) FROM subscriptions AS newest "
        "WHERE newest.user_id = subscriptions.user_id AND newest.status IN ('active', 'past_due'))")
    op.create_index('uq_subscriptions_live_per_user', 'subscriptions', ['user_id'], unique=True,
                    sqlite_where=ONE_LIVE, postgresql_where=ONE_LIVE)
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_payments_kind'), type_='check')
        batch_op.create_check_constraint('kind', "kind IN ('first', 'repeat', 'renewal', 'new_card', 'change')")
    with op.batch_alter_table('subscription_events', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_subscription_events_kind'), type_='check')
        batch_op.create_check_constraint('kind', f"kind IN ({OLD_EVENT_KINDS}, {NEW_EVENT_KINDS})")


def downgrade():
    op.execute(f"DELETE FROM subscription_events WHERE kind IN ({NEW_EVENT_KINDS})")
    with op.batch_alter_table('subscription_events', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_subscription_events_kind'), type_='check')
        batch_op.create_check_constraint('kind', f"kind IN ({OLD_EVENT_KINDS})")
    # A plan change's charge was a charge on the card on file, as "charge now" is.
    op.execute("UPDATE payments SET kind = 'repeat' WHERE kind = 'change'")
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_payments_kind'), type_='check')
        batch_op.create_check_constraint('kind', "kind IN ('first', 'repeat', 'renewal', 'new_card')")
    op.drop_index('uq_subscriptions_live_per_user', table_name='subscriptions',
                  sqlite_where=ONE_LIVE, postgresql_where=ONE_LIVE)
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('fk_subscriptions_next_plan_id_plans'), type_='foreignkey')
        batch_op.drop_column('kept_before_one_live')
        batch_op.drop_column('next_price')
        batch_op.drop_column('next_plan_id')
    op.drop_index(op.f('ix_plan_changes_subscription_id'), table_name='plan_changes')
    op.drop_table('plan_changes')
