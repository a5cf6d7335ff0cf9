"""A candidate model version next to the active one, on every offline measure, before anyone
activates it (``pufa evaluate --version V --against ACTIVE``; ``POST
/v1/admin/models/{v}/evaluation`` for analysts).

Both versions are measured the same way (:func:`recommender.evaluate.evaluate_all`, the engine
alone, with each version's own pipeline config):

- the real questions of the fixed split's ``test`` part (``corpus/eval/splits.json``): topic
  precision@5 and law hit@10, per question;
- each group's anonymous feed against the laws judged for it (ordinary day and 12·4), per group;
- optionally the answers on ``stard_dev.jsonl``, cross-validated over the stored folds (the
  ranker retrained on four folds for the fifth), per question;
- the simulated people (a sanity check), per person, several seeds.

Each row gives both means with 95 % bootstrap intervals and the difference ``candidate -
active`` with its interval, resampling units (questions, groups, people) together when both
were measured on the same ones (paired). The verdict is ``better`` or ``worse`` only when the
difference's interval excludes 0, else ``no clear difference``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recommender.evaluate import CONSTITUTION_DAY, ORDINARY_DAY, EvalReport, evaluate_all
from recommender.feed_eval import ItemReader
from recommender.intervals import Interval, bootstrap_mean, difference
from recommender.model import Model
from recommender.simulation import Units

__all__ = ["MEASURES", "Comparison", "ComparisonRow", "compare_reports", "compare_versions", "format_comparison"]

_OD, _CD = ORDINARY_DAY.isoformat(), CONSTITUTION_DAY.isoformat()

# (unit key in the reports, label, section); every measure is higher-is-better.
MEASURES: list[tuple[str, str, str]] = [
    ("questions.topic_p@5", "真实问题（测试集）主题准确率@5", "questions"),
    ("questions.law_hit@10", "真实问题（测试集）法律命中率@10", "questions"),
    ("answers.recall@10", "法条答案 召回率@10（交叉验证）", "answers"),
    ("answers.recall@100", "法条答案 召回率@100（交叉验证）", "answers"),
    ("answers.ndcg@10", "法条答案 nDCG@10（交叉验证）", "answers"),
    ("answers.mrr@10", "法条答案 MRR@10（交叉验证）", "answers"),
    (f"feeds.judged@10 {_OD}", f"人群推送 应知法律占比@10（{_OD} 平常日）", "feeds"),
    (f"feeds.judged@10 {_CD}", f"人群推送 应知法律占比@10（{_CD} 宪法日）", "feeds"),
    (f"feeds.campaign 1-3@10 {_CD}", "宪法日 前10条含1–3条活动内容的人群占比", "feeds"),
    ("simulated.ndcg@10", "模拟用户 nDCG@10（仅作检查）", "simulated"),
    ("simulated.p@10", "模拟用户 准确率@10（仅作检查）", "simulated"),
    ("simulated.map", "模拟用户 MAP（仅作检查）", "simulated"),
]


@dataclass(frozen=True)
class ComparisonRow:
    measure: str
    label: str
    section: str
    active: Interval
    candidate: Interval
    difference: Interval  # candidate - active
    verdict: str  # better, worse, no clear difference

    def to_dict(self) -> dict[str, Any]:
        return {"measure": self.measure, "label": self.label, "section": self.section,
                "active": self.active.to_dict(), "candidate": self.candidate.to_dict(),
                "difference": self.difference.to_dict(), "verdict": self.verdict}


@dataclass
class Comparison:
    candidate: str
    active: str
    rows: list[ComparisonRow]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def better(self) -> int:
        return sum(1 for r in self.rows if r.verdict == "better")

    @property
    def worse(self) -> int:
        return sum(1 for r in self.rows if r.verdict == "worse")

    def to_dict(self) -> dict[str, Any]:
        return {"candidate": self.candidate, "active": self.active, "better": self.better, "worse": self.worse,
                "rows": [r.to_dict() for r in self.rows], "meta": self.meta}


def _verdict(d: Interval) -> str:
    if d.n == 0 or math.isnan(d.mean):
        return "no clear difference"
    if d.low > 0:
        return "better"
    if d.high < 0:
        return "worse"
    return "no clear difference"


def compare_reports(active: dict[str, Units], candidate: dict[str, Units], *, seed: int = 0,
                    measures: Sequence[tuple[str, str, str]] = MEASURES) -> list[ComparisonRow]:
    """One row per measure both sides have (``units``: measure -> unit -> value)."""
    rows = []
    for key, label, section in measures:
        a, b = active.get(key), candidate.get(key)
        if not a or not b:
            continue
        d = difference(a, b, seed=seed)
        rows.append(ComparisonRow(key, label, section, bootstrap_mean(list(a.values()), seed=seed),
                                  bootstrap_mean(list(b.values()), seed=seed), d, _verdict(d)))
    return rows


def _units(model: Model, *, questions: Sequence[dict[str, Any]] | None, people: int, seeds: int, seed: int,
           stard: Path | None, read_items: ItemReader | None,
           say: Callable[[str], None]) -> tuple[dict[str, Units], EvalReport]:
    rep = evaluate_all(model, questions=questions, people=people, seed=seed, seeds=seeds, baselines=False,
                       read_items=read_items, progress=say)
    units = dict(rep.units)
    if stard is not None:
        from recommender.answer_eval import evaluate_answers, stored_folds
        from recommender.answer_labels import load_article_labels

        if model.bm25 is None or model.answerer is None:
            say(f"model {model.version} has no answer path: answers not measured")
        else:
            labelled, _ = load_article_labels(stard, model.catalog)
            ans = evaluate_answers(model, labelled, seed=seed, folds_of=stored_folds(stard), baselines=False,
                                   progress=say)
            units.update({f"answers.{m}": v for m, v in ans.units.items()})
    return units, rep


def compare_versions(candidate: Model, active: Model, *, questions: Sequence[dict[str, Any]] | None,
                     people: int = 300, seeds: int = 3, seed: int = 0, stard: Path | None = None,
                     read_items: ItemReader | None = None,
                     progress: Callable[[str, float], None] | None = None) -> Comparison:
    """Measure both versions (each with its own pipeline config) and pair their figures.
    ``questions``: the labelled real questions to use (the split's test part); ``stard``: the
    file of questions labelled with articles, or None to skip the answers (minutes);
    ``read_items``: the store's items by id (bodies for the feeds' judged share)."""
    t0 = time.perf_counter()
    tell = progress or (lambda s, f: None)
    out: dict[str, dict[str, Units]] = {}
    for j, (name, model) in enumerate((("active", active), ("candidate", candidate))):
        def say(s: str, who: str = f"{name} {model.version}", j: int = j) -> None:
            tell(f"{who}: {s}", j / 2)

        out[name], _ = _units(model, questions=questions, people=people, seeds=seeds, seed=seed, stard=stard,
                              read_items=read_items, say=say)
    tell("done", 1.0)
    rows = compare_reports(out["active"], out["candidate"], seed=seed)
    meta = {"questions": len(questions or []), "people": people, "seeds": list(range(seed, seed + seeds)),
            "answers": stard is not None, "split": "test",
            "pairing": "units resampled together where both versions were measured on the same ones",
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "seconds": round(time.perf_counter() - t0, 1)}
    return Comparison(candidate.version, active.version, rows, meta)


def _cell(iv: dict[str, Any] | Interval, signed: bool = False) -> str:
    d = iv.to_dict() if isinstance(iv, Interval) else iv
    m, lo, hi = d.get("mean"), d.get("low"), d.get("high")
    if m is None or (isinstance(m, float) and math.isnan(m)):
        return "-"
    sign = "+" if signed else ""
    return f"{m:{sign}.3f} [{lo:{sign}.3f}, {hi:{sign}.3f}]"


def format_comparison(cmp: Comparison | dict[str, Any]) -> str:
    d = cmp.to_dict() if isinstance(cmp, Comparison) else cmp
    m = d.get("meta", {})
    lines = [f"candidate {d['candidate']} against active {d['active']}: {m.get('questions', 0)} test questions, "
             f"{m.get('people')} simulated people x {len(m.get('seeds', []))} seeds"
             f"{', answers cross-validated on stored folds' if m.get('answers') else ''}; {m.get('seconds')} s",
             "mean [95 % bootstrap interval]; difference = candidate - active, paired by question / group / person "
             "where both were measured on the same ones", ""]
    head = f"{'measure':<34}| {'active':>22} | {'candidate':>22} | {'difference':>24} | verdict"
    lines += [head, "-" * len(head)]
    for r in d["rows"]:
        lines.append(f"{r['measure']:<34}| {_cell(r['active']):>22} | {_cell(r['candidate']):>22} | "
                     f"{_cell(r['difference'], True):>24} | {r['verdict']}")
    lines += ["", f"better on {d['better']}, worse on {d['worse']} of {len(d['rows'])} measures"
              + ("  -- do not activate: it is worse somewhere" if d["worse"] else "")]
    return "\n".join(lines)


def run_cli(args: Any, candidate: Model, active: Model, questions: Sequence[dict[str, Any]] | None,
            stard: Path | None, read_items: ItemReader | None = None) -> int:
    import sys

    say = ((lambda s, f: print(f"... {s}", file=sys.stderr)) if sys.stderr.isatty() else None)
    cmp = compare_versions(candidate, active, questions=questions, people=args.people, seeds=args.seeds,
                           seed=args.seed, stard=stard, read_items=read_items, progress=say)
    if args.json:
        print(json.dumps(cmp.to_dict(), ensure_ascii=False))
    else:
        print(format_comparison(cmp))
    return 3 if cmp.worse else 0  # 3: worse on some measure (2 is a usage error)
