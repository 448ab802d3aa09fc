"""one plan change charged at a time per subscription (a partial unique index on plan_changes):
two confirmation pages submitted at once never both charge the card

Revision ID: d8a4f1c6b2f0
Revises: d8a4f1c6b2e9
Create Date: 2026-12-07 19:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd8a4f1c6b2f0'
down_revision = 'd8a4f1c6b2e9'
branch_labels = None
depends_on = None

CHARGING = sa.text("status = 'charging'")


def upgrade():
    # Should two be charging already (the race this closes), the older ones are left as failed:
    # their charge, if paid, is refunded as too late (billing/plan_change.too_late).
    op.execute(
        "UPDATE plan_changes SET status = 'failed' WHERE status = 'charging' AND id < ("
        "SELECT max(newest.id) FROM plan_changes AS newest "
        "WHERE newest.subscription_id = plan_changes.subscription_id AND newest.status = 'charging')")
    op.create_index('uq_plan_changes_charging_per_subscription', 'plan_changes', ['subscription_id'],
                    unique=True, sqlite_where=CHARGING, postgresql_where=CHARGING)


def downgrade():
    op.drop_index('uq_plan_changes_charging_per_subscription', table_name='plan_changes',
                  sqlite_where=CHARGING, postgresql_where=CHARGING)
