"""timeline: subscription events (the story of each subscription), the webhook log, and the subscription an outbox mail is about

Revision ID: 8d38c5987025
Revises: b2d4f6a8c013
Create Date: 2026-12-07 14:26:38.282505

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '8d38c5987025'
down_revision = 'b2d4f6a8c013'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('webhook_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.Column('remote_addr', sa.String(length=45), nullable=True),
    sa.Column('body', sa.JSON(), nullable=False),
    sa.Column('imp_uid', sa.String(length=64), nullable=True),
    sa.Column('merchant_uid', sa.String(length=40), nullable=True),
    sa.Column('subscription_id', sa.Integer(), nullable=True),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('detail', sa.String(length=255), nullable=True),
    sa.CheckConstraint("outcome IN ('recorded', 'not_ours', 'unknown_order', 'refused', 'error', 'bad_request')", name=op.f('ck_webhook_log_outcome')),
    sa.ForeignKeyConstraint(['subscription_id'], ['subscriptions.id'], name=op.f('fk_webhook_log_subscription_id_subscriptions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_log'))
    )
    with op.batch_alter_table('webhook_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webhook_log_imp_uid'), ['imp_uid'], unique=False)
        batch_op.create_index('ix_webhook_log_outcome_received', ['outcome', 'received_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_webhook_log_received_at'), ['received_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_webhook_log_subscription_id'), ['subscription_id'], unique=False)

    op.create_table('subscription_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subscription_id', sa.Integer(), nullable=False),
    sa.Column('occurred_at', sa.DateTime(), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('cause', sa.String(length=20), nullable=False),
    sa.Column('payment_id', sa.Integer(), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.CheckConstraint("cause IN ('shopper', 'webhook', 'reconcile', 'staff', 'clock', 'sandbox', 'system')", name=op.f('ck_subscription_events_cause')),
    sa.CheckConstraint("kind IN ('consent_given', 'payment_attempt', 'payment_paid', 'payment_failed', 'payment_held', 'payment_cancelled', 'refund_owed', 'refund_done', 'renewal_scheduled', 'schedule_withdrawn', 'activated', 'renewed', 'card_changed', 'past_due', 'cancel_requested', 'resumed', 'ended')", name=op.f('ck_subscription_events_kind')),
    sa.ForeignKeyConstraint(['payment_id'], ['payments.id'], name=op.f('fk_subscription_events_payment_id_payments')),
    sa.ForeignKeyConstraint(['subscription_id'], ['subscriptions.id'], name=op.f('fk_subscription_events_subscription_id_subscriptions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscription_events'))
    )
    with op.batch_alter_table('subscription_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subscription_events_subscription_id'), ['subscription_id'], unique=False)

    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('subscription_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_outbox_subscription_id'), ['subscription_id'], unique=False)



def downgrade():
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_subscription_id'))
        batch_op.drop_column('subscription_id')

    with op.batch_alter_table('subscription_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subscription_events_subscription_id'))

    op.drop_table('subscription_events')
    with op.batch_alter_table('webhook_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webhook_log_subscription_id'))
        batch_op.drop_index(batch_op.f('ix_webhook_log_received_at'))
        batch_op.drop_index('ix_webhook_log_outcome_received')
        batch_op.drop_index(batch_op.f('ix_webhook_log_imp_uid'))

    op.drop_table('webhook_log')
