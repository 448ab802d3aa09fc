"""a card change is a payment kind of its own (new_card), no longer recorded as a repeat charge

Revision ID: e3c58a0d7b14
Revises: b7e2f41c9a06
Create Date: 2026-12-02 03:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e3c58a0d7b14'
down_revision = 'b7e2f41c9a06'
branch_labels = None
depends_on = None

payments = sa.table('payments', sa.column('kind', sa.String), sa.column('merchant_uid', sa.String))
# Card changes were repeat payments on an order id of their own prefix ("card_", see orders.py).
CARD_ORDERS = payments.c.merchant_uid.like('card\\_%', escape='\\')


def upgrade():
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_payments_kind'), type_='check')
        batch_op.create_check_constraint('kind', "kind IN ('first', 'repeat', 'renewal', 'new_card')")
    op.execute(payments.update().where(payments.c.kind == 'repeat', CARD_ORDERS)
               .values(kind='new_card'))


def downgrade():
    op.execute(payments.update().where(payments.c.kind == 'new_card').values(kind='repeat'))
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_payments_kind'), type_='check')
        batch_op.create_check_constraint('kind', "kind IN ('first', 'repeat', 'renewal')")
