"""Write ``corpus/eval/splits.json``: the fixed split of the labelled questions, made once.

- ``real_questions``: the 320 hand-labelled questions of ``corpus/eval/real_questions_dev.jsonl``
  into ``dev`` (tune on it) and ``test`` (report it), half each, stratified by the first topic
  label (questions sorted by id within a stratum, shuffled with ``random.Random(SEED)``,
  then dealt alternately, the first to ``test``).
- ``stard``: the 515 questions of ``../shared/queries/stard_dev.jsonl`` dealt into 5 folds the
  same way (stratified by the law of the first labelled article) for cross-validation: every
  figure reported on them is out of fold.

The file is committed; running this again must reproduce it byte for byte (a test checks the
real-question part, which needs no ../shared).
"""

from __future__ import annotations

import json
import random
import sys
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SEED = 20261206
FOLDS = 5


def deal(rows: list[tuple[str, str]], parts: int, seed: int = SEED) -> list[list[str]]:
    """Stratified, deterministic: (id, stratum) pairs into ``parts`` lists of ids, each sorted."""
    strata: dict[str, list[str]] = defaultdict(list)
    for qid, stratum in sorted(rows):
        strata[stratum].append(qid)
    rng = random.Random(seed)
    out: list[list[str]] = [[] for _ in range(parts)]
    n = 0
    for stratum in sorted(strata):
        ids = strata[stratum]
        rng.shuffle(ids)
        for qid in ids:
            out[n % parts].append(qid)
            n += 1
    return [sorted(p) for p in out]


def real_question_split(labels: Path = REPO / "corpus" / "eval" / "real_questions_dev.jsonl") -> dict[str, list[str]]:
    rows = []
    for line in labels.read_text(encoding="utf-8").splitlines():
        if line.strip():
            r = json.loads(line)
            rows.append((r["id"], (r.get("topics") or ["none"])[0]))
    test, dev = deal(rows, 2)
    return {"dev": dev, "test": test}


def stard_folds(path: Path) -> list[list[str]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            r = json.loads(line)
            arts = r.get("articles") or [{}]
            rows.append((r["id"], str(arts[0].get("law", "none"))))
    return deal(rows, FOLDS)


def main() -> int:
    shared = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO.parent / "shared"
    out = {
        "about": "Fixed split of the labelled questions, made once by scripts/make_splits.py (seed "
                 f"{SEED}). real_questions: tune on dev, report test. stard: {FOLDS} folds for "
                 "cross-validation (every figure out of fold).",
        "seed": SEED,
        "real_questions": real_question_split(),
        "stard": {"folds": stard_folds(shared / "queries" / "stard_dev.jsonl")},
    }
    target = REPO / "corpus" / "eval" / "splits.json"
    target.write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {target}: real_questions dev {len(out['real_questions']['dev'])} / test "
          f"{len(out['real_questions']['test'])}; stard folds {[len(f) for f in out['stard']['folds']]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
