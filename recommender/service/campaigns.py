"""Campaigns as editors handle them: the plan's built-in ones and their own, edited,
deleted and previewed (what a group sees on a day with a campaign and without it).

A campaign's shape (its window, boost range, reason phrase) is checked at the edge by
:class:`recommender.inputs.CampaignIn`; here only what needs the taxonomy and the store.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from corpus.schema import first_problem
from corpus.taxonomy import Taxonomy
from recommender.service.errors import Checks, ServiceError
from recommender.service.models import ModelKeeper
from recommender.store import Store

__all__ = ["Campaigns"]


class Campaigns:
    """The taxonomy's campaigns (12·4 宪法日, 4·15 国家安全教育日 ...) and editors' own.

    A campaign's shape (its window, boost range, reason phrase) is checked at the edge by
    :class:`recommender.inputs.CampaignIn`; here only what needs the taxonomy (known topics,
    groups and region) and the store (which campaigns exist). An editor's campaign with a
    built-in one's id overrides it; a built-in one cannot be deleted.
    """

    def __init__(self, store: Store, keeper: ModelKeeper, checks: Checks, taxonomy: Taxonomy) -> None:
        self.store = store
        self.keeper = keeper
        self.checks = checks
        self.taxonomy = taxonomy

    def _builtin(self) -> dict[str, dict[str, Any]]:
        """The taxonomy's campaigns by id, as JSON."""
        return {c.id: {"id": c.id, "name": c.name, "topics": list(c.topics), "start": c.start, "end": c.end,
                       "boost": c.boost, "groups": list(c.groups), "region": c.region, "reason": c.reason,
                       "source": "taxonomy"} for c in self.taxonomy.campaigns}

    def list(self) -> list[dict[str, Any]]:
        """Every campaign as it applies: the taxonomy's not overridden, then the editors'."""
        stored = [{**c, "source": "editor"} for c in self.store.campaigns.list()]
        ids = {c["id"] for c in stored}
        return [c for c in self._builtin().values() if c["id"] not in ids] + stored

    def get(self, campaign_id: str) -> dict[str, Any]:
        """One campaign as it applies (an editor's over the taxonomy's of its id), or 404."""
        self.checks.id(campaign_id, "id")
        found = next((c for c in self.list() if c["id"] == campaign_id), None)
        if found is None:
            raise ServiceError(404, f"no campaign '{campaign_id}' (see GET /v1/campaigns)", "id")
        return found

    def put(self, data: dict[str, Any], campaign_id: str | None = None) -> tuple[dict[str, Any], bool]:
        """Add or replace an editor's campaign (``CampaignIn`` as JSON), under ``campaign_id``
        when the caller names it in the path: (the campaign stored, whether it is new)."""
        if campaign_id is not None:
            self.checks.id(campaign_id, "id")
            if data.get("id") not in (None, campaign_id):
                raise ServiceError(422, f"the body's id '{data['id']}' is not the path's '{campaign_id}'", "id")
            data["id"] = campaign_id
        self.checks.topics(data.get("topics"))
        self.checks.groups(data.get("groups"))
        if data.get("region") is not None:
            data["region"] = self.checks.region(data["region"])  # 巴彦淖尔 -> 巴彦淖尔市, as the hierarchy names it
        if not data.get("id"):
            data["id"] = "c-" + uuid.uuid4().hex[:10]
        self.checks.id(data["id"], "id")
        new = data["id"] not in {c["id"] for c in self.store.campaigns.list()}
        stored = self.store.campaigns.put(data)
        self._changed()
        return stored, new

    def delete(self, campaign_id: str) -> dict[str, Any]:
        """Delete an editor's campaign (a built-in one of its id applies again): 404 when no
        campaign has the id, 409 for a built-in one (override it with PUT instead)."""
        self.checks.id(campaign_id, "id")
        builtin = self._builtin().get(campaign_id)
        if not self.store.campaigns.delete(campaign_id):
            if builtin is not None:
                raise ServiceError(409, f"'{campaign_id}' is a built-in campaign of the plan "
                                        "(corpus/taxonomy/campaigns.yaml) and cannot be deleted; to change it, "
                                        f"PUT /v1/campaigns/{campaign_id} with an editor's version", "id")
            raise ServiceError(404, f"no campaign '{campaign_id}' (see GET /v1/campaigns)", "id")
        self._changed()
        return {"id": campaign_id, "deleted": True, "in_force_again": builtin}

    def preview(self, campaign_id: str, group: str, region: str | None, day: dt.date | None,
                k: int) -> dict[str, Any]:
        """The top ``k`` (with reasons) that ``group`` in ``region`` is shown on ``day``, with
        the campaign and without any campaign of its id, and which items entered and left.
        Non-personal lists, not logged as exposures (nothing is pushed)."""
        from pydantic import ValidationError

        from recommender.inputs import RecommendRequest

        campaign = self.get(campaign_id)
        self.checks.groups([group], "group")
        self.checks.region(region)
        try:
            req = RecommendRequest(groups=[group], region=region, date=day, k=k, personalized=False)
        except ValidationError as exc:
            field, message = first_problem(exc, "query")
            raise ServiceError(422, message, field) from exc
        engine = self.keeper.engine
        now = dt.datetime.now(dt.UTC)
        day = day or now.date()  # the engine's own default
        shown = engine.recommend(req, now=now, user=None)
        without = engine.without_campaign(campaign_id).recommend(req, now=now, user=None)
        ids = [i["item_id"] for i in shown.items]
        before = [i["item_id"] for i in without.items]
        in_force = any(c.id == campaign_id for c in engine.campaigns_on(day, shown.groups, region))
        return {"campaign": campaign, "group": group, "region": region, "date": day, "k": k,
                "in_force": in_force, "model_version": shown.model_version,
                "with_campaign": shown.items, "without_campaign": without.items,
                "entered": [i for i in ids if i not in before], "left": [i for i in before if i not in ids]}

    def _changed(self) -> None:
        if self.keeper.current is not None:
            self.keeper.current.invalidate_campaigns()  # other workers see it within 2 s
