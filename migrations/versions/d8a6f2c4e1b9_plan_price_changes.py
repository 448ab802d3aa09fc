"""a plan's price change and each subscriber's consent to it; a subscription can end for want of it

Revision ID: d8a6f2c4e1b9
Revises: c7e1a4d9b2f5
Create Date: 2026-12-07 18:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd8a6f2c4e1b9'
down_revision = 'c7e1a4d9b2f5'
branch_labels = None
depends_on = None

KINDS = ("'consent_given', 'payment_attempt', 'payment_paid', 'payment_failed', 'payment_held', "
         "'payment_cancelled', 'refund_owed', 'refund_done', 'renewal_scheduled', "
         "'schedule_withdrawn', 'activated', 'renewed', 'card_changed', 'past_due', "
         "'cancel_requested', 'resumed', 'ended'")
PRICE_KINDS = "'price_consent_asked', 'price_consent_reminded', 'price_agreed', 'price_lowered'"
REASONS = "'cancelled', 'payment_failed', 'withdrawn'"
PENDING = "withdrawn_at IS NULL AND applied_at IS NULL"


def _checks(kinds: str, reasons: str) -> None:
    with op.batch_alter_table('subscription_events', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_subscription_events_kind'), type_='check')
        batch_op.create_check_constraint('kind', f"kind IN ({kinds})")
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_subscriptions_ended_reason'), type_='check')
        batch_op.create_check_constraint('ended_reason', f"ended_reason IN ({reasons})")


def upgrade():
    op.create_table(
        'plan_price_changes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('plan_id', sa.Integer(), nullable=False),
        sa.Column('old_price', sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column('new_price', sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column('effective_at', sa.DateTime(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('created_by_email', sa.String(length=254), nullable=True),
        sa.Column('applied_at', sa.DateTime(), nullable=True),
        sa.Column('withdrawn_at', sa.DateTime(), nullable=True),
        sa.CheckConstraint('new_price > 0', name=op.f('ck_plan_price_changes_new_price_positive')),
        sa.ForeignKeyConstraint(['plan_id'], ['plans.id'], name=op.f('fk_plan_price_changes_plan_id_plans')),
        sa.ForeignKeyConstraint(['created_by_id'], ['users.id'],
                                name=op.f('fk_plan_price_changes_created_by_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_price_changes')),
    )
    op.create_index(op.f('ix_plan_price_changes_plan_id'), 'plan_price_changes', ['plan_id'])
    op.create_index('uq_plan_price_changes_pending', 'plan_price_changes', ['plan_id'], unique=True,
                    sqlite_where=sa.text(PENDING), postgresql_where=sa.text(PENDING))
    op.create_table(
        'price_consents',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('subscription_id', sa.Integer(), nullable=False),
        sa.Column('change_id', sa.Integer(), nullable=False),
        sa.Column('renewal_at', sa.DateTime(), nullable=False),
        sa.Column('old_price', sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column('new_price', sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column('asked_at', sa.DateTime(), nullable=False),
        sa.Column('asked_text', sa.String(length=40), nullable=False),
        sa.Column('reminded_at', sa.DateTime(), nullable=True),
        sa.Column('agreed_at', sa.DateTime(), nullable=True),
        sa.Column('agreed_text', sa.String(length=40), nullable=True),
        sa.Column('set_to_end', sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(['subscription_id'], ['subscriptions.id'],
                                name=op.f('fk_price_consents_subscription_id_subscriptions')),
        sa.ForeignKeyConstraint(['change_id'], ['plan_price_changes.id'],
                                name=op.f('fk_price_consents_change_id_plan_price_changes')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_price_consents')),
        sa.UniqueConstraint('subscription_id', 'change_id',
                            name=op.f('uq_price_consents_subscription_id')),
    )
    op.create_index(op.f('ix_price_consents_subscription_id'), 'price_consents', ['subscription_id'])
    _checks(f"{KINDS}, {PRICE_KINDS}", f"{REASONS}, 'price_not_agreed'")


def downgrade():
    op.execute(sa.text("DELETE FROM subscription_events WHERE kind IN (" + PRICE_KINDS + ")"))
    op.execute(sa.text("UPDATE subscriptions SET ended_reason = 'cancelled' "
                       "WHERE ended_reason = 'price_not_agreed'"))
    _checks(KINDS, REASONS)
    op.drop_index(op.f('ix_price_consents_subscription_id'), table_name='price_consents')
    op.drop_table('price_consents')
    op.drop_index('uq_plan_price_changes_pending', table_name='plan_price_changes')
    op.drop_index(op.f('ix_plan_price_changes_plan_id'), table_name='plan_price_changes')
    op.drop_table('plan_price_changes')
