"""Honest comparisons: the intervals behind every offline figure (pinned by hand and checked for
coverage on data of known mean), the fixed split of the labelled questions, and a candidate
version against the active one (``pufa evaluate --against``, the analysts' API)."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest

from recommender.compare import compare_reports, compare_versions, format_comparison
from recommender.evaluate import SPLITS, evaluate_all, law_hit, load_split, topic_precision
from recommender.intervals import bootstrap_mean, difference, wilson

REPO = Path(__file__).resolve().parents[1]

# --------------------------------------------------------------------------- measures by hand


def test_topic_precision_counts_empty_places_as_misses():
    topics = {"a": {"labour"}, "b": {"traffic"}, "c": {"labour", "civil_code"}}.get
    # a and c are on topic, b is not, and the two empty places of a three-item list miss: 2 / 5.
    assert topic_precision(["a", "b", "c"], {"labour"}, lambda i: topics(i) or set()) == pytest.approx(0.4)
    assert topic_precision(["b"], {"labour"}, lambda i: topics(i) or set()) == 0.0


def test_law_hit_looks_at_the_first_k_only():
    laws = {"x1": {"劳动法"}, "x2": {"刑法"}}.get
    ranked = ["x2"] * 10 + ["x1"]
    assert law_hit(ranked, {"劳动法"}, lambda i: laws(i) or set()) == 0.0  # x1 is 11th
    assert law_hit(ranked, {"劳动法"}, lambda i: laws(i) or set(), k=11) == 1.0


def test_wilson_interval_by_hand():
    # 6 of 10, z = 1.96: centre (0.6 + 1.96²/20) / (1 + 1.96²/10) = 0.79207 / 1.38415 = 0.57224;
    # half width 1.96 * sqrt(0.6*0.4/10 + 1.96²/400) / 1.38415 = 0.25958: [0.3127, 0.8318].
    iv = wilson(6, 10)
    assert iv.mean == 0.6 and iv.n == 10
    assert iv.low == pytest.approx(0.3127, abs=1e-4) and iv.high == pytest.approx(0.8318, abs=1e-4)
    # 10 of 10 is not certain: the interval reaches down to 0.7225.
    assert wilson(10, 10).low == pytest.approx(0.7225, abs=1e-4) and wilson(10, 10).high == pytest.approx(1.0)
    assert math.isnan(wilson(0, 0).mean)


def test_bootstrap_interval_of_constant_values_is_the_value():
    iv = bootstrap_mean([0.25] * 7)
    assert (iv.mean, iv.low, iv.high, iv.n) == (0.25, 0.25, 0.25, 7)
    assert math.isnan(bootstrap_mean([]).mean)


def test_bootstrap_interval_covers_the_true_mean_about_95_times_in_100():
    # Data of known mean 0.3 (normal, sd 0.2, 150 values a set), 200 sets: a 95 % interval must
    # hold 0.3 in roughly 95 % of them (the percentile bootstrap runs a little under at n = 150).
    rng = np.random.default_rng(7)
    hits = 0
    for t in range(200):
        iv = bootstrap_mean(rng.normal(0.3, 0.2, 150), seed=t, n_boot=1000)
        hits += iv.low <= 0.3 <= iv.high
    assert 0.89 <= hits / 200 <= 0.99
    # Skewed 0/1 data (p = 0.2, like a hit rate): same.
    hits = 0
    for t in range(200):
        iv = bootstrap_mean((rng.random(200) < 0.2).astype(float), seed=t, n_boot=1000)
        hits += iv.low <= 0.2 <= iv.high
    assert 0.89 <= hits / 200 <= 0.99


def test_paired_difference_of_a_constant_shift_is_exact():
    a = {f"q{i}": v for i, v in enumerate(np.linspace(0, 1, 40))}
    b = {k: v + 0.1 for k, v in a.items()}
    d = difference(a, b)
    assert d.paired is True and d.n == 40
    assert d.mean == pytest.approx(0.1) and d.low == pytest.approx(0.1) and d.high == pytest.approx(0.1)
    # The same values on other units cannot be paired: each side resampled alone, a wide interval.
    c = {f"p{i}": v for i, v in enumerate(b.values())}
    u = difference(a, c)
    assert u.paired is False and u.mean == pytest.approx(0.1) and u.low < 0 < u.high


def test_compare_reports_verdicts():
    base = {f"q{i}": float(i % 2) for i in range(60)}
    better = dict(base, **{f"q{i}": 1.0 for i in range(0, 60, 2)})  # 30 misses become hits
    units_a = {"questions.topic_p@5": base, "questions.law_hit@10": base}
    units_b = {"questions.topic_p@5": better, "questions.law_hit@10": base}
    rows = {r.measure: r for r in compare_reports(units_a, units_b)}
    assert rows["questions.topic_p@5"].verdict == "better"
    assert rows["questions.topic_p@5"].difference.mean == pytest.approx(0.5)
    assert rows["questions.law_hit@10"].verdict == "no clear difference"
    assert rows["questions.law_hit@10"].difference.mean == 0.0
    worse = {r.measure: r for r in compare_reports(units_b, units_a)}
    assert worse["questions.topic_p@5"].verdict == "worse"
    # A measure one side lacks is not a row.
    assert "answers.recall@10" not in rows


# --------------------------------------------------------------------------- the fixed split


def _make_splits():
    spec = importlib.util.spec_from_file_location("make_splits", REPO / "scripts" / "make_splits.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_split_is_fixed_disjoint_and_reproducible():
    data = json.loads(SPLITS.read_text(encoding="utf-8"))
    dev, test = set(data["real_questions"]["dev"]), set(data["real_questions"]["test"])
    labelled = {json.loads(line)["id"] for line in (REPO / "corpus/eval/real_questions_dev.jsonl").read_text(
        encoding="utf-8").splitlines() if line.strip()}
    assert not dev & test and dev | test == labelled and len(test) == 160
    assert load_split("real_questions", "test") == test and load_split("real_questions", "all") is None
    # Running the script again deals the same ids (the split is made once, not per run).
    assert _make_splits().real_question_split() == data["real_questions"]
    folds = [set(f) for f in data["stard"]["folds"]]
    assert len(folds) == 5 and sum(len(f) for f in folds) == len(set().union(*folds)) == 515
    with pytest.raises(ValueError, match="no part 'val'"):
        load_split("real_questions", "val")


# --------------------------------------------------------------------------- versions side by side


@pytest.fixture(scope="module")
def two_versions(sample_env):
    """The sample's version and a config-only version of it (same arrays, another config)."""
    from recommender.artifacts import read_pipeline_config, save_config_version
    from recommender.model import load_model

    models = sample_env["models"]
    home = models / sample_env["version"]
    same = save_config_version(models, home, read_pipeline_config(home), "vsame")
    # One change: no group prior at all (a cold-start list no longer follows the group's plan).
    tuned = read_pipeline_config(home).merged({"scoring": {"group_prior": 0.0, "group_dense": 0.0,
                                                           "written_for": 0.0}})
    other = save_config_version(models, home, tuned, "vnogroup")
    return load_model(home), load_model(same), load_model(other)


def test_a_version_against_itself_differs_by_exactly_zero(two_versions):
    active, same, _ = two_versions
    cmp = compare_versions(same, active, questions=None, people=40, seeds=2)
    assert cmp.rows, "no measure compared"
    sections = {r.section for r in cmp.rows}
    assert {"feeds", "simulated"} <= sections
    for r in cmp.rows:
        assert r.difference.paired is True, r.measure
        assert (r.difference.mean, r.difference.low, r.difference.high) == (0.0, 0.0, 0.0), r.measure
        assert r.verdict == "no clear difference"
    assert cmp.meta["seeds"] == [0, 1]
    text = format_comparison(cmp)
    assert "better on 0, worse on 0" in text and "vsame" in text


def test_a_change_shows_in_the_paired_difference(two_versions):
    active, _, nogroup = two_versions
    cmp = compare_versions(nogroup, active, questions=None, people=60, seeds=2)
    sim = {r.measure: r for r in cmp.rows if r.section == "simulated"}
    assert sim["simulated.ndcg@10"].difference.paired is True
    # Dropping the group prior changes the simulated people's lists: the difference is not 0.
    assert any(r.difference.mean != 0.0 for r in cmp.rows)
    assert cmp.to_dict()["rows"][0]["difference"]["paired"] is True


def test_evaluation_report_has_intervals_by_group_and_seeds(two_versions):
    active, _, _ = two_versions
    rep = evaluate_all(active, questions=None, people=40, seeds=2, baselines=True)
    assert set(rep.seeds) == {"0", "1"}
    assert set(rep.simulated) == {"engine", "popularity", "group_prior", "dense", "bm25"}
    iv = rep.intervals["simulated"]["engine"]["ndcg@10"]
    assert iv["low"] <= rep.simulated["engine"]["ndcg@10"] <= iv["high"]
    # Every group has its judged@10 on both days, with a Wilson interval over the 10 places.
    herders = rep.groups["herders"]
    assert {"judged@10 2026-10-15", "judged@10 2026-12-04"} <= set(herders)
    assert herders["judged@10 2026-10-15"]["n"] == 10


# --------------------------------------------------------------------------- the API and the command line


@pytest.fixture
def copied_env(sample_env, tmp_path):
    """The sample database and models, copied: versions made here touch nothing shared."""
    import shutil

    from tests.test_server import copy_sqlite

    copy_sqlite(sample_env["root"] / "pufa.db", tmp_path / "pufa.db")
    shutil.copytree(sample_env["models"], tmp_path / "models")
    return f"sqlite:///{tmp_path / 'pufa.db'}", tmp_path / "models", sample_env["version"]


def test_analysts_evaluate_a_candidate_over_http(copied_env):
    import time

    from tests.api_keys import H, keyed_client

    url, models, first = copied_env
    with keyed_client(url, models) as client:
        made = client.post(f"/v1/admin/models/{first}/config", headers=H("admin"),
                           json={"diversity": {"max_per_topic": 2}})
        assert made.status_code == 201, made.text
        new = made.json()["version"]
        path = f"/v1/admin/models/{new}/evaluation"
        assert client.post(path, headers=H("platform"), json={}).status_code == 403
        assert client.get(path, headers=H("analyst")).status_code == 404  # not evaluated yet
        bad = client.post(path, headers=H("analyst"), json={"people": 5})
        assert bad.status_code == 422 and "people" in bad.text
        assert client.post(path, headers=H("analyst"), json={"seeds": 1, "colour": "red"}).status_code == 422
        self_cmp = client.post(f"/v1/admin/models/{first}/evaluation", headers=H("analyst"), json={})
        assert self_cmp.status_code == 422 and "against" in self_cmp.text
        assert client.post("/v1/admin/models/v-none/evaluation", headers=H("analyst"), json={}).status_code == 404
        started = client.post(path, headers=H("analyst"), json={"people": 30, "seeds": 1})
        assert started.status_code == 202, started.text
        assert started.json()["against"] == first and started.json()["state"] == "queued"
        deadline = time.monotonic() + 600
        while True:
            job = client.get(path, headers=H("editor")).json()
            if job["state"] in ("done", "failed") or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert job["state"] == "done", job["message"]
        rows = {r["measure"]: r for r in job["comparison"]["rows"]}
        assert "feeds.judged@10 2026-10-15" in rows and "simulated.ndcg@10" in rows
        for r in rows.values():
            d = r["difference"]
            assert d["low"] <= d["mean"] <= d["high"]
            assert r["verdict"] in ("better", "worse", "no clear difference")
        assert job["comparison"]["candidate"] == new and "difference" in job["table"]


def test_pufa_evaluate_against_active_prints_the_table(copied_env):
    from tests.test_config import pufa

    url, models, first = copied_env
    from recommender.artifacts import read_pipeline_config, save_config_version

    home = models / first
    save_config_version(models, home, read_pipeline_config(home).merged({"diversity": {"max_per_law": 1}}), "vcli")
    common = ("--db", url, "--models", str(models))
    out = pufa("evaluate", *common, "--version", "vcli", "--against", "ACTIVE", "--people", "30", "--seeds", "1")
    assert out.returncode in (0, 3), out.stderr
    assert f"candidate vcli against active {first}" in out.stdout and "verdict" in out.stdout
    assert (out.returncode == 3) == ("do not activate" in out.stdout)
    js = pufa("evaluate", *common, "--version", "vcli", "--against", first, "--people", "30", "--seeds", "1", "--json")
    assert js.returncode in (0, 3) and json.loads(js.stdout)["active"] == first
    missing = pufa("evaluate", *common, "--version", "v-none", "--against", "ACTIVE")
    assert missing.returncode == 2 and "v-none" in missing.stderr
    assert pufa("evaluate", *common, "--answers").returncode == 2
