"""Variants and attribution: a config-only version served to a share of the traffic, and what
people did with each list they were shown.

**Variants.** An admin starts an experiment: a *config-only* model version (a pipeline config
over the active version's trained arrays, ``POST /v1/admin/models/{version}/config``) and its
share of the traffic (0 < share <= 0.5). At most one runs at a time. A person is in the
variant iff ``blake2b(experiment_id + ":" + user_id) mod 10,000 < share * 10,000``: stable
across calls, processes and restarts, so a person never switches variant while it runs. A
request without a person is assigned by its own request id (once); a request that uses no
personal data (``personalized: false``, or the person's own setting) is always served by the
control. The response and the exposure log name the variant (``control`` or the version).

**Attribution.** Every list has a ``request_id``; an event that carries it back is joined to
the exposure row. :func:`attribution` counts, for each list, whether an item of it was acted
on (view, click, like, share or complete of an item *in that list*) and completed, and gives
click-through and completion by model version, by variant, by group and by reason phrase,
each a proportion with Wilson's 95 % interval.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recommender.artifacts import ArtifactError, artifacts_dir, read_manifest, read_pipeline_config
from recommender.engine import Engine
from recommender.intervals import wilson
from recommender.service.errors import ServiceError
from recommender.service.models import ModelKeeper
from recommender.store import Store
from recommender.vocab import POSITIVE_TYPES

__all__ = ["BUCKETS", "CLICK_TYPES", "CONTROL", "MAX_SHARE", "Experiments", "attribution", "in_variant",
           "variant_bucket"]

log = logging.getLogger("pufa.service")

CONTROL = "control"
BUCKETS = 10_000
MAX_SHARE = 0.5
# What counts as acting on an item shown: reading it, liking, sharing, completing.
CLICK_TYPES = POSITIVE_TYPES  # view, click, like, share, complete (recommender.vocab)


def variant_bucket(experiment_id: str, key: str) -> int:
    """The bucket (0..9,999) of a person (or an anonymous request) in an experiment: blake2b,
    the same in every process, on every machine, after every restart."""
    digest = hashlib.blake2b(f"{experiment_id}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def in_variant(experiment_id: str, key: str, share: float) -> bool:
    """Whether ``key`` (a user id, or an anonymous request's id) is served the variant."""
    return variant_bucket(experiment_id, key) < round(share * BUCKETS)


@dataclass
class _VariantEngine:
    version: str
    model_id: int  # id() of the active engine's model it shares (the engine swaps it on item changes)
    engine: Engine


class Experiments:
    """Start, stop and list experiments; choose the engine of a request."""

    def __init__(self, store: Store, keeper: ModelKeeper) -> None:
        self.store = store
        self.keeper = keeper
        self._cached: _VariantEngine | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ admin

    def _artifacts_of(self, version: str) -> tuple[Path, dict[str, Any]]:
        found = next((m for m in self.store.models.list() if m.version == version), None)
        if found is None:
            raise ServiceError(404, f"no model version '{version}'", "variant")
        home = Path(found.path)
        try:
            manifest = read_manifest(home)
        except (ArtifactError, OSError, ValueError) as exc:
            raise ServiceError(409, f"model {version} cannot be read: {exc}", "variant") from exc
        return artifacts_dir(home, manifest).resolve(), manifest

    def start(self, variant: str, share: float, created_by: str | None = None) -> dict[str, Any]:
        """Start serving ``variant`` to ``share`` of the traffic. 422 (naming the field) for a
        share out of (0, 0.5], the active version itself, or a version whose trained arrays are
        not the active version's; 404 for an unknown version; 409 while one runs."""
        if not 0 < share <= MAX_SHARE:
            raise ServiceError(422, f"share must be in (0, {MAX_SHARE}], not {share:g}", "share")
        active = self.store.models.active()
        if active is None:
            raise ServiceError(409, "no active model version: nothing to compare a variant with")
        if variant == active.version:
            raise ServiceError(422, f"{variant} is the active version (the control) itself", "variant")
        base, manifest = self._artifacts_of(variant)
        active_base, _ = self._artifacts_of(active.version)
        if not manifest.get("config_only") or base != active_base:
            raise ServiceError(422, f"{variant} does not share the active version {active.version}'s trained "
                                    "arrays: a variant is a config-only version of the active one "
                                    "(POST /v1/admin/models/{version}/config)", "variant")
        try:
            read_pipeline_config(Path(next(m.path for m in self.store.models.list() if m.version == variant)))
        except ArtifactError as exc:
            raise ServiceError(422, f"{variant}'s pipeline config cannot be read: {exc}", "variant") from exc
        row = self.store.experiments.start(variant_version=variant, control_version=active.version, share=share,
                                           created_by=created_by)
        if row is None:
            running = self.store.experiments.running()
            raise ServiceError(409, f"experiment {running['id'] if running else '?'} is running: stop it first",
                               "variant")
        log.info("experiment %s started: %s for %.1f%% of the traffic", row["id"], variant, 100 * share)
        return _public(row)

    def stop(self, experiment_id: str) -> dict[str, Any]:
        row = self.store.experiments.stop(experiment_id)
        if row is None:
            raise ServiceError(404, f"no experiment '{experiment_id}'", "experiment_id")
        return _public(row)

    def list(self) -> list[dict[str, Any]]:
        return [_public(r) for r in self.store.experiments.list()]

    # ------------------------------------------------------------------ serving

    def choose(self, *, user_id: str | None, request_id: str, personal: bool,
               control: Engine) -> tuple[str, Engine]:
        """(variant name, engine) for one request: the control unless an experiment runs, the
        request may use personal data and its person (or, anonymous, the request) falls in the
        variant's share. A variant that cannot serve now (the active version changed under it)
        falls back to the control."""
        if not personal:
            return CONTROL, control
        running = self.store.experiments.running()
        if running is None:
            return CONTROL, control
        key = user_id if user_id else request_id
        if not in_variant(running["id"], key, float(running["share"])):
            return CONTROL, control
        engine = self._variant_engine(running["variant_version"], control)
        return (running["variant_version"], engine) if engine is not None else (CONTROL, control)

    def _variant_engine(self, version: str, control: Engine) -> Engine | None:
        cached = self._cached
        if cached is not None and cached.version == version and cached.model_id == id(control.model):
            return cached.engine
        with self._lock:
            try:
                base, manifest = self._artifacts_of(version)
                active_base, _ = self._artifacts_of(control.version)
                if not manifest.get("config_only") or base != active_base:
                    log.warning("variant %s does not share the active version %s's arrays: control serves",
                                version, control.version)
                    return None
                config = self.keeper.config_of(version)
            except ServiceError as exc:
                log.warning("variant %s cannot serve (%s): control serves", version, exc.message)
                return None
            cap = self.keeper.minor_daily_cap
            if cap is not None and config.filters.minor_daily_cap != cap:
                config = config.merged({"filters": {"minor_daily_cap": cap}})
            engine = Engine(control.model, self.store.people, config, campaigns=self.store.campaigns)
            self._cached = _VariantEngine(version, id(control.model), engine)
            return engine


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "variant": row["variant_version"], "control": row.get("control_version"),
            "share": float(row["share"]), "started_at": row["started_at"], "stopped_at": row.get("stopped_at"),
            "running": row.get("stopped_at") is None, "created_by": row.get("created_by")}


# --------------------------------------------------------------------------- attribution


@dataclass
class _Tally:
    lists: int = 0
    clicked_lists: int = 0
    shown: int = 0
    clicked: int = 0
    completed: int = 0
    people: set[str] = field(default_factory=set)

    def row(self) -> dict[str, Any]:
        return {
            "lists": self.lists, "shown": self.shown, "clicked_lists": self.clicked_lists, "clicked": self.clicked,
            "completed": self.completed, "people": len(self.people),
            "list_ctr": wilson(self.clicked_lists, self.lists).to_dict(),
            "item_ctr": wilson(self.clicked, self.shown).to_dict(),
            "completion": wilson(self.completed, self.shown).to_dict(),
        }


def _phrases(reasons: Iterable[Any]) -> list[str]:
    out = []
    for r in reasons or []:
        text = r.get("text") if isinstance(r, dict) else r
        if text:
            out.append(str(text))
    return list(dict.fromkeys(out))


def attribution(store: Store, start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    """Click-through and completion of the lists served in [start, end), joined to the events
    that carry their ``request_id``.

    A list is *clicked* when an item of it was viewed, liked, shared or completed with its
    request id; an item shown is clicked once however often it was acted on; *completion* is
    the share of items shown that were completed. An event naming an item that was not in
    that list counts nowhere. Each figure is given by model version, by variant (rows logged
    before experiments existed count as control), by group (a list for several groups counts
    in each) and by reason phrase (each item shown, under each of its reasons), as a
    proportion with Wilson's 95 % interval (``mean``, ``low``, ``high``, ``n`` trials):
    ``list_ctr`` = clicked lists / lists, ``item_ctr`` = clicked items / items shown,
    ``completion`` = completed items / items shown."""
    tables: dict[str, dict[str, _Tally]] = {k: defaultdict(_Tally) for k in
                                             ("overall", "model_version", "variant", "group", "reason")}
    batch: list[Any] = []

    def flush() -> None:
        acted: dict[str, set[str]] = defaultdict(set)
        done: dict[str, set[str]] = defaultdict(set)
        for rid, etype, item in store.experiments.answers([e.request_id for e in batch]):
            if item is None or etype not in CLICK_TYPES:
                continue
            acted[rid].add(item)
            if etype == "complete":
                done[rid].add(item)
        for e in batch:
            ids = [str(i["item_id"]) for i in e.items]
            clicked = acted.get(e.request_id, set()) & set(ids)
            completed = done.get(e.request_id, set()) & set(ids)
            keys = [("overall", "all"), ("model_version", e.model_version or "?"),
                    ("variant", e.variant or CONTROL)] + [("group", g) for g in (e.groups or ["(none)"])]
            for table, key in keys:
                t = tables[table][key]
                t.lists += 1
                t.clicked_lists += bool(clicked)
                t.shown += len(ids)
                t.clicked += len(clicked)
                t.completed += len(completed)
                if e.user_id:
                    t.people.add(e.user_id)
            for it in e.items:
                iid = str(it["item_id"])
                for phrase in _phrases(it.get("reasons") or []):
                    t = tables["reason"][phrase]
                    t.shown += 1
                    t.clicked += iid in clicked
                    t.completed += iid in completed
                    if e.user_id:
                        t.people.add(e.user_id)
        batch.clear()

    for exposure in store.exposures.in_period(start, end):
        batch.append(exposure)
        if len(batch) >= 1000:
            flush()
    flush()
    out: dict[str, Any] = {"start": start, "end": end}
    for name, rows in tables.items():
        rendered = {k: v.row() for k, v in sorted(rows.items(), key=lambda kv: (-kv[1].shown, kv[0]))}
        if name == "reason":  # a reason is on items, not lists: no list figure
            for r in rendered.values():
                r.pop("lists"), r.pop("clicked_lists"), r.pop("list_ctr")
        out[name] = rendered.get("all", _Tally().row()) if name == "overall" else rendered
    return out


def format_table(report: dict[str, Any]) -> str:
    """The attribution report as plain-text tables (the replay script prints this)."""
    def pct(iv: dict[str, Any]) -> str:
        if not iv.get("n"):
            return "-"
        return f"{100 * iv['mean']:5.1f}% [{100 * iv['low']:4.1f}, {100 * iv['high']:4.1f}]"

    lines = []
    head = f"{'':34s} {'lists':>6s} {'shown':>6s} {'list CTR [95% CI]':>22s} {'item CTR [95% CI]':>22s} " \
           f"{'completion [95% CI]':>22s}"
    for name in ("overall", "model_version", "variant", "group", "reason"):
        rows = {"all": report["overall"]} if name == "overall" else report[name]
        lines.append(f"by {name}:" if name != "overall" else "overall:")
        lines.append(head)
        for key, r in rows.items():
            lists = str(r.get("lists", "")) if "lists" in r else ""
            lines.append(f"  {key[:32]:32s} {lists:>6s} {r['shown']:>6d} {pct(r.get('list_ctr', {})):>22s} "
                         f"{pct(r['item_ctr']):>22s} {pct(r['completion']):>22s}")
        lines.append("")
    return "\n".join(lines)
