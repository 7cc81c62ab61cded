"""Initial schema: counters, incidents, incident roles, timeline events, chat messages.

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the column types in sevflow/store/schema.py (a migration never imports the live schema).
TIMESTAMP = sa.DateTime(timezone=True)
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    counters = op.create_table(
        "counters",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_counters"),
    )
    op.bulk_insert(counters, [{"name": "incident", "value": 0}])

    op.create_table(
        "incidents",
        sa.Column("number", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("workflow_id", sa.String(1000), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("service", sa.String(255), nullable=False),
        sa.Column("team", sa.String(255), nullable=True),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("drill", sa.Boolean(), nullable=False),
        sa.Column("fingerprint", sa.String(255), nullable=True),
        sa.Column("alert_count", sa.Integer(), nullable=False),
        sa.Column("repeat_of", sa.Integer(), nullable=True),
        sa.Column("runbook_url", sa.Text(), nullable=True),
        sa.Column("started_at", TIMESTAMP, nullable=True),
        sa.Column("detected_at", TIMESTAMP, nullable=True),
        sa.Column("acknowledged_at", TIMESTAMP, nullable=True),
        sa.Column("mitigated_at", TIMESTAMP, nullable=True),
        sa.Column("resolved_at", TIMESTAMP, nullable=True),
        sa.Column("postmortem_due_at", TIMESTAMP, nullable=True),
        sa.Column("postmortem_published_at", TIMESTAMP, nullable=True),
        sa.Column("closed_at", TIMESTAMP, nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("state", JSON_DOCUMENT, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("number", name="pk_incidents"),
        sa.UniqueConstraint("workflow_id", name="uq_incidents_workflow_id"),
    )
    op.create_index("ix_incidents_status", "incidents", ["status"])
    op.create_index("ix_incidents_service", "incidents", ["service"])
    op.create_index("ix_incidents_detected_at", "incidents", ["detected_at"])
    op.create_index("ix_incidents_fingerprint", "incidents", ["fingerprint"])

    op.create_table(
        "incident_roles",
        sa.Column("incident_number", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("person", sa.String(255), nullable=False),
        sa.Column("assigned_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_number"],
            ["incidents.number"],
            name="fk_incident_roles_incident_number_incidents",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("incident_number", "role", name="pk_incident_roles"),
    )

    op.create_table(
        "timeline_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(1000), nullable=False),
        sa.Column("incident_number", sa.Integer(), nullable=False),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(255), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("data", JSON_DOCUMENT, nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_number"],
            ["incidents.number"],
            name="fk_timeline_events_incident_number_incidents",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_timeline_events"),
        sa.UniqueConstraint("key", name="uq_timeline_events_key"),
    )
    op.create_index("ix_timeline_events_incident_number", "timeline_events", ["incident_number"])

    op.create_table(
        "chat_messages",
        sa.Column("key", sa.String(1000), nullable=False),
        sa.Column("incident_number", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(255), nullable=False),
        sa.Column("ts", sa.String(64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("sent_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_chat_messages"),
    )
    op.create_index("ix_chat_messages_incident_number", "chat_messages", ["incident_number"])


def downgrade() -> None:
    op.drop_index("ix_chat_messages_incident_number", table_name="chat_messages")
    op.drop_table("chat_messages")
    op.drop_index("ix_timeline_events_incident_number", table_name="timeline_events")
    op.drop_table("timeline_events")
    op.drop_table("incident_roles")
    op.drop_index("ix_incidents_fingerprint", table_name="incidents")
    op.drop_index("ix_incidents_detected_at", table_name="incidents")
    op.drop_index("ix_incidents_service", table_name="incidents")
    op.drop_index("ix_incidents_status", table_name="incidents")
    op.drop_table("incidents")
    op.drop_table("counters")
