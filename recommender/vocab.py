"""The service's vocabularies and limits, each written once.

The wire schemas (``api/schemas.py``), the service, the CLI, the store and the engine all
read these names; a new event type or a new limit is one edit here. Item types, statuses
and audiences belong to the content schema and live in :mod:`corpus.schema`.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal, get_args

__all__ = [
    "CAMPAIGN_BOOST_MAX", "CAMPAIGN_BOOST_MIN", "CAMPAIGN_REASON_MAX",
    "DEFAULT_DB_URL",
    "DEFAULT_MODELS_DIR",
    "DWELL_MAX_MS",
    "EARLIEST_EVENT",
    "EVENT_TYPES",
    "EXPOSURE_RETENTION_DAYS",
    "K_DEFAULT",
    "K_MAX",
    "MAX_EVENTS_PER_REQUEST",
    "MAX_EVENT_TEXT",
    "MINOR_DAILY_CAP",
    "POSITIVE_TYPES",
    "RELATED_K_MAX",
    "TEXT_TYPES",
    "EventType",
]

# What a person did. search and question carry the person's words instead of an item.
EventType = Literal["view", "click", "like", "share", "complete", "dismiss", "search", "question"]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)
# Reading an item: these count as interest and as co-reading.
POSITIVE_TYPES: frozenset[str] = frozenset({"view", "click", "like", "share", "complete"})
TEXT_TYPES: frozenset[str] = frozenset({"search", "question"})

# Events older than this are a client's clock or a typing error, not a person's history.
EARLIEST_EVENT = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
MAX_EVENT_TEXT = 2000  # characters of a search or a question
DWELL_MAX_MS = 86_400_000  # one day
MAX_EVENTS_PER_REQUEST = 10_000

K_DEFAULT = 10  # items per recommendation
K_MAX = 100
RELATED_K_MAX = 50  # related items of one item (GET /v1/items/{id}/related)

# A campaign's boost, as documented for the plan's own campaigns (corpus/taxonomy/campaigns.yaml):
# enough to bring its topics forward in its days, never enough to bury what a group must know.
CAMPAIGN_BOOST_MIN = 0.2
CAMPAIGN_BOOST_MAX = 0.6
CAMPAIGN_REASON_MAX = 40  # characters of the phrase people read ("国家宪法日专题")

MINOR_DAILY_CAP = 20  # items pushed a day to a minor (算法推荐管理规定 art. 18)
EXPOSURE_RETENTION_DAYS = 180  # how long the exposure log keeps a record

DEFAULT_DB_URL = "sqlite:///./pufa.db"
DEFAULT_MODELS_DIR = "./models"
