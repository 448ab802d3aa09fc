"""shop_state: small values kept by key (the sandbox generation the shop last saw)

Revision ID: 6e1f3a9b2c57
Revises: c41a7e9d2b60
Create Date: 2026-12-07 11:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '6e1f3a9b2c57'
down_revision = 'c41a7e9d2b60'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'shop_state',
        sa.Column('key', sa.String(length=40), nullable=False),
        sa.Column('value', sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_shop_state')),
    )


def downgrade():
    op.drop_table('shop_state')
