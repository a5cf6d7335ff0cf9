"""The database schema: every table, as SQLAlchemy Core objects.

Alembic (``recommender/migrations``) creates and upgrades it; these objects are what the
queries in the other ``store`` modules are written against. Items are kept as their full
JSON plus indexed columns for the queries the engine and the API make; every change to an
item appends to ``item_changes`` so that several server processes can follow the catalogue
by polling a sequence number.
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = [
    "build_jobs", "campaigns", "editor_tags", "events", "experiments", "exposures", "heartbeat", "item_changes",
    "item_versions", "items", "metadata", "model_versions", "removed_tags", "users",
]

metadata = sa.MetaData()

items = sa.Table(
    "items", metadata,
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("type", sa.String(32), nullable=False, index=True),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("retired", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("law_title", sa.String(200), index=True),
    sa.Column("article_no", sa.Integer),
    sa.Column("version_group", sa.String(300), index=True),
    sa.Column("parent_id", sa.String(128), index=True),
    sa.Column("region", sa.String(64)),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("content_hash", sa.String(40), nullable=False),
    sa.Column("predicted", sa.JSON),
    sa.Column("predicted_model", sa.String(64)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

item_versions = sa.Table(
    "item_versions", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("item_id", sa.String(128), nullable=False, index=True),
    sa.Column("content_hash", sa.String(40), nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("changed_by", sa.String(128)),
    sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
)

item_changes = sa.Table(
    "item_changes", metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("item_id", sa.String(128), nullable=False),
    sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
)

editor_tags = sa.Table(
    "editor_tags", metadata,
    sa.Column("item_id", sa.String(128), sa.ForeignKey("items.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("topics", sa.JSON, nullable=False),
    sa.Column("editor", sa.String(128), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

users = sa.Table(
    "users", metadata,
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("groups", sa.JSON, nullable=False),
    sa.Column("region", sa.String(64)),
    sa.Column("language", sa.String(16)),
    sa.Column("personalized", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("minor", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

removed_tags = sa.Table(
    "removed_tags", metadata,
    sa.Column("user_id", sa.String(128), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("topic", sa.String(64), primary_key=True),
    sa.Column("removed_at", sa.DateTime(timezone=True), nullable=False),
)

events = sa.Table(
    "events", metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(128), unique=True),
    sa.Column("user_id", sa.String(128), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("item_id", sa.String(128)),
    sa.Column("text", sa.Text),
    sa.Column("topics", sa.JSON),  # classifier output for search/question text
    sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
    sa.Column("dwell_ms", sa.Integer),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    # The recommendation the event answers (its ``request_id``): joins it to the exposure log.
    sa.Column("request_id", sa.String(64), index=True),
    sa.Index("ix_events_user_ts", "user_id", "ts"),
    sa.Index("ix_events_item", "item_id"),
)

campaigns = sa.Table(
    "campaigns", metadata,
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

exposures = sa.Table(
    "exposures", metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(64), nullable=False, index=True),
    sa.Column("user_id", sa.String(128), sa.ForeignKey("users.id", ondelete="CASCADE"), index=True),
    sa.Column("groups", sa.JSON),
    sa.Column("items", sa.JSON, nullable=False),
    sa.Column("model_version", sa.String(64)),
    sa.Column("personalized", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("variant", sa.String(64)),  # "control" or the variant's model version; None before 0003
)

model_versions = sa.Table(
    "model_versions", metadata,
    sa.Column("version", sa.String(64), primary_key=True),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("metrics", sa.JSON),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("activated_at", sa.DateTime(timezone=True)),
)

build_jobs = sa.Table(
    "build_jobs", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),  # queued, running, done, failed
    sa.Column("progress", sa.Float, nullable=False, server_default="0"),
    sa.Column("message", sa.Text),
    sa.Column("version", sa.String(64)),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
)


# One row, rewritten by ``Store.check_writable`` (``GET /ready``): a read-only file, a full
# disk or a standby server shows only when something is written.
heartbeat = sa.Table(
    "heartbeat", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
)


# Variant experiments (``recommender.service.experiments``): at most one runs (stopped_at null).
experiments = sa.Table(
    "experiments", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("variant_version", sa.String(64), nullable=False),
    sa.Column("control_version", sa.String(64)),  # the active version when it started
    sa.Column("share", sa.Float, nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("stopped_at", sa.DateTime(timezone=True), index=True),
    sa.Column("created_by", sa.String(128)),
)
