"""scheduled renewals record when iamport took their schedule (the outbox reconcile sends from)

Revision ID: a3e1c07b5d42
Revises: c5a55a98852c
Create Date: 2026-12-01 23:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a3e1c07b5d42'
down_revision = 'c5a55a98852c'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('schedule_taken_at', sa.DateTime(), nullable=True))
    # Every scheduled renewal starts as not taken: the code before this revision sent schedules
    # from a thread pool that a restart could empty. The first reconcile sends each again once;
    # iamport refuses a second schedule for the order id, and the lookup that follows records
    # the first as taken.


def downgrade():
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_column('schedule_taken_at')
