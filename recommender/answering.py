"""A question's list: the articles that answer it, then a few explainers, then the feed.

The answer path (:mod:`recommender.answer`) ranks law articles for a question; this module
composes the list a person sees from that ranking and the feed's (:mod:`recommender.rank`):
each text once, no long run of one law's articles unless the question names the law, at
most ``answer.max_other`` explainers, cases or Q&A on the question (of which at most
``answer.max_campaign`` from a campaign; one on the question only when it is as close to it
as the article it displaces), and the feed filling any place left.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from recommender.answer import QueryView
from recommender.catalog import Catalog
from recommender.config import AnswerListConfig
from recommender.model import Model
from recommender.rank import RankContext, Ranked, Ranker

__all__ = ["answer_list", "compose_articles"]


def answer_list(ranker: Ranker, config: AnswerListConfig, ctx: RankContext, m: Model,
                view: QueryView) -> list[Ranked]:
    """A question's list: the articles that answer it first, each saying which article
    it is; then at most ``config.max_other`` explainers, cases or Q&A on the question (of
    which at most ``config.max_campaign`` may come from a campaign); the feed fills any
    place left."""
    cat = m.catalog
    answerer = m.answerer
    assert answerer is not None
    k = ctx.k if ctx.daily_cap_left is None else max(0, min(ctx.k, ctx.daily_cap_left))
    if k == 0:
        return []
    allowed = ranker.filters.allowed(dataclasses.replace(ctx, feed=False), cat)  # boilerplate stays findable
    rows, scores = answerer.rank(view, allowed)
    # Explanatory items on the question, scored by the feed's blend (over those few rows only).
    others: list[Ranked] = []
    expl = cat.explanatory_rows[allowed[cat.explanatory_rows]]
    from_campaign = 0
    if expl.size and k >= config.other_min_k:
        total, comps = ranker.scorer.score(ctx, cat, m.index, expl)
        for i in np.argsort(-total, kind="stable")[: config.other_scan]:
            if len(others) >= config.max_other:
                break
            c = {name: float(v[i]) for name, v in comps.items()}
            earns = _earns_a_place(m, view, int(expl[i]), c, rows, k - 1 - len(others))
            if not earns and c.get("campaign", 0.0) <= 0:
                continue  # neither a place on the question nor a campaign's: write no reasons
            reasons = ranker.explainer.reasons(ctx, cat, int(expl[i]), c)
            on_question = any(name.startswith("query_") and v > 0 for name, v in c.items()) and \
                reasons[0].startswith("与您的")
            if on_question and not earns:
                continue
            if not on_question:
                if c.get("campaign", 0.0) <= 0 or from_campaign >= config.max_campaign:
                    continue
                from_campaign += 1
            others.append(Ranked(int(expl[i]), float(total[i]), c, reasons,
                                 None if on_question else "campaign"))
    named = answerer.static.named_laws(view.text)
    articles = compose_articles(cat, rows, scores, k - len(others), config.max_law_run, named,
                                pool=max(config.article_factor * (k - len(others)), config.article_min))
    out = [Ranked(int(r), float(s), {"answer": float(s)},
                  [f"与您的问题相关：{cat.metas[r].law_title}{cat.metas[r].article_label or ''}"])
           for r, s in articles]
    keys = {cat.text_keys[r.row] for r in out}
    fill = others
    if len(out) + len(others) < k:
        # Few articles answer (a catalogue of explainers): the feed fills the list.
        fill = others + ranker.rank(dataclasses.replace(ctx, k=config.fill_factor * k, daily_cap_left=None),
                                    cat, m.index, m.ivf)
    for r in fill:
        if len(out) >= k:
            break
        if cat.text_keys[r.row] in keys:
            continue
        if r.slot == "campaign" and not any(r is o for o in others):
            if from_campaign >= config.max_campaign:
                continue  # a campaign adds at most this many items to an answer
            from_campaign += 1
        keys.add(cat.text_keys[r.row])
        out.append(r)
    # Scores read in list order (an explainer placed after the answer keeps its own
    # relevance, capped by the item above it).
    for i in range(1, len(out)):
        if out[i].score > out[i - 1].score:
            out[i] = dataclasses.replace(out[i], score=out[i - 1].score)
    return out


def _earns_a_place(m: Model, view: QueryView, row: int, comps: dict[str, float], articles: np.ndarray,
                   place: int) -> bool:
    """An explainer takes an answer article's place only when it shares the question's words
    and is as close to the question in meaning as the article it would push out (the one at
    ``place`` in the ranker's order). Every legal text is somewhat near any question for a
    sentence model, so "near" alone let an explainer on 宪法 displace the 民法典 article a
    contract question needed."""
    if place >= articles.size:
        return True  # fewer articles than places: nothing is pushed out
    if comps.get("query_sparse", 0.0) <= 0 or not np.any(view.dense):
        return False
    dense = m.index.dense_
    return float(dense[row] @ view.dense) >= float(dense[int(articles[place])] @ view.dense)


def compose_articles(cat: Catalog, rows: np.ndarray, scores: np.ndarray, n: int, max_run: int,
                     named: set[int], pool: int | None = None) -> list[tuple[int, float]]:
    """The best ``n`` articles in ranker order, each text once, and no more than ``max_run``
    articles of one law in a row unless the question names that law (a later article of
    another law moves up; when none is left the run goes on). The first ``pool`` rows are
    considered (default ``max(4 n, 50)``)."""
    out: list[tuple[int, float]] = []
    keys: set[str] = set()
    pending: list[tuple[int, float]] = []
    pool = max(4 * n, 50) if pool is None else pool
    for r, s in zip(rows[:pool], scores[:pool], strict=True):
        key = cat.text_keys[int(r)]
        if key not in keys:
            keys.add(key)
            pending.append((int(r), float(s)))
    while pending and len(out) < n:
        pick = 0
        if len(out) >= max_run:
            last = {int(cat.law_of[r]) for r, _ in out[-max_run:]}
            if len(last) == 1 and next(iter(last)) not in named:
                run_law = next(iter(last))
                pick = next((i for i, (r, _) in enumerate(pending) if int(cat.law_of[r]) != run_law), 0)
        out.append(pending.pop(pick))
    return out
