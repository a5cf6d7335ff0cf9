"""``pufa evaluate``: the offline report (:mod:`recommender.evaluate`), the answers
(:mod:`recommender.answer_eval`) and two versions side by side (:mod:`recommender.compare`)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from recommender.evaluate import (
    DEFAULT_QUESTIONS,
    REPO,
    evaluate_all,
    format_report,
    load_labelled_questions,
    load_split,
)
from recommender.feed_eval import ItemReader
from recommender.model import Model
from recommender.vocab import DEFAULT_DB_URL

__all__ = ["run_cli", "run_comparison"]


def run_cli(args: Any, model: Model) -> int:
    """``pufa evaluate``; ``--questions stard`` (or any file of questions labelled with
    articles) evaluates the answer path instead (:mod:`recommender.answer_eval`);
    ``--against`` compares two versions (:mod:`recommender.compare`)."""
    from recommender.cli.configs import read_config_file

    shared = Path(args.shared) if args.shared else REPO.parent / "shared"
    if args.questions and (args.questions == "stard" or _labels_articles(Path(args.questions))):
        from recommender.answer_eval import run_answer_cli

        label_file = shared / "queries" / "stard_dev.jsonl" if args.questions == "stard" else Path(args.questions)
        if not label_file.exists():
            print(f"pufa: {label_file}: no such file (the shared folder beside the checkout, or --shared)",
                  file=sys.stderr)
            return 2
        return run_answer_cli(args, model, label_file, _item_texts(args, model, body_only=True))
    labels = Path(args.questions) if args.questions else DEFAULT_QUESTIONS
    questions = None
    try:
        questions = load_labelled_questions(labels, shared)
    except FileNotFoundError as exc:
        print(f"pufa: note: {exc}; skipping (a)", file=sys.stderr)
    split = getattr(args, "split", "test")
    if questions is not None and labels == DEFAULT_QUESTIONS:
        part = load_split("real_questions", split)
        questions = [q for q in questions if part is None or q["id"] in part]
    elif questions is not None:
        split = "all"  # a file of one's own: every question
    cfg = read_config_file(args.config) if args.config else None  # None: the version's own
    texts = _item_texts(args, model)
    rep = evaluate_all(model, questions=questions, config=cfg, people=args.people, seed=args.seed,
                       seeds=getattr(args, "seeds", 1), item_texts=texts, read_items=_item_reader(args),
                       progress=(lambda s: print(f"... {s}", file=sys.stderr)) if sys.stderr.isatty() else None)
    rep.meta["split"] = split
    if args.json:
        print(json.dumps(rep.to_dict(), ensure_ascii=False))
    else:
        print(format_report(rep))
    return 0


def run_comparison(args: Any, candidate: Model, active: Model) -> int:
    """``pufa evaluate [--version V] --against ACTIVE|VERSION`` (:mod:`recommender.compare`)."""
    from recommender.compare import run_cli as run_compare

    if args.config or args.questions or args.feeds:
        print("pufa: --against compares versions as they are: no --config, --questions or --feeds", file=sys.stderr)
        return 2
    shared = Path(args.shared) if args.shared else REPO.parent / "shared"
    questions = None
    try:
        questions = load_labelled_questions(DEFAULT_QUESTIONS, shared)
        part = load_split("real_questions", args.split)
        questions = [q for q in questions if part is None or q["id"] in part]
    except FileNotFoundError as exc:
        print(f"pufa: note: {exc}; no real questions", file=sys.stderr)
    stard = None
    if args.answers:
        stard = shared / "queries" / "stard_dev.jsonl"
        if not stard.exists():
            print(f"pufa: --answers: {stard}: no such file (the shared folder beside the checkout, or --shared)",
                  file=sys.stderr)
            return 2
    return run_compare(args, candidate, active, questions, stard, _item_reader(args))


def _labels_articles(path: Path) -> bool:
    """True when the file's questions are labelled with articles (STARD's format)."""
    try:
        with path.open(encoding="utf-8") as fh:
            first = next((line for line in fh if line.strip()), "")
        return "articles" in json.loads(first)
    except (OSError, ValueError):
        return False


def _item_reader(args: Any) -> ItemReader | None:
    """Stored items by id (their bodies), from the database; None without one."""
    from recommender.store import open_store

    url = args.db or os.environ.get("PUFA_DB") or DEFAULT_DB_URL
    try:
        store = open_store(url, migrate_schema=False)
        store.items.get_many([])
    except Exception:
        return None
    reader: ItemReader = store.items.get_many
    return reader


def _item_texts(args: Any, model: Model, body_only: bool = False) -> list[str] | None:
    """Item texts (for BM25) from the database, row-aligned with the catalogue."""
    from recommender.store import open_store

    url = args.db or os.environ.get("PUFA_DB") or DEFAULT_DB_URL
    try:
        store = open_store(url, migrate_schema=False)
        items = store.items.get_many([m.id for m in model.catalog.metas])
    except Exception:
        return None
    if body_only:
        return [items[m.id].body if m.id in items else m.title for m in model.catalog.metas]
    return [items[m.id].text if m.id in items else m.title for m in model.catalog.metas]
