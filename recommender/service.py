"""The service: the engine, the store and the model lifecycle behind one object.

The HTTP API (``api/``) and the CLI call this; it holds no HTTP knowledge. It validates input
(raising :class:`ServiceError` naming the field), keeps the engine in step with the database
(items changed by other processes, the active model version), logs every recommendation it
serves (the exposure log) and carries the duties of a recommendation service: non-personal
mode, tag removal, erasure, minors' protection.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from corpus.schema import ID_RE, Item, check_taxonomy_ids, first_problem
from corpus.taxonomy import load_taxonomy
from recommender.artifacts import ArtifactError, set_active
from recommender.config import PipelineConfig
from recommender.engine import Engine, RecommendRequest, RecommendResult, load_model
from recommender.profiles import EVENT_TYPES, TEXT_TYPES, is_blocked_text
from recommender.store import Store, utcnow

__all__ = ["PufaService", "ServiceError", "bootstrap"]

# Events older than this are a client's clock or a typing error, not a person's history.
EARLIEST_EVENT = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
# What an item's url may be: a page a person can open (no javascript:, data:, file:).
_WEB_URL = ("http://", "https://")

log = logging.getLogger("pufa.service")

MAX_TEXT = 2000


def bootstrap(store: Store, models_dir: str | Path) -> None:
    """A fresh machine: import the bundled sample content into an empty database, and build
    and activate a first model when none is active."""
    from corpus.loaders import load_paths
    from recommender.build import BuildConfig, build_model

    if store.count_items() == 0:
        sample = Path(__file__).resolve().parents[1] / "corpus" / "sample"
        stats = store.upsert_items(load_paths([sample]).items, changed_by="bootstrap")
        log.warning("bootstrap: imported %d bundled sample items", stats.added)
    if store.active_model() is None:
        log.warning("bootstrap: no active model, building one from the database ...")
        report = build_model(store, models_dir, config=BuildConfig(evaluate=False))
        log.warning("bootstrap: model %s built and activated", report.version)


class ServiceError(Exception):
    """Bad input or a missing resource: ``status`` is the HTTP status, ``field`` the culprit."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


@dataclass
class EventResult:
    accepted: int
    duplicates: int
    rejected: list[dict[str, Any]]


class PufaService:
    def __init__(self, store: Store, models_dir: str | Path, *, config: PipelineConfig | None = None,
                 exposure_retention_days: int = 180, minor_daily_cap: int | None = None,
                 sync_interval: float = 0.0) -> None:
        self.store = store
        self.models_dir = Path(models_dir)
        self.config = config or PipelineConfig()
        if minor_daily_cap is not None:
            self.config.filters.minor_daily_cap = minor_daily_cap
        self.exposure_retention_days = exposure_retention_days
        self.taxonomy = load_taxonomy()
        self.sync_interval = sync_interval
        self._engine: Engine | None = None
        self._engine_seq = 0
        self._checked = 0.0
        self._lock = threading.RLock()
        self._last_purge = 0.0

    # ------------------------------------------------------------------ model lifecycle
    @property
    def engine(self) -> Engine:
        """The engine of the active model version (loaded on first use; kept in step)."""
        self._check_state()
        if self._engine is None:
            raise ServiceError(503, "no active model: run `pufa build` (or POST /v1/admin/builds)")
        return self._engine

    def loaded_version(self) -> str | None:
        """The active model version, following the database when it answers; while it does
        not, the version in memory (which keeps serving what needs no database)."""
        try:
            self._check_state()
        except (ServiceError, SQLAlchemyError):
            pass
        return self._engine.version if self._engine is not None else None

    def has_model(self) -> bool:
        try:
            self._check_state()
        except ServiceError:
            return False
        return self._engine is not None

    def _check_state(self, force: bool = False) -> None:
        """Follow the database: the active model version and items changed elsewhere. One
        small query per request (two numbers); the work happens only when something moved."""
        now = time.monotonic()
        if not force and now - self._checked < self.sync_interval and self._engine is not None:
            return
        self._checked = now
        if not force and self._engine is not None:
            version, seq = self.store.state()
            if version == self._engine.version and seq <= self._engine_seq:
                return
        with self._lock:
            active = self.store.active_model()
            if active is None:
                return
            if self._engine is None or self._engine.version != active["version"]:
                self._load(active["version"], active["path"])
            self._sync_items()

    def _load(self, version: str, path: str) -> None:
        try:
            model = load_model(path, taxonomy=self.taxonomy)
        except (ArtifactError, OSError, ValueError) as exc:
            log.error("cannot load model %s from %s: %s", version, path, exc)
            if self._engine is None:
                raise ServiceError(503, f"the active model {version} cannot be loaded: {exc}") from exc
            return
        engine = Engine(model, self.store, self.config)
        seq = int(model.manifest.get("catalog_seq") or 0)
        # Swap only when ready: requests in flight keep the engine they started with.
        self._engine, self._engine_seq = engine, seq
        self._sync_items()
        log.info("model %s active (%d items)", version, len(model.catalog))

    def _sync_items(self) -> dict[str, list[dict[str, Any]]]:
        """Apply items changed in the database since this engine's last look (this process,
        other workers, imports) to the engine: indexed and classified with the active model.
        Returns the predicted topics of the items it indexed."""
        engine = self._engine
        preds: dict[str, list[dict[str, Any]]] = {}
        if engine is None:
            return preds
        with self._lock:
            while True:
                seq, ids = self.store.changes_since(self._engine_seq, limit=5000)
                if not ids:
                    return preds
                items = list(self.store.get_items(ids).values())
                new = engine.add_items(items, self.store.editor_tags([it.id for it in items]))
                self.store.set_predictions(new, engine.version)
                preds.update(new)
                self._engine_seq = seq

    def reload(self) -> str | None:
        self._check_state(force=True)
        return self._engine.version if self._engine else None

    def activate(self, version: str) -> dict[str, Any]:
        models = {m["version"]: m for m in self.store.list_models()}
        if version not in models:
            raise ServiceError(404, f"no model version '{version}'", "version")
        try:
            load_model(models[version]["path"], taxonomy=self.taxonomy)  # refuse a broken version
        except (ArtifactError, OSError, ValueError) as exc:
            raise ServiceError(409, f"model {version} cannot be loaded: {exc}", "version") from exc
        self.store.activate_model(version)
        try:
            set_active(self.models_dir, version)
        except ArtifactError:
            pass  # the version lives outside this models directory; the database decides
        self._check_state(force=True)
        return {"version": version, "active": True}

    def rollback(self) -> dict[str, Any]:
        """Activate the version that was active before the current one."""
        models = self.store.list_models()
        current = next((m for m in models if m["active"]), None)
        older = sorted((m for m in models if not m["active"] and m.get("activated_at")),
                       key=lambda m: m["activated_at"], reverse=True)
        if current is None or not older:
            raise ServiceError(409, "no earlier activated model version to roll back to")
        return self.activate(older[0]["version"])

    def start_build(self, *, evaluate: bool = False,
                    on_done: Callable[[str], None] | None = None) -> str:
        """Build a new version in a background thread; progress is in the build job row."""
        from recommender.build import BuildConfig, build_model

        job_id = uuid.uuid4().hex[:12]
        self.store.create_job(job_id)

        def run() -> None:
            self.store.update_job(job_id, status="running", message="starting")
            last = [0.0]

            def progress(stage: str, fraction: float) -> None:
                if fraction - last[0] >= 0.02 or fraction >= 1.0:
                    last[0] = fraction
                    self.store.update_job(job_id, progress=round(fraction, 3), message=stage)

            try:
                cfg = BuildConfig(evaluate=evaluate)
                report = build_model(self.store, self.models_dir, config=cfg, activate=True, progress=progress)
                self._check_state(force=True)  # serve the new version before saying "done"
                self.store.update_job(job_id, status="done", progress=1.0, message="done", version=report.version)
                if on_done:
                    on_done(report.version)
            except Exception as exc:  # the job reports any failure; the server keeps running
                log.exception("build %s failed", job_id)
                self.store.update_job(job_id, status="failed", message=str(exc)[:500])

        threading.Thread(target=run, name=f"build-{job_id}", daemon=True).start()
        return job_id

    # ------------------------------------------------------------------ validation helpers
    def _check_id(self, value: Any, field: str) -> str:
        if not isinstance(value, str) or not ID_RE.match(value):
            raise ServiceError(422, f"{field} must be 1-128 characters of letters, digits and _-.:", field)
        return value

    def _check_known(self, values: Sequence[str] | None, known: Any, kind: str, field: str) -> list[str]:
        values = list(values or [])
        unknown = [v for v in values if v not in known]
        if unknown:
            raise ServiceError(422, f"unknown {kind} id(s): {', '.join(unknown)} (see GET /v1/{kind}s)", field)
        return values

    def _check_groups(self, groups: Sequence[str] | None, field: str = "groups") -> list[str]:
        return self._check_known(groups, self.taxonomy.groups, "group", field)

    def _check_topics(self, topics: Sequence[str] | None, field: str = "topics") -> list[str]:
        return self._check_known(topics, self.taxonomy.topics, "topic", field)

    # ------------------------------------------------------------------ recommendations
    def recommend(self, req: RecommendRequest) -> RecommendResult:
        if req.user_id is not None:
            self._check_id(req.user_id, "user_id")
        if req.groups:
            self._check_groups(req.groups)
        if not 1 <= req.k <= 100:
            raise ServiceError(422, "k must be between 1 and 100", "k")
        self.check_region(req.region)
        engine = self.engine
        now = utcnow()
        shown = None
        user = self.store.get_user(req.user_id) if req.user_id else None
        if user is not None and user.get("minor"):
            day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
            shown = self.store.shown_today(req.user_id, day_start)  # type: ignore[arg-type]
        result = engine.recommend(req, now=now, shown_today=shown, user=user)
        self.store.log_exposure(
            request_id=result.request_id, user_id=req.user_id, groups=result.groups,
            items_shown=[{"item_id": i["item_id"], "reasons": i["reasons"], "score": i["score"]} for i in result.items],
            model_version=result.model_version, personalized=result.personalized, user_exists=user is not None,
        )
        self._maybe_purge()
        return result

    def _maybe_purge(self) -> None:
        if time.monotonic() - self._last_purge > 3600:
            self._last_purge = time.monotonic()
            self.purge_exposures()

    def purge_exposures(self) -> int:
        cutoff = utcnow() - dt.timedelta(days=self.exposure_retention_days)
        return self.store.purge_exposures(cutoff)

    # ------------------------------------------------------------------ events
    def ingest_events(self, events: Sequence[dict[str, Any]], *, all_or_nothing: bool = False) -> EventResult:
        """Validate, enrich (topics of the person's text) and store events durably."""
        if len(events) > 10_000:
            raise ServiceError(413, "at most 10000 events per request", "events")
        good: list[dict[str, Any]] = []
        rejected: list[dict[str, Any]] = []
        item_ids = [e.get("item_id") for e in events if isinstance(e, dict) and isinstance(e.get("item_id"), str)]
        known_items = self._known_items(item_ids) if item_ids else set()
        for n, ev in enumerate(events):
            try:
                good.append(self._validate_event(ev, known_items))
            except ServiceError as exc:
                rejected.append({"index": n, "field": exc.field, "error": exc.message})
        if rejected and all_or_nothing:
            first = rejected[0]
            raise ServiceError(422, first["error"], first["field"])
        engine = self._engine if self._engine is not None else (self.engine if self.has_model() else None)
        for ev in good:
            if ev["type"] in TEXT_TYPES and engine is not None and not is_blocked_text(ev["text"]):
                ev["topics"] = engine.event_topics(ev["text"])
        stored, dup = self.store.add_events(good)
        return EventResult(stored, dup, rejected)

    def _known_items(self, ids: Sequence[str]) -> set[str]:
        engine = self._engine
        known = {i for i in ids if engine is not None and i in engine.model.catalog.row_of}
        rest = [i for i in ids if i not in known]
        if rest:
            known |= self.store.existing_ids(rest)
        return known

    def _validate_event(self, ev: Any, known_items: set[str]) -> dict[str, Any]:
        if not isinstance(ev, dict):
            raise ServiceError(422, "an event must be a JSON object", "event")
        allowed = {"id", "user_id", "type", "item_id", "text", "ts", "dwell_ms"}
        unknown = sorted(set(ev) - allowed)
        if unknown:
            raise ServiceError(422, f"unknown field(s) {unknown}", unknown[0])
        user_id = self._check_id(ev.get("user_id"), "user_id")
        etype = ev.get("type")
        if etype not in EVENT_TYPES:
            raise ServiceError(422, f"type must be one of {', '.join(EVENT_TYPES)}", "type")
        out: dict[str, Any] = {"user_id": user_id, "type": etype}
        if ev.get("id") is not None:
            out["event_id"] = self._check_id(ev["id"], "id")
        item_id = ev.get("item_id")
        if etype in TEXT_TYPES:
            text = ev.get("text")
            if isinstance(text, str):
                text = text.replace("\x00", "")
            if not isinstance(text, str) or not text.strip():
                raise ServiceError(422, f"a {etype} event needs a non-empty text", "text")
            if len(text) > MAX_TEXT:
                raise ServiceError(422, f"text is longer than {MAX_TEXT} characters", "text")
            out["text"] = text.strip()
        elif ev.get("text") is not None:
            raise ServiceError(422, f"a {etype} event carries no text", "text")
        if etype not in TEXT_TYPES or item_id is not None:
            if etype not in TEXT_TYPES and item_id is None:
                raise ServiceError(422, f"a {etype} event needs an item_id", "item_id")
            self._check_id(item_id, "item_id")
            if item_id not in known_items:
                raise ServiceError(422, f"unknown item_id '{item_id}'", "item_id")
            out["item_id"] = item_id
        ts = ev.get("ts")
        if ts is not None:
            try:
                parsed = dt.datetime.fromisoformat(str(ts).replace("Z", "+00:00"))
            except ValueError as exc:
                raise ServiceError(422, "ts must be an ISO 8601 time with zone", "ts") from exc
            if parsed.tzinfo is None:
                raise ServiceError(422, "ts must carry a time zone (e.g. +08:00 or Z)", "ts")
            if parsed > utcnow() + dt.timedelta(minutes=5):
                raise ServiceError(422, "ts is in the future", "ts")
            if parsed < EARLIEST_EVENT:
                raise ServiceError(422, f"ts is before {EARLIEST_EVENT.date()}: not a time this service was used", "ts")
            out["ts"] = parsed.astimezone(dt.UTC)
        dwell = ev.get("dwell_ms")
        if dwell is not None:
            if not isinstance(dwell, int) or isinstance(dwell, bool) or not 0 <= dwell <= 86_400_000:
                raise ServiceError(422, "dwell_ms must be an integer between 0 and 86400000", "dwell_ms")
            out["dwell_ms"] = dwell
        return out

    # ------------------------------------------------------------------ users
    def put_user(self, user_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        self._check_id(user_id, "user_id")
        # null means "leave as it is"; strings lose NUL bytes.
        fields = {k: v.replace("\x00", "") if isinstance(v, str) else v for k, v in fields.items() if v is not None}
        if "groups" in fields and fields["groups"] is not None:
            fields["groups"] = self._check_groups(fields["groups"])
        self.check_region(fields.get("region"))
        return self.user_view(self.store.put_user(user_id, **fields)["id"])

    def user_view(self, user_id: str) -> dict[str, Any]:
        self._check_id(user_id, "user_id")
        user = self.store.get_user(user_id)
        if user is None:
            raise ServiceError(404, f"no user '{user_id}'", "user_id")
        tags: list[dict[str, Any]] = []
        if self.has_model():
            engine = self.engine
            profile = engine.profile(user_id)
            tags = profile.tags(engine.topic_ids, self.config.profile.min_tag_weight)
            names = {t["topic"]: self.taxonomy.topic_name(t["topic"]) for t in tags}
            for t in tags:
                t["name"] = names[t["topic"]]
        for g in user.get("groups") or []:
            grp = self.taxonomy.groups.get(g)
            if grp is None:
                continue
            for tid, w in sorted(grp.topics.items(), key=lambda kv: -kv[1])[:3]:
                if tid not in {t["topic"] for t in tags} and tid not in user["removed_tags"]:
                    tags.append({"topic": tid, "weight": round(w, 3), "source": f"group:{g}",
                                 "name": self.taxonomy.topic_name(tid)})
        return {
            "id": user["id"], "groups": user["groups"], "region": user["region"], "language": user["language"],
            "personalized": user["personalized"], "minor": user["minor"], "tags": tags,
            "removed_tags": user["removed_tags"], "events": self.store.count_events(user_id),
            "created_at": user["created_at"], "updated_at": user["updated_at"],
        }

    def remove_tag(self, user_id: str, topic: str) -> dict[str, Any]:
        self._check_id(user_id, "user_id")
        if topic not in self.taxonomy.topics:
            raise ServiceError(404, f"no topic '{topic}'", "topic")
        if self.store.get_user(user_id) is None:
            raise ServiceError(404, f"no user '{user_id}'", "user_id")
        self.store.remove_tag(user_id, topic)
        return self.user_view(user_id)

    def erase_user(self, user_id: str) -> None:
        self._check_id(user_id, "user_id")
        if not self.store.delete_user(user_id):
            raise ServiceError(404, f"no user '{user_id}'", "user_id")

    # ------------------------------------------------------------------ items
    def validate_item(self, data: dict[str, Any]) -> Item:
        from pydantic import ValidationError

        from corpus.loaders import item_from_dict

        try:
            item = item_from_dict(data)
        except ValidationError as exc:
            field, message = first_problem(exc)
            raise ServiceError(422, message, field) from exc
        problems = check_taxonomy_ids(item, set(self.taxonomy.topics), set(self.taxonomy.groups))
        if problems:
            raise ServiceError(422, problems[0], problems[0].split(":")[0])
        if item.supersedes and item.supersedes == item.id:
            raise ServiceError(422, "an item cannot supersede itself", "supersedes")
        if item.url and not item.url.lower().startswith(_WEB_URL):
            raise ServiceError(422, "url must be a web address starting with http:// or https://", "url")
        self.check_region(item.region)
        return item

    def check_supersedes(self, items: Sequence[Item]) -> dict[str, str]:
        """Items whose ``supersedes`` names no stored item and none of ``items``: id -> why."""
        named = {it.supersedes for it in items if it.supersedes} - {it.id for it in items}
        if not named:
            return {}
        stored = self.store.existing_ids(sorted(named))
        return {it.id: f"supersedes names no item: '{it.supersedes}'" for it in items
                if it.supersedes in named and it.supersedes not in stored}

    def check_region(self, region: str | None, field: str = "region") -> None:
        """A region must be one the taxonomy lists (corpus/taxonomy/regions.yaml), at most a
        county: a street address is personal data the product does not collect."""
        if region is not None and self.taxonomy.region(region) is None:
            raise ServiceError(422, f"'{region[:64]}' is not a region Pufa knows: name a province, city, league "
                                    "or county (e.g. 巴彦淖尔市, 临河区), not an address", field)

    def add_items(self, items: Sequence[Item], *, editor: str | None = None) -> dict[str, list[dict[str, Any]]]:
        self.store.upsert_items(items, changed_by=editor)
        return self._index_now([it.id for it in items])

    def _index_now(self, ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """Index and classify stored items with the active model right away."""
        if not self.has_model():
            return {}
        self._sync_items()  # indexes and classifies every changed item, these included
        return self.store.get_predictions(ids)

    def item_view(self, item_id: str) -> dict[str, Any]:
        item = self.store.get_item(item_id)
        if item is None:
            raise ServiceError(404, f"no item '{item_id}'", "item_id")
        data = item.model_dump(mode="json")
        data["predicted_topics"] = self.store.get_predictions([item_id]).get(item_id, [])
        tags = self.store.editor_tag_info(item_id)
        data["editor_topics"] = tags["topics"] if tags else None
        return data

    def patch_item(self, item_id: str, changes: dict[str, Any], *, editor: str | None = None) -> dict[str, Any]:
        current = self.store.get_item(item_id)
        if current is None:
            raise ServiceError(404, f"no item '{item_id}'", "item_id")
        if "id" in changes and changes["id"] != item_id:
            raise ServiceError(422, "id cannot be changed", "id")
        data = current.model_dump(mode="json")
        data.update(changes)
        item = self.validate_item(data)
        self.add_items([item], editor=editor)
        return self.item_view(item_id)

    def retire_item(self, item_id: str, *, editor: str | None = None) -> dict[str, Any]:
        return self.patch_item(item_id, {"retired": True}, editor=editor)

    def set_item_topics(self, item_id: str, topics: Sequence[str], editor: str) -> dict[str, Any]:
        if self.store.get_item(item_id) is None:
            raise ServiceError(404, f"no item '{item_id}'", "item_id")
        topics = self._check_topics(topics)
        if not isinstance(editor, str) or not editor.strip():
            raise ServiceError(422, "editor must name who confirmed the tags", "editor")
        self.store.set_editor_tags(item_id, topics, editor.strip())
        self._index_now([item_id])
        return self.item_view(item_id)

    def review_queue(self, limit: int = 20) -> list[dict[str, Any]]:
        """Items whose predicted tags most need an editor: predictions near the decision
        boundary (most uncertain first), items no one has tagged, current items only."""
        engine = self.engine
        cat = engine.model.catalog
        out = []
        for r, meta in enumerate(cat.metas):
            if meta.topic_source != "predicted" or not meta.recommendable:
                continue
            top = float(cat.topics[r].max())
            out.append((abs(top - 0.5), r))
        out.sort()
        rows = [r for _, r in out[: max(1, min(limit, 500))]]
        preds = self.store.get_predictions([cat.metas[r].id for r in rows])
        return [{"item_id": cat.metas[r].id, "title": cat.metas[r].title, "type": cat.metas[r].type,
                 "law_title": cat.metas[r].law_title, "predicted_topics": preds.get(cat.metas[r].id, []),
                 "uncertainty": round(1 - 2 * d, 3)} for d, r in sorted(out)[: len(rows)]]

    # ------------------------------------------------------------------ campaigns
    def list_campaigns(self) -> list[dict[str, Any]]:
        builtin = [{"id": c.id, "name": c.name, "topics": list(c.topics), "start": c.start, "end": c.end,
                    "boost": c.boost, "groups": list(c.groups), "region": c.region, "reason": c.reason,
                    "source": "taxonomy"} for c in self.taxonomy.campaigns]
        stored = [{**c, "source": "editor"} for c in self.store.list_campaigns()]
        ids = {c["id"] for c in stored}
        return [c for c in builtin if c["id"] not in ids] + stored

    def put_campaign(self, data: dict[str, Any]) -> dict[str, Any]:
        self._check_topics(data.get("topics"))
        self.check_region(data.get("region"))
        self._check_groups(data.get("groups"))
        if not data.get("topics"):
            raise ServiceError(422, "a campaign needs at least one topic", "topics")
        if str(data["start"]) > str(data["end"]):
            raise ServiceError(422, "start is after end", "end")
        if not data.get("id"):
            data["id"] = "c-" + uuid.uuid4().hex[:10]
        self._check_id(data["id"], "id")
        stored = self.store.put_campaign(data)
        if self._engine is not None:
            self._engine.invalidate_campaigns()  # other workers see it within 2 s
        return stored

    # ------------------------------------------------------------------ reading text
    def classify(self, text: str, title: str | None = None) -> dict[str, Any]:
        if isinstance(text, str):
            text = text.replace("\x00", "")
        if not isinstance(text, str) or not (text.strip() or (title or "").strip()):
            raise ServiceError(422, "text must not be empty", "text")
        res = self.engine.model.classify(text, title)
        return {"topics": [{"id": t["id"], "score": t["score"]} for t in res["topics"]], "keywords": res["keywords"]}

    def model_report(self) -> dict[str, Any]:
        engine = self.engine
        return {"model_version": engine.version, **engine.model.manifest.get("report", {})}

    def algorithm_disclosure(self) -> dict[str, Any]:
        """算法推荐管理规定 art. 16: the basic principle, purpose and main mechanism, in Chinese."""
        version = self._engine.version if self._engine is not None else None
        return {
            "name": "普法内容精准推送（Pufa）",
            "principle": ("系统根据内容所属的法律主题（如劳动保障、婚姻家庭、草牧场承包等）、您所属的人群（如农牧民、"
                          "农牧民工、青少年）以及您主动提出的问题和阅读行为，计算每条普法内容与您需要之间的相关程度，"
                          "按相关程度从高到低推送，并为每条内容说明推荐理由。"),
            "purpose": ("落实“八五”普法规划关于精准普法的要求：把宪法、民法典和与您生产生活密切相关的法律知识，"
                        "以及本地开展的普法主题活动内容，推送给最需要的人。系统不以商业营销为目的。"),
            "mechanism": [
                "内容理解：对法律条文、案例、讲解和问答进行中文分词，按普法规划的主题自动分类，编辑可以审核和纠正。",
                "人群画像：依据普法规划为各类人群设定重点学习主题（如领导干部学习宪法和党内法规，农牧民学习土地草牧场承包）。",
                "个人兴趣：根据您的阅读、点赞、完成学习、搜索和提问，随时间衰减地估计您关注的主题；您标记“不感兴趣”的内容不再推送。",
                "应知应会与主题活动：优先推送您所属人群的应知应会内容，以及国家宪法日、全民国家安全教育日等活动期间的专题内容。",
                "版本管理：已被修订或废止的法律文本不会作为现行有效内容推送。",
                "多样性：同一部法律、同一主题的内容在一次推荐中有数量上限，避免信息茧房。",
                "未成年人：不向未成年人推送仅限成年人阅读的内容，并限制每日推送数量；老年人优先获得防范诈骗内容。",
            ],
            "data_used": ["您所属的人群（由平台设置）", "您的阅读、点赞、分享、完成学习和“不感兴趣”记录",
                          "您的搜索词和提问内容", "您所在的地区（仅到盟市或旗县一级）"],
            "your_choices": [
                "关闭个性化推荐：请求中设置 personalized=false，或在个人设置中关闭；关闭后不使用任何个人数据。",
                "查看和删除兴趣标签：可查看系统为您形成的标签及其来源，删除后不再使用。",
                "注销并删除个人数据：删除您的账户及全部行为记录和推荐记录。",
            ],
            "model_version": version,
        }

    # ------------------------------------------------------------------ analysts
    def coverage(self, group: str | None = None) -> dict[str, Any]:
        """For each group: how much of each topic, and of its must-know list, its people were
        shown and completed (from the exposure log and events)."""
        if group is not None and group not in self.taxonomy.groups:
            raise ServiceError(422, f"unknown group '{group}'", "group")
        cat = self.engine.model.catalog
        raw = self.store.coverage_rows()
        groups = [group] if group else list(self.taxonomy.groups)
        out: dict[str, Any] = {}
        for g in groups:
            members = {u for u, gs in raw["users"].items() if g in gs}
            shown: dict[str, int] = {}
            completed: dict[str, int] = {}
            shown_items: set[str] = set()
            done_items: set[str] = set()
            for uid, item_ids in raw["exposures"]:
                if uid in members:
                    shown_items.update(item_ids)
            for uid, item_id in raw["completed"]:
                if uid in members:
                    done_items.add(item_id)
            for bucket, ids in ((shown, shown_items), (completed, done_items)):
                for item_id in ids:
                    r = cat.row_of.get(item_id)
                    if r is not None and cat.main_topic[r] >= 0:
                        t = cat.topic_ids[int(cat.main_topic[r])]
                        bucket[t] = bucket.get(t, 0) + 1
            must = {m.id for m in cat.metas if g in m.must_know_for and m.recommendable}
            out[g] = {
                "users": len(members), "shown_items": len(shown_items), "completed_items": len(done_items),
                "topics": {t: {"shown": shown.get(t, 0), "completed": completed.get(t, 0)}
                           for t in sorted(set(shown) | set(completed))},
                "must_know": {"items": len(must), "shown": len(must & shown_items),
                              "completed": len(must & done_items)},
            }
        return {"groups": out}
