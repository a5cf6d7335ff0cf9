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

__all__ = ["CampaignSource", "StoredCampaigns", "campaign_from_dict", "campaigns_on", "region_applies"]


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


def region_applies(taxonomy: Taxonomy, campaign_region: str | None, region: str | None) -> bool:
    """Whether a campaign held in ``campaign_region`` reaches a person or request in ``region``.

    A campaign for a region reaches everything inside it, by the parents in
    ``corpus/taxonomy/regions.yaml``: one for 巴彦淖尔市 reaches 临河区 and 巴彦淖尔市 itself, one
    for 内蒙古自治区 all of Inner Mongolia; one for 临河区 does not reach 巴彦淖尔市, nor one for
    巴彦淖尔市 包头市. Official and short names and codes are alike (巴彦淖尔 = 巴彦淖尔市 = 150800).
    A campaign with no region reaches everyone, and so does every campaign a request without a
    region. A name the taxonomy does not list (data from before regions were checked) matches by
    its text (:meth:`~corpus.taxonomy.Taxonomy.region_within`).
    """
    if not campaign_region or not region:
        return True
    return taxonomy.region_within(region, campaign_region)


def campaigns_on(taxonomy: Taxonomy, stored: Sequence[dict[str, Any]], day: dt.date,
                 group_ids: Sequence[str], region: str | None) -> list[Campaign]:
    """The campaigns in force on ``day`` for these groups and this region: the taxonomy's, then
    the editors' stored ones.

    An editor's campaign with a taxonomy campaign's id replaces it on every day (so the
    taxonomy's applies only when the editor's does); of stored ones sharing an id, the last
    counts. A campaign with groups reaches requests naming one of them; its region reaches
    the regions inside it (:func:`region_applies`).
    """
    by_id: dict[str, Campaign] = {c.id: c for c in taxonomy.campaigns}
    for raw in stored:
        c = campaign_from_dict(raw)
        by_id[c.id] = c
    groups = set(group_ids)
    return [c for c in by_id.values()
            if c.active_on(day) and (not c.groups or set(c.groups) & groups)
            and region_applies(taxonomy, c.region, region)]
