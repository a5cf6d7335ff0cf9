"""The ``pufa`` command (see ``docs/cli.md`` in the shared docs and the README).

Configuration: flags, then environment variables (``PUFA_DB``, ``PUFA_MODELS``), then
defaults. Exit status 0 on success, 2 on bad usage or bad input (with a message naming the
problem), 1 on other failures and when ``import`` rejected rows (the others are imported), 141
when the reader of the output went away (``pufa items | head``). Long work shows a progress
bar on a terminal only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

from corpus.schema import ITEM_TYPES

__all__ = ["main"]

DEFAULT_DB = "sqlite:///./pufa.db"
DEFAULT_MODELS = "./models"


class UsageError(Exception):
    """Bad usage or bad input: exit status 2."""


def _fail(msg: str, code: int = 2) -> NoReturn:
    print(f"pufa: error: {msg}", file=sys.stderr)
    raise SystemExit(code)


def _db(args: argparse.Namespace) -> str:
    return args.db or os.environ.get("PUFA_DB") or DEFAULT_DB


def _models(args: argparse.Namespace) -> Path:
    return Path(args.models or os.environ.get("PUFA_MODELS") or DEFAULT_MODELS)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {value}); --all prints every row")
    return value


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, ensure_ascii=False, default=str))


class _Bar:
    """A progress bar on a terminal (stderr); silent when stderr is not a terminal."""

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._last = ""
        self._t0 = time.perf_counter()

    def __call__(self, stage: str, fraction: float) -> None:
        if not self.enabled:
            return
        width = 30
        done = int(width * max(0.0, min(1.0, fraction)))
        line = f"\r[{'#' * done}{'.' * (width - done)}] {fraction * 100:5.1f}% {time.perf_counter() - self._t0:6.1f}s {stage[:50]}"
        if line != self._last:
            sys.stderr.write(line.ljust(100))
            sys.stderr.flush()
            self._last = line
        if fraction >= 1.0:
            sys.stderr.write("\n")

    def close(self) -> None:
        if self.enabled and self._last:
            sys.stderr.write("\n")
            self._last = ""


# --------------------------------------------------------------------------- import


def cmd_import(args: argparse.Namespace) -> int:
    from corpus.loaders import load_paths
    from corpus.schema import check_taxonomy_ids
    from corpus.taxonomy import load_taxonomy
    from recommender.store import open_store

    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        _fail(f"no such file or directory: {', '.join(missing)}")
    bar = _Bar(False if args.json else None)
    t0 = time.perf_counter()
    seen = 0

    def on_file(path: str) -> None:
        nonlocal seen
        seen += 1
        if seen % 25 == 0:
            bar(f"reading {seen} files", min(0.5, seen / 2000))

    result = load_paths(args.paths, progress=on_file)
    tax = load_taxonomy()
    good = []
    rejected = [{"path": r.path, "reason": r.reason} for r in result.rejected]
    for it in result.items:
        problems = check_taxonomy_ids(it, set(tax.topics), set(tax.groups))
        if problems:
            rejected.append({"path": it.id, "reason": "; ".join(problems)})
        else:
            good.append(it)
    bar(f"writing {len(good)} items", 0.6)
    store = open_store(_db(args))
    stats = store.upsert_items(good, changed_by="pufa import")
    bar("done", 1.0)
    out = stats.to_dict()
    out["rejected"] = rejected
    out["warnings"] = len(result.warnings)
    out["seconds"] = round(time.perf_counter() - t0, 2)
    if args.json:
        _print_json(out)
    else:
        print(f"added {stats.added}, updated {stats.updated}, skipped {stats.skipped} (unchanged); "
              f"{stats.status_changed} status changes from version resolution; {out['seconds']} s")
        print("by type:   " + ", ".join(f"{k} {v}" for k, v in sorted(stats.by_type.items())))
        print("by status: " + ", ".join(f"{k} {v}" for k, v in sorted(stats.by_status.items())))
        if rejected:
            print(f"rejected {len(rejected)}:")
            for r in rejected[:50]:
                print(f"  {r['path']}: {r['reason']}")
            if len(rejected) > 50:
                print(f"  ... and {len(rejected) - 50} more (use --json for all)")
        if args.verbose and result.warnings:
            print(f"warnings ({len(result.warnings)}):")
            for w in result.warnings:
                print(f"  {w}")
        elif result.warnings:
            print(f"{len(result.warnings)} parse warnings (article gaps, documents without articles); -v lists them")
    if rejected:
        print(f"pufa: {len(rejected)} rows rejected (the others were imported); exit status 1", file=sys.stderr)
        return 1
    return 0


# --------------------------------------------------------------------------- build


def cmd_build(args: argparse.Namespace) -> int:
    from recommender.build import BuildConfig, build_model
    from recommender.store import open_store

    cfg = BuildConfig()
    if args.config:
        try:
            cfg = BuildConfig.from_dict(json.loads(Path(args.config).read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError) as exc:
            _fail(f"--config {args.config}: {exc}")
    if args.no_eval:
        cfg.evaluate = False
    if args.questions:
        cfg.questions = [] if args.questions == ["none"] else list(args.questions)
    store = open_store(_db(args))
    bar = _Bar(False if args.json else None)
    try:
        report = build_model(store, _models(args), config=cfg, activate=not args.no_activate, progress=bar)
    except ValueError as exc:
        bar.close()
        _fail(str(exc))
    bar.close()
    if args.json:
        _print_json(report.to_dict())
        return 0
    print(f"model version {report.version} written to {report.path}"
          + ("" if args.no_activate else " and activated"))
    print(f"items indexed: {report.n_items} ({', '.join(f'{k} {v}' for k, v in sorted(report.by_type.items()))})")
    print(f"vocabulary: {report.n_terms} terms; dense vectors: {report.dense_dim} dimensions")
    print("training examples: " + ", ".join(f"{k} {v}" for k, v in sorted(report.training.items())))
    cv = report.classifier_cv
    if cv:
        print(f"topic classifier, {cv['folds']}-fold cross-validation grouped by law "
              f"({cv['n_examples']} examples, {cv['n_groups']} groups):")
        print(f"  macro-F1 {cv['macro_f1']:.3f}   micro-F1 {cv['micro_f1']:.3f}")
        print("  " + f"{'topic':<26}{'P':>7}{'R':>7}{'F1':>7}{'n':>8}")
        for tid, m in sorted(cv["per_topic"].items(), key=lambda kv: -kv[1]["f1"]):
            if m["support"]:
                print("  " + f"{tid:<26}{m['precision']:7.3f}{m['recall']:7.3f}{m['f1']:7.3f}{m['support']:8d}")
        print("  weakest: " + ", ".join(f"{t} {f:.3f}" for t, f in cv["weakest"]))
        print("  micro-F1 by source: " + ", ".join(f"{k} {v:.3f}" for k, v in cv["by_source_micro_f1"].items()))
    ans = report.answer
    if ans.get("label_files"):
        for f in ans["label_files"]:
            st = ans.get(f"labels:{Path(f).name}", {})
            print(f"answer ranker: {st.get('questions', 0)} labelled questions from {f} "
                  f"({st.get('matched', 0)} of {st.get('labels', 0)} labelled articles held and current)")
        if ans.get("skipped"):
            print(f"  not trained: {ans['skipped']}")
        elif ans.get("cv"):
            from recommender.answer import describe

            print(f"  {ans['cv']['scheme']}: {describe(ans)}")
    else:
        print("answer ranker: no labelled questions; answers fuse BM25, the lexicon, dense and TF-IDF by rank")
    print("timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in report.timings.items()))
    return 0


# --------------------------------------------------------------------------- classify / tokenize


def _load_model(args: argparse.Namespace) -> Any:
    from recommender.artifacts import ArtifactError
    from recommender.engine import load_active_model

    try:
        return load_active_model(_models(args), db_url=_db(args) if args.db or os.environ.get("PUFA_DB") else None)
    except ArtifactError as exc:
        _fail(f"{exc} (run `pufa build` first)", 1)


def _classify_one(model: Any, text: str, title: str | None = None) -> dict[str, Any]:
    return model.classify(text, title=title)


def _json_lines(path: str) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """(line number, object or None, error or None) for each non-blank line of a JSON Lines
    file ('-' is standard input)."""
    if path == "-":
        fh = sys.stdin
    else:
        try:
            fh = open(path, encoding="utf-8")
        except OSError as exc:
            _fail(f"--jsonl {path}: {exc}")
    try:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                yield lineno, None, f"invalid JSON: {exc.msg}"
                continue
            if not isinstance(obj, dict):
                yield lineno, None, "each line must be a JSON object"
                continue
            yield lineno, obj, None
    finally:
        if fh is not sys.stdin:
            fh.close()


def cmd_classify(args: argparse.Namespace) -> int:
    if not args.text and not args.jsonl:
        _fail("give TEXT or --jsonl FILE")
    model = _load_model(args)
    if args.jsonl:
        bad = 0
        for lineno, row, error in _json_lines(args.jsonl):
            if row is not None and not isinstance(row.get("text"), str):
                error = "each line needs a string field 'text'"
            if error or row is None:
                print(f"pufa: line {lineno}: {error}", file=sys.stderr)
                bad += 1
                continue
            res = _classify_one(model, row["text"], row.get("title"))
            _print_json({"id": row.get("id", lineno), **res})
        return 2 if bad else 0
    res = _classify_one(model, args.text, args.title)
    if args.json:
        _print_json(res)
    else:
        for t in res["topics"]:
            print(f"{t['id']:<26}{t['score']:.3f}  {t.get('name', '')}")
        print("keywords: " + " ".join(res["keywords"]))
    return 0


def cmd_tokenize(args: argparse.Namespace) -> int:
    from recommender.text import LegalTokenizer

    tok = LegalTokenizer(backend=args.backend)
    tokens = tok.cut(args.text) if args.raw else tok.tokenize(args.text)
    if args.json:
        _print_json(tokens)
    else:
        print(" ".join(tokens))
    return 0


# --------------------------------------------------------------------------- items


def cmd_items(args: argparse.Namespace) -> int:
    from recommender.store import open_store

    store = open_store(_db(args))
    limit = None if args.all else args.limit
    rows = store.iter_items(ids=args.id or None, law_title=args.law, types=[args.type] if args.type else None,
                            statuses=[args.status] if args.status else None,
                            limit=None if limit is None else limit + 1)
    preds: dict[str, Any] = {}
    listed = list(rows)
    more = limit is not None and len(listed) > limit
    listed = listed[:limit]
    if listed:
        preds = store.get_predictions([it.id for it in listed])
    for it in listed:
        topics = it.topics or [p["id"] for p in preds.get(it.id, [])]
        row = {"id": it.id, "type": it.type, "title": it.title, "law_title": it.law_title,
               "article_no": it.article_no, "status": it.status, "topics": topics}
        if args.json:
            _print_json(row)
        else:
            art = f" 第{it.article_no}条" if it.article_no else ""
            print(f"{it.id}\t{it.type}\t{it.status}\t{it.law_title or ''}{art}\t{it.title[:40]}\t{','.join(topics)}")
    if more:
        print(f"pufa: the first {limit} rows; more match (--limit N or --all)", file=sys.stderr)
    elif not listed:
        print("pufa: no item matches", file=sys.stderr)
    return 0


# --------------------------------------------------------------------------- recommend


def _service(args: argparse.Namespace) -> Any:
    from recommender.service import PufaService
    from recommender.store import open_store

    return PufaService(open_store(_db(args)), _models(args))


def _request_from(obj: dict[str, Any]) -> Any:
    import datetime as dt

    from recommender.engine import RecommendRequest

    known = {"user_id", "groups", "k", "query", "date", "region", "language", "exclude_seen", "personalized"}
    unknown = sorted(set(obj) - known - {"id", "events"})
    if unknown:
        raise UsageError(f"unknown request field(s) {unknown}")
    date = obj.get("date")
    try:
        day = dt.date.fromisoformat(date) if date else None
    except (TypeError, ValueError) as exc:
        raise UsageError(f"date must be YYYY-MM-DD, got {date!r}") from exc
    k = obj.get("k", 10)
    if not isinstance(k, int) or isinstance(k, bool):
        raise UsageError("k must be an integer")
    return RecommendRequest(
        user_id=obj.get("user_id"), groups=obj.get("groups"), k=k, query=obj.get("query"), date=day,
        region=obj.get("region"), language=obj.get("language"), exclude_seen=obj.get("exclude_seen"),
        personalized=obj.get("personalized"))


def cmd_recommend(args: argparse.Namespace) -> int:
    from recommender.service import ServiceError

    svc = _service(args)
    if not svc.has_model():
        _fail("no active model (run `pufa build` first)", 1)
    if args.jsonl:
        bad = 0
        for lineno, obj, error in _json_lines(args.jsonl):
            try:
                if error or obj is None:
                    raise UsageError(error or "empty line")
                events = obj.get("events") or []
                if events:
                    if not isinstance(events, list):
                        raise UsageError("events must be a list")
                    for ev in events:
                        if isinstance(ev, dict):
                            ev.setdefault("user_id", obj.get("user_id"))
                    svc.ingest_events(events, all_or_nothing=True)
                res = svc.recommend(_request_from(obj))
            except (UsageError, ServiceError) as exc:
                msg = getattr(exc, "message", None) or str(exc)
                print(f"pufa: line {lineno}: {msg}", file=sys.stderr)
                bad += 1
                continue
            _print_json({"id": obj.get("id", lineno), "items": res.items})
        return 2 if bad else 0
    obj: dict[str, Any] = {"user_id": args.user, "groups": args.group, "k": args.k, "query": args.query,
                           "date": args.date, "region": args.region}
    if args.include_seen:
        obj["exclude_seen"] = False
    if args.not_personalized:
        obj["personalized"] = False
    try:
        res = svc.recommend(_request_from({k: v for k, v in obj.items() if v is not None}))
    except ServiceError as exc:
        _fail(f"{exc.field}: {exc.message}" if exc.field else exc.message)
    if args.json:
        _print_json(res.to_dict())
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
    from recommender.evaluate import run_cli

    return run_cli(args, _load_model(args))


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
        _fail("--workers must be at least 1")
    os.environ["PUFA_DB"] = _db(args)
    os.environ["PUFA_MODELS"] = str(_models(args))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.bootstrap:
        # Once, before the workers start, so that they do not all build.
        bootstrap(open_store(_db(args)), _models(args))
    os.environ["PUFA_BOOTSTRAP"] = "0"
    uvicorn.run("api.main:create_app", factory=True, host=args.host, port=args.port, workers=args.workers,
                log_level="info", access_log=False)
    return 0


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", help=f"database URL (env PUFA_DB, default {DEFAULT_DB})")
    common.add_argument("--models", help=f"model directory (env PUFA_MODELS, default {DEFAULT_MODELS})")
    common.add_argument("--json", action="store_true", help="machine-readable JSON output")

    p = argparse.ArgumentParser(prog="pufa", description="Pufa (普法): targeted legal education engine.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("import", parents=[common], help="load content into the database",
                       description="Load law Markdown, plain-text regulations, guiding cases, JSON Lines "
                                   "or CSV of items. Idempotent; law versions are resolved.")
    s.add_argument("paths", nargs="+", metavar="PATH")
    s.add_argument("-v", "--verbose", action="store_true", help="list parse warnings")
    s.set_defaults(func=cmd_import)

    s = sub.add_parser("build", parents=[common], help="train and activate a new model version")
    s.add_argument("--config", help="JSON file with a BuildConfig (index, classifier, evaluate)")
    s.add_argument("--no-eval", action="store_true", help="skip the classifier's cross-validation")
    s.add_argument("--no-activate", action="store_true", help="write the version but do not activate it")
    s.add_argument("--questions", action="append", metavar="FILE",
                   help="questions labelled with the articles that answer them, to train the answer ranker "
                        "(repeatable; default: ../shared/queries/stard_dev.jsonl where present; 'none' for none)")
    s.set_defaults(func=cmd_build)

    s = sub.add_parser("classify", parents=[common], help="topics of a text, with the keywords that drove them")
    s.add_argument("text", nargs="?", metavar="TEXT")
    s.add_argument("--title")
    s.add_argument("--jsonl", metavar="FILE", help="one {id, text, title?} per line ('-' for stdin)")
    s.set_defaults(func=cmd_classify)

    s = sub.add_parser("tokenize", parents=[common], help="cut a text into tokens")
    s.add_argument("text", metavar="TEXT")
    s.add_argument("--raw", action="store_true", help="jieba's raw cut (punctuation and stop words kept)")
    s.add_argument("--backend", choices=["rjieba", "jieba"], default="rjieba")
    s.set_defaults(func=cmd_tokenize)

    s = sub.add_parser("items", parents=[common], help="list stored items")
    s.add_argument("--id", action="append", help="item id (repeatable)")
    s.add_argument("--law", help="short law title, e.g. 劳动合同法")
    s.add_argument("--type", choices=ITEM_TYPES)
    s.add_argument("--status", choices=["current", "superseded", "repealed"])
    size = s.add_mutually_exclusive_group()
    size.add_argument("--limit", type=_positive_int, default=50, help="rows to print (default 50)")
    size.add_argument("--all", action="store_true", help="print every matching row")
    s.set_defaults(func=cmd_items)

    s = sub.add_parser("recommend", parents=[common], help="what POST /v1/recommendations returns",
                       description="Recommend for a person or a group. With --jsonl, each line is a "
                                   "request object (the API's body plus an 'id', optionally 'events' "
                                   "applied to that user first); each output line is {id, items}.")
    s.add_argument("--user", help="user id (unknown users are a cold start)")
    s.add_argument("--group", action="append", help="group id (repeatable)")
    s.add_argument("--query", help="what the person asks or searches")
    s.add_argument("--date", help="YYYY-MM-DD (campaigns are by date; default today)")
    s.add_argument("--region")
    s.add_argument("-k", type=int, default=10)
    s.add_argument("--include-seen", action="store_true", help="do not exclude items the person has seen")
    s.add_argument("--not-personalized", action="store_true", help="use no personal data (PIPL art. 24)")
    s.add_argument("--jsonl", metavar="FILE", help="batch of requests, one JSON object per line ('-' = stdin)")
    s.set_defaults(func=cmd_recommend)

    s = sub.add_parser("evaluate", parents=[common], help="the offline evaluation report",
                       description="Engine and baselines on labelled real questions, simulated people, "
                                   "group conformance and the campaign check.")
    s.add_argument("--questions", help="labelled questions (default corpus/eval/real_questions_dev.jsonl); "
                                       "'stard' or a file of questions labelled with articles evaluates answers "
                                       "(recall@10/@100, nDCG@10, MRR@10, cross-validated)")
    s.add_argument("--shared", help="the shared folder with queries/real_questions.jsonl (default ../shared)")
    s.add_argument("--people", type=int, default=300, help="simulated people")
    s.add_argument("--config", help="JSON file with a PipelineConfig to evaluate")
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("serve", parents=[common], help="the HTTP API")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--workers", type=int, default=1)
    s.add_argument("--bootstrap", action="store_true",
                   help="on an empty database import the bundled sample content, and build a model if none is active")
    s.set_defaults(func=cmd_serve)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        _fail(str(exc))
    except BrokenPipeError:
        # The reader went away (`pufa items | head`): stop quietly, as other tools do, and
        # keep Python from complaining again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as exc:
        # A folder that cannot be written or read (models, database file, input): one line.
        where = f"{exc.filename}: " if exc.filename else ""
        _fail(f"{where}{exc.strerror or exc}", 1)
    except Exception as exc:
        from sqlalchemy.exc import SQLAlchemyError

        if isinstance(exc, SQLAlchemyError):
            from sqlalchemy.engine import make_url

            first = str(exc).strip().splitlines()[0][:300]
            try:
                shown = make_url(_db(args)).render_as_string(hide_password=True)
            except Exception:
                shown = "(unparsable URL)"
            _fail(f"database {shown}: {first}", 1)
        raise
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
