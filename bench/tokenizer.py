"""Tokenizer benchmark: cut every article of the shared law corpus with plain jieba, with
jieba plus our legal dictionary (the reference), and with ours (LegalTokenizer), in one run.

Reports characters per second (median of --repeat runs), our speed ratio to plain jieba, and
the share of articles ours cuts identically to the reference. Run:

    .venv/bin/python bench/tokenizer.py [--shared ../shared] [--repeat 3] [--limit N]

Goal (issue #2): ours >= 8x plain jieba, >= 99.9 % of articles identical to the reference.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from corpus.loaders import load_paths  # noqa: E402
from recommender.text import LegalTokenizer, normalize  # noqa: E402


def timed(fn, texts: list[str], repeat: int) -> tuple[float, list[list[str]]]:
    times = []
    out: list[list[str]] = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = [fn(x) for x in texts]
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default=str(REPO.parent / "shared"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--limit", type=int, default=0, help="only the first N articles (quick check)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    laws = Path(args.shared) / "corpus" / "laws"
    if not laws.exists():
        print(f"skipped: {laws} is absent (the shared corpus beside the checkout)")
        return 0
    result = load_paths([laws])
    texts = [normalize(it.body) for it in result.items if it.type == "law_article"]
    if args.limit:
        texts = texts[: args.limit]
    chars = sum(len(t) for t in texts)

    import jieba

    jieba.setLogLevel(logging.WARNING)
    t = time.perf_counter()
    plain = jieba.Tokenizer()
    plain.initialize()
    load_plain = time.perf_counter() - t
    ours = LegalTokenizer(backend="rjieba")
    ref = LegalTokenizer(backend="jieba")
    t = time.perf_counter()
    ours.cut("预热")
    load_ours = time.perf_counter() - t
    ref.cut("预热")

    t_plain, _ = timed(lambda x: list(plain.cut(x)), texts, args.repeat)
    t_ref, cut_ref = timed(ref.cut, texts, args.repeat)
    t_ours, cut_ours = timed(ours.cut, texts, args.repeat)
    t_tok, _ = timed(ours.tokenize, texts, args.repeat)
    same = sum(1 for a, b in zip(cut_ours, cut_ref, strict=True) if a == b)
    report = {
        "articles": len(texts), "chars": chars, "repeat": args.repeat, "python": platform.python_version(),
        "load_s": {"plain_jieba": round(load_plain, 3), "ours": round(load_ours, 3)},
        "chars_per_s": {
            "plain_jieba": round(chars / t_plain), "jieba_with_legal_dict": round(chars / t_ref),
            "ours_cut": round(chars / t_ours), "ours_tokenize": round(chars / t_tok),
        },
        "speed_ratio_vs_plain_jieba": round(t_plain / t_ours, 2),
        "speed_ratio_vs_jieba_with_legal_dict": round(t_ref / t_ours, 2),
        "identical_articles": same, "agreement": round(same / len(texts), 6),
    }
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        print(f"{len(texts)} articles, {chars / 1e6:.2f} M characters, median of {args.repeat} runs")
        for k, v in report["chars_per_s"].items():
            print(f"  {k:<24} {v / 1e6:6.2f} M chars/s")
        print(f"  speed ratio, ours vs plain jieba:           {report['speed_ratio_vs_plain_jieba']}x")
        print(f"  speed ratio, ours vs jieba + legal dict:    {report['speed_ratio_vs_jieba_with_legal_dict']}x")
        print(f"  articles cut identically to the reference:  {same}/{len(texts)} = {report['agreement'] * 100:.4f} %")
        print(f"  load time: plain jieba {load_plain:.2f} s, ours {load_ours:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
