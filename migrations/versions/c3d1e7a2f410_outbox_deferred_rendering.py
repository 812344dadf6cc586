"""Outbox: emails rendered by the worker (renderer, render_args)

Revision ID: c3d1e7a2f410
Revises: b01b80edf903
Create Date: 2026-11-26 02:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'c3d1e7a2f410'
down_revision = 'b01b80edf903'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('renderer', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('render_args', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_column('render_args')
        batch_op.drop_column('renderer')
