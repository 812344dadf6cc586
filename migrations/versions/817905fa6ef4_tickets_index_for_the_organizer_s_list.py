"""Tickets: index (event_id, created_at, id) for the organizer's list, newest first

Revision ID: 817905fa6ef4
Revises: c3d1e7a2f410
Create Date: 2026-11-26 01:39:23.144873

The registrations list reads an event's tickets `ORDER BY created_at DESC, id DESC LIMIT 50`; with
this index it reads them in index order instead of sorting all of the event's tickets
(tests/test_indexes.py asserts the plan on PostgreSQL and SQLite).
"""
from alembic import op


revision = '817905fa6ef4'
down_revision = 'c3d1e7a2f410'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.create_index('ix_tickets_event_created', ['event_id', 'created_at', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_event_created')
