"""users keep the language they picked on the switch; plans carry their texts in other languages

Revision ID: b7e2f41c9a06
Revises: a3e1c07b5d42
Create Date: 2026-12-02 02:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b7e2f41c9a06'
down_revision = 'a3e1c07b5d42'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('locale', sa.String(length=8), nullable=True))
    with op.batch_alter_table('plans', schema=None) as batch_op:
        batch_op.add_column(sa.Column('translations', sa.JSON(), nullable=False,
                                      server_default='{}'))


def downgrade():
    with op.batch_alter_table('plans', schema=None) as batch_op:
        batch_op.drop_column('translations')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('locale')
