"""Campaigns in force on a day: the taxonomy's (recurring, national) and the editors' own.

Editors store campaigns through the API; every engine re-reads them at most every two
seconds (:class:`StoredCampaigns`), so all workers follow within that time. Each reading
carries a fingerprint of its content: a cached list names the campaigns it was made with
by that fingerprint, never by the identity of a Python object.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from corpus.taxonomy import Campaign, Taxonomy
from recommender.cache import Cache

__all__ = ["CampaignSource", "StoredCampaigns", "campaign_from_dict", "campaigns_on"]


class CampaignSource(Protocol):
    """Where the editors' campaigns are stored (the store's campaign room)."""

    def list(self) -> list[dict[str, Any]]: ...


def campaign_from_dict(raw: dict[str, Any]) -> Campaign:
    """A campaign stored through the API (dates may be YYYY-MM-DD or recurring MM-DD)."""
    return Campaign(
        id=str(raw["id"]), name=str(raw.get("name", raw["id"])), topics=tuple(raw.get("topics") or ()),
        start=str(raw["start"])[:10], end=str(raw["end"])[:10], boost=float(raw.get("boost", 0.3)),
        reason=str(raw.get("reason") or raw.get("name") or ""), groups=tuple(raw.get("groups") or ()),
        region=raw.get("region"),
    )


def fingerprint(raw: Sequence[dict[str, Any]]) -> str:
    """The same text for the same campaigns (whatever object holds them)."""
    text = json.dumps(list(raw), sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


class StoredCampaigns:
    """The editors' campaigns, read by ``load`` at most every ``ttl`` seconds."""

    def __init__(self, load: Callable[[], list[dict[str, Any]]], ttl: float = 2.0) -> None:
        self.load = load
        self._cache: Cache[str, tuple[str, list[dict[str, Any]]]] = Cache(maxsize=1, ttl=ttl)

    def read(self) -> tuple[str, list[dict[str, Any]]]:
        """(fingerprint, campaigns as stored)."""
        hit = self._cache.get("stored")
        if hit is None:
            raw = self.load()
            hit = (fingerprint(raw), raw)
            self._cache.put("stored", hit)
        return hit

    def invalidate(self) -> None:
        """Re-read on the next request (this process changed them)."""
        self._cache.clear()


def campaigns_on(taxonomy: Taxonomy, stored: Sequence[dict[str, Any]], day: dt.date,
                 group_ids: Sequence[str], region: str | None) -> list[Campaign]:
    """The taxonomy's campaigns on ``day`` for these groups and region, then the stored ones
    (one with a taxonomy campaign's id is ignored; of stored ones sharing an id, the last)."""
    found = taxonomy.campaigns_on(day, group_ids=list(group_ids), region=region)
    seen = {c.id for c in found}
    for raw in stored:
        c = campaign_from_dict(raw)
        if c.id in seen or not c.active_on(day):
            continue
        if c.groups and not set(c.groups) & set(group_ids):
            continue
        if c.region and region and c.region not in region and region not in c.region:
            continue
        found = [x for x in found if x.id != c.id] + [c]
    return found
