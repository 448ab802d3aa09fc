"""refunds: a row per refund request (its key and amount), what each payment has had refunded

Revision ID: a9c4e2f7b1d3
Revises: 8d38c5987025
Create Date: 2026-12-07 14:50:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a9c4e2f7b1d3'
down_revision = '8d38c5987025'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('refunded_amount', sa.Numeric(precision=12, scale=2),
                                      nullable=False, server_default='0'))
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.add_column(sa.Column('request_key', sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column('cancellation_id', sa.String(length=80), nullable=True))
    # Every existing row is a refund in full the shop owed itself: keyed by its imp_uid, as
    # billing.refunds.full_refund_key keys the new ones.
    op.execute("UPDATE refunds SET request_key = 'full:' || imp_uid")
    # What the refunds already done gave back of our own payments.
    op.execute("UPDATE payments SET refunded_amount = (SELECT COALESCE(SUM(refunds.amount), 0) "
               "FROM refunds WHERE refunds.payment_id = payments.id AND refunds.status = 'done')")
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.alter_column('request_key', existing_type=sa.String(length=80), nullable=False)
        batch_op.drop_constraint('uq_refunds_imp_uid', type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_refunds_request_key'), ['request_key'])
        batch_op.create_unique_constraint('uq_refunds_cancellation', ['imp_uid', 'cancellation_id'])
        batch_op.create_index(batch_op.f('ix_refunds_imp_uid'), ['imp_uid'], unique=False)
        batch_op.create_index(batch_op.f('ix_refunds_payment_id'), ['payment_id'], unique=False)


def downgrade():
    # The old table holds one refund in full per imp_uid: requests of part of a payment (staff's)
    # have no place in it.
    op.execute("DELETE FROM refunds WHERE request_key <> 'full:' || imp_uid")
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_refunds_payment_id'))
        batch_op.drop_index(batch_op.f('ix_refunds_imp_uid'))
        batch_op.drop_constraint('uq_refunds_cancellation', type_='unique')
        batch_op.drop_constraint(batch_op.f('uq_refunds_request_key'), type_='unique')
        batch_op.create_unique_constraint('uq_refunds_imp_uid', ['imp_uid'])
        batch_op.drop_column('cancellation_id')
        batch_op.drop_column('request_key')
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_column('refunded_amount')
