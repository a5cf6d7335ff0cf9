"""``pufa recommend``, ``evaluate`` and ``serve``: the engine at work."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from recommender.cli.common import UsageError, db_url, fail, json_lines, load_active, models_dir, print_json

# --------------------------------------------------------------------------- recommend


def _service(args: argparse.Namespace) -> Any:
    from recommender.service import PufaService
    from recommender.store import open_store

    return PufaService(open_store(db_url(args)), models_dir(args))


def _request_from(obj: dict[str, Any]) -> Any:
    """A recommendation request from a JSON object (a line of ``--jsonl``), validated by the
    same model as the HTTP API's; ``id`` and ``events`` belong to the line, not the request."""
    from pydantic import ValidationError

    from corpus.schema import first_problem
    from recommender.inputs import RecommendRequest

    try:
        return RecommendRequest.model_validate({k: v for k, v in obj.items() if k not in ("id", "events")})
    except ValidationError as exc:
        raise UsageError(first_problem(exc, "request")[1]) from exc


def _events_from(obj: dict[str, Any]) -> list[Any]:
    """The events of a ``--jsonl`` line (each takes the line's user_id unless it names one)."""
    from pydantic import ValidationError

    from corpus.schema import first_problem
    from recommender.inputs import EventIn

    events = obj.get("events") or []
    if not isinstance(events, list):
        raise UsageError("events must be a list")
    out = []
    for n, ev in enumerate(events):
        if isinstance(ev, dict) and "user_id" not in ev:
            ev = {**ev, "user_id": obj.get("user_id")}
        try:
            out.append(EventIn.model_validate(ev))
        except ValidationError as exc:
            raise UsageError(f"events[{n}]: " + first_problem(exc, "event")[1]) from exc
    return out


def cmd_recommend(args: argparse.Namespace) -> int:
    from recommender.service import ServiceError

    svc = _service(args)
    if not svc.models.has_model():
        fail("no active model (run `pufa build` first)", 1)
    if args.jsonl:
        bad = 0
        for lineno, obj, error in json_lines(args.jsonl):
            try:
                if error or obj is None:
                    raise UsageError(error or "empty line")
                events = _events_from(obj)
                if events:
                    svc.people.ingest(events, all_or_nothing=True)
                res = svc.recommend(_request_from(obj))
            except (UsageError, ServiceError) as exc:
                msg = getattr(exc, "message", None) or str(exc)
                print(f"pufa: line {lineno}: {msg}", file=sys.stderr)
                bad += 1
                continue
            print_json({"id": obj.get("id", lineno), "items": res.items})
        return 2 if bad else 0
    fields: dict[str, Any] = {"user_id": args.user, "groups": args.group, "k": args.k, "query": args.query,
                           "date": args.date, "region": args.region}
    if args.include_seen:
        fields["exclude_seen"] = False
    if args.not_personalized:
        fields["personalized"] = False
    try:
        res = svc.recommend(_request_from({k: v for k, v in fields.items() if v is not None}))
    except ServiceError as exc:
        fail(f"{exc.field}: {exc.message}" if exc.field else exc.message)
    if args.json:
        print_json(res.to_dict())
        return 0
    print(f"model {res.model_version}; groups {', '.join(res.groups)}"
          + ("; cold start" if res.cold_start else "") + ("" if res.personalized else "; not personalised"))
    for n, it in enumerate(res.items, 1):
        if it["type"] == "law_article" and it.get("law_title"):
            label = it.get("article_label") or f"第{it.get('article_no')}条"
            head = f"《{it['law_title']}》{label}  {it.get('snippet', '')[:40]}"
        else:
            head = it["title"][:40]
        print(f"{n:>2}. [{it['type']}] {head}  ({it['score']:.3f})")
        print(f"    {'；'.join(it['reasons'])}   topics: {', '.join(it['topics'])}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    if getattr(args, "feeds", False):
        from recommender.feed_eval import run_cli as run_feeds

        return run_feeds(args, load_active(args))
    if getattr(args, "date", None) or getattr(args, "show", None):
        raise UsageError("--date and --show go with --feeds")
    from recommender.cli.evaluating import run_cli

    against = getattr(args, "against", None)
    if getattr(args, "answers", False) and not against:
        raise UsageError("--answers goes with --against (alone: --questions stard)")
    model = load_version(args, args.version) if getattr(args, "version", None) else load_active(args)
    if against:
        from recommender.cli.evaluating import run_comparison

        other = load_active(args) if against.upper() == "ACTIVE" else load_version(args, against)
        return run_comparison(args, model, other)
    return run_cli(args, model)


def load_version(args: argparse.Namespace, version: str) -> Any:
    """One model version of the model directory, by name (its own pipeline config with it)."""
    from recommender.artifacts import ArtifactError
    from recommender.model import load_model

    path = models_dir(args) / version
    if not path.is_dir():
        fail(f"no model version '{version}' in {models_dir(args)}")
    try:
        return load_model(path)
    except ArtifactError as exc:
        fail(f"model {version}: {exc}", 1)


def cmd_serve(args: argparse.Namespace) -> int:
    """uvicorn with the API app (``api.main:create_app``, by name: the engine never imports the
    web layer). Settings reach every worker through the environment."""
    # One BLAS thread per process: the server's concurrency is its requests, and BLAS
    # threads spinning against each other made every matrix product slower under load.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    import logging

    import uvicorn

    from recommender.service import bootstrap
    from recommender.store import open_store

    if args.workers < 1:
        fail("--workers must be at least 1")
    os.environ["PUFA_DB"] = db_url(args)
    os.environ["PUFA_MODELS"] = str(models_dir(args))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.bootstrap:
        # Once, before the workers start, so that they do not all build.
        bootstrap(open_store(db_url(args)), models_dir(args))
    os.environ["PUFA_BOOTSTRAP"] = "0"
    uvicorn.run("api.main:create_app", factory=True, host=args.host, port=args.port, workers=args.workers,
                log_level="info", access_log=False)
    return 0

