"""``pufa import``, ``build``, ``classify``, ``tokenize`` and ``items``: content in and models out."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from recommender.cli.common import Bar, db_url, fail, json_lines, load_active, models_dir, print_json

# --------------------------------------------------------------------------- import


def cmd_import(args: argparse.Namespace) -> int:
    from corpus.loaders import load_paths
    from corpus.schema import check_taxonomy_ids
    from corpus.taxonomy import load_taxonomy
    from recommender.store import open_store

    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        fail(f"no such file or directory: {', '.join(missing)}")
    bar = Bar(False if args.json else None)
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
    store = open_store(db_url(args))
    stats = store.items.upsert(good, changed_by="pufa import")
    bar("done", 1.0)
    out = stats.to_dict()
    out["rejected"] = rejected
    out["warnings"] = len(result.warnings)
    out["seconds"] = round(time.perf_counter() - t0, 2)
    if args.json:
        print_json(out)
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
    from recommender.build import BuildConfig, build_model, read_build_file
    from recommender.store import open_store

    cfg, pipeline = BuildConfig(), None
    if args.config:
        try:
            cfg, pipeline = read_build_file(json.loads(Path(args.config).read_text(encoding="utf-8")))
        except OSError as exc:
            fail(f"--config {args.config}: {exc.strerror or exc}")
        except ValueError as exc:  # not JSON, or a bad field (ConfigError names it)
            fail(f"--config {args.config}: {exc}")
    if args.no_eval:
        cfg.evaluate = False
    if args.questions:
        cfg.questions = [] if args.questions == ["none"] else list(args.questions)
    store = open_store(db_url(args))
    bar = Bar(False if args.json else None)
    try:
        report = build_model(store, models_dir(args), config=cfg, activate=not args.no_activate, progress=bar,
                             pipeline=pipeline)
    except ValueError as exc:
        bar.close()
        fail(str(exc))
    bar.close()
    if args.json:
        print_json(report.to_dict())
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
            from recommender.answer_labels import describe

            print(f"  {ans['cv']['scheme']}: {describe(ans)}")
    else:
        print("answer ranker: no labelled questions; answers fuse BM25, the lexicon, dense and TF-IDF by rank")
    print("timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in report.timings.items()))
    return 0


# --------------------------------------------------------------------------- classify / tokenize

def _classify_one(model: Any, text: str, title: str | None = None) -> dict[str, Any]:
    return model.classify(text, title=title)

def cmd_classify(args: argparse.Namespace) -> int:
    if not args.text and not args.jsonl:
        fail("give TEXT or --jsonl FILE")
    model = load_active(args)
    if args.jsonl:
        bad = 0
        for lineno, row, error in json_lines(args.jsonl):
            if row is not None and not isinstance(row.get("text"), str):
                error = "each line needs a string field 'text'"
            if error or row is None:
                print(f"pufa: line {lineno}: {error}", file=sys.stderr)
                bad += 1
                continue
            res = _classify_one(model, row["text"], row.get("title"))
            print_json({"id": row.get("id", lineno), **res})
        return 2 if bad else 0
    res = _classify_one(model, args.text, args.title)
    if args.json:
        print_json(res)
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
        print_json(tokens)
    else:
        print(" ".join(tokens))
    return 0


# --------------------------------------------------------------------------- items


def cmd_items(args: argparse.Namespace) -> int:
    from recommender.store import open_store

    store = open_store(db_url(args))
    limit = None if args.all else args.limit
    rows = store.items.iter(ids=args.id or None, law_title=args.law, types=[args.type] if args.type else None,
                            statuses=[args.status] if args.status else None,
                            limit=None if limit is None else limit + 1)
    preds: dict[str, Any] = {}
    listed = list(rows)
    more = limit is not None and len(listed) > limit
    listed = listed[:limit]
    if listed:
        preds = store.items.predictions([it.id for it in listed])
    for it in listed:
        topics = it.topics or [p["id"] for p in preds.get(it.id, [])]
        row = {"id": it.id, "type": it.type, "title": it.title, "law_title": it.law_title,
               "article_no": it.article_no, "status": it.status, "topics": topics}
        if args.json:
            print_json(row)
        else:
            art = f" 第{it.article_no}条" if it.article_no else ""
            print(f"{it.id}\t{it.type}\t{it.status}\t{it.law_title or ''}{art}\t{it.title[:40]}\t{','.join(topics)}")
    if more:
        print(f"pufa: the first {limit} rows; more match (--limit N or --all)", file=sys.stderr)
    elif not listed:
        print("pufa: no item matches", file=sys.stderr)
    return 0

