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
    # The code before this revision looked every schedule up on each reconcile run, so a
    # scheduled renewal of that time is taken as held; reconcile's audit finds any that is not.
    op.execute(sa.text(
        "UPDATE payments SET schedule_taken_at = updated_at WHERE status = 'scheduled'"
    ))


def downgrade():
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_column('schedule_taken_at')
