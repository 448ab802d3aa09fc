"""payments held for review get a deadline; renewals to withdraw get a status of their own; the status nothing sets ("tampered") goes

Revision ID: 9b4e2d7c1a35
Revises: 5d2a9c7e4f18
Create Date: 2026-12-07 08:30:00.000000

"""
from datetime import datetime, timedelta, timezone

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '9b4e2d7c1a35'
down_revision = '5d2a9c7e4f18'
branch_labels = None
depends_on = None

STATUSES = "'pending', 'scheduled', 'withdrawing', 'revoked', 'paid', 'failed', 'review', 'cancelled'"
OLD_STATUSES = "'pending', 'scheduled', 'revoked', 'paid', 'failed', 'review', 'cancelled', 'tampered'"


def upgrade():
    # No code has set "tampered" for a long time (a mismatched payment is refunded and the order
    # left as it was); a row that still has it was given back, which "cancelled" says.
    op.execute("UPDATE payments SET status = 'cancelled' WHERE status = 'tampered'")
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('held_until', sa.DateTime(), nullable=True))
        batch_op.drop_constraint(batch_op.f('ck_payments_status'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_payments_status'), f"status IN ({STATUSES})")
    # Holds already open get the default deadline (72 hours) from the upgrade (stored as UTC).
    until = datetime.now(timezone.utc).replace(tzinfo=None) + timedelta(hours=72)
    op.execute(sa.text("UPDATE payments SET held_until = :until WHERE status = 'review'")
               .bindparams(until=until))


def downgrade():
    # A renewal still to withdraw was withdrawn under the old rule: it reads as such.
    op.execute("UPDATE payments SET status = 'revoked' WHERE status = 'withdrawing'")
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_payments_status'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_payments_status'), f"status IN ({OLD_STATUSES})")
        batch_op.drop_column('held_until')
