"""billing anchor, renewal periods

Revision ID: f0f82798082a
Revises: add14a95fb0e
Create Date: 2026-12-01 20:15:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f0f82798082a'
down_revision = 'add14a95fb0e'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('billing_anchor', sa.DateTime(), nullable=True))
    # Periods so far were chained from the previous end; the current one's start is the best
    # anchor there is (a subscription never activated gets its anchor when it is).
    op.execute("UPDATE subscriptions SET billing_anchor = COALESCE(current_period_start, created_at)")


def downgrade():
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_column('billing_anchor')
