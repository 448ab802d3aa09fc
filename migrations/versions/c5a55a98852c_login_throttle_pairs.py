"""login throttle by e-mail and client address together: the time of a pair's last failure

Revision ID: c5a55a98852c
Revises: c9808670bdfe
Create Date: 2026-12-01 21:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c5a55a98852c'
down_revision = 'c9808670bdfe'
branch_labels = None
depends_on = None


def upgrade():
    # The old rows count failures per e-mail and per address alone, which no longer decide
    # anything; a throttle's counts are minutes old at most, so nothing is lost by starting over.
    op.execute(sa.text("DELETE FROM login_throttles"))
    with op.batch_alter_table('login_throttles', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_failure', sa.DateTime(), nullable=True))


def downgrade():
    op.execute(sa.text("DELETE FROM login_throttles"))
    with op.batch_alter_table('login_throttles', schema=None) as batch_op:
        batch_op.drop_column('last_failure')
