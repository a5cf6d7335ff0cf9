"""Issue 11, item 1: the pipeline config as a versioned artifact.

Every bad value is refused naming its field (the typed configs, ``pufa config validate``; the
API's side is in test_api.py); a config saved with a version round-trips and is what the
engine, ``pufa recommend`` and ``pufa config show`` use for that version; a config-only
version shares its parent's arrays and goes live and back through activate and rollback.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from recommender.artifacts import (
    PIPELINE_FILE,
    artifacts_dir,
    read_manifest,
    read_pipeline_config,
    save_config_version,
    write_manifest,
)
from recommender.build import BuildConfig, read_build_file
from recommender.config import PipelineConfig
from recommender.jsonconfig import ConfigError

from .test_server import copy_sqlite

REPO = Path(__file__).resolve().parents[1]

# Each bad value of the issue (and two more), the field the refusal must name, and a word of it.
BAD = [
    ({"diversity": {"mmr_lambda": 5.0}}, "diversity.mmr_lambda", "at most 1"),
    ({"diversity": {"max_per_law": -3}}, "diversity.max_per_law", "at least 1"),
    ({"candidates": {"ann": "hnsw-typo"}}, "candidates.ann", "'exact', 'ivf' or 'auto'"),
    ({"candidates": {"ivf_nprobe": 0}}, "candidates.ivf_nprobe", "at least 1"),
    ({"scoring": {"campain": 1.0}}, "scoring.campain", "unknown field"),
    ({"profile": {"strengths": {"teleport": 1.0}}}, "profile.strengths.teleport", "unknown key"),
]


def pufa(*args: str, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "recommender.cli", *args], cwd=REPO, capture_output=True,
                          text=True, input=input, timeout=600)


@pytest.mark.parametrize(("patch", "field", "words"), BAD, ids=[f for _, f, _ in BAD])
def test_each_bad_value_is_refused_naming_its_field(patch, field, words):
    with pytest.raises(ConfigError) as caught:
        PipelineConfig.from_dict(patch)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ") and words in str(caught.value)
    # ... also over a version's config, and inside a build file's pipeline section.
    with pytest.raises(ConfigError, match=field):
        PipelineConfig().merged(patch)
    with pytest.raises(ConfigError) as in_build:
        read_build_file({"evaluate": False, "pipeline": patch})
    assert in_build.value.field == f"pipeline.{field}"


def test_assignments_and_types_are_checked_too():
    cfg = PipelineConfig()
    with pytest.raises(ValueError, match="mmr_lambda"):
        cfg.diversity.mmr_lambda = 5.0
    with pytest.raises(ValueError, match="max_per_law"):
        PipelineConfig.from_dict({"diversity": {"max_per_law": "2"}})  # strict: a string is not a number
    with pytest.raises(ConfigError, match=r"filters\.exclude_types\.0"):
        PipelineConfig.from_dict({"filters": {"exclude_types": ["blog"]}})
    with pytest.raises(ConfigError, match=r"index\.dense_backend"):
        BuildConfig.from_dict({"index": {"dense_backend": "word2vec"}})
    with pytest.raises(ConfigError) as several:
        PipelineConfig.from_dict({"diversity": {"mmr_lambda": 0.0, "window": 0}})
    assert [f for f, _ in several.value.problems] == ["diversity.mmr_lambda", "diversity.window"]


def test_defaults_round_trip_and_a_partial_config_merges():
    cfg = PipelineConfig()
    assert PipelineConfig.from_json(cfg.to_json()) == cfg
    tuned = cfg.merged({"profile": {"strengths": {"view": 2.0}}, "diversity": {"max_per_law": 1}})
    assert tuned.profile.strengths["view"] == 2.0 and tuned.profile.strengths["question"] == 5.0
    assert tuned.diversity.max_per_law == 1 and tuned.diversity.window == 10
    assert cfg.diversity.max_per_law == 2  # the original is untouched
    # The numbers that were constants in code keep their values as defaults.
    assert (cfg.candidates.group_topic_share, cfg.candidates.min_profile_confidence, cfg.candidates.query_topic_boost,
            cfg.scoring.query_sparse_scale, cfg.profile.lexicon_hint, cfg.co_reading.limit) == (0.5, 0.3, 2.0, 2.0, 0.6, 200)


def test_a_build_file_of_today_stays_valid_and_may_carry_a_pipeline():
    build, pipeline = read_build_file({"evaluate": False, "index": {"dense_backend": "lsa"}})
    assert pipeline is None and build.index.dense_backend == "lsa" and not build.evaluate
    build, pipeline = read_build_file({"questions": [], "pipeline": {"filters": {"exclude_types": ["qa"]}}})
    assert build.questions == [] and pipeline is not None and pipeline.filters.exclude_types == ["qa"]
    assert pipeline.diversity == PipelineConfig().diversity


def test_json_schema_states_ranges_and_choices():
    defs = PipelineConfig.json_schema()["$defs"]
    lam = defs["DiversityConfig"]["properties"]["mmr_lambda"]
    assert (lam["exclusiveMinimum"], lam["maximum"], lam["default"]) == (0.0, 1.0, 0.9)
    assert defs["CandidateConfig"]["properties"]["ann"]["enum"] == ["exact", "ivf", "auto"]
    assert defs["CandidateConfig"]["properties"]["ivf_nprobe"]["minimum"] == 1
    assert defs["DiversityConfig"]["additionalProperties"] is False
    assert "teleport" not in defs["ProfileConfig"]["properties"]["strengths"]["propertyNames"]["enum"]


def test_pufa_config_validate_and_schema(tmp_path):
    for patch, field, _ in BAD:
        f = tmp_path / "bad.json"
        f.write_text(json.dumps(patch), encoding="utf-8")
        out = pufa("config", "validate", str(f))
        assert out.returncode == 2 and f"{field}: " in out.stderr and "Traceback" not in out.stderr, out.stderr
    good = tmp_path / "good.json"
    good.write_text('{"diversity": {"max_per_law": 1}}', encoding="utf-8")
    out = pufa("config", "validate", str(good))
    assert out.returncode == 0 and out.stdout.startswith("ok\n")
    assert PipelineConfig.from_json(out.stdout[3:]) == PipelineConfig().merged({"diversity": {"max_per_law": 1}})
    out = pufa("config", "validate", "--json", "-", input='{"candidates": {"ann": "hnsw-typo", "ivf_nprobe": 0}}')
    assert out.returncode == 2
    assert [e["field"] for e in json.loads(out.stdout)["errors"]] == ["candidates.ann", "candidates.ivf_nprobe"]
    out = pufa("config", "validate", "--build", "-", input='{"evaluate": false, "pipeline": {"diversity": {"pool": 0}}}')
    assert out.returncode == 2 and "pipeline.diversity.pool" in out.stderr
    assert pufa("config", "validate", "-", input="{not json").returncode == 2
    assert pufa("config", "validate").returncode == 2  # FILE is needed
    schema = json.loads(pufa("config", "schema").stdout)
    assert schema["$defs"]["DiversityConfig"]["properties"]["mmr_lambda"]["maximum"] == 1.0


# --------------------------------------------------------------------------- with a model version


@pytest.fixture
def copied_env(sample_env, tmp_path):
    """The sample database and models, copied: activating versions here touches nothing shared."""
    copy_sqlite(sample_env["root"] / "pufa.db", tmp_path / "pufa.db")
    shutil.copytree(sample_env["models"], tmp_path / "models")
    return f"sqlite:///{tmp_path / 'pufa.db'}", tmp_path / "models", sample_env["version"]


def test_a_saved_config_round_trips_with_its_version(sample_env, tmp_path):
    from recommender.engine import Engine
    from recommender.model import load_model

    built = sample_env["models"] / sample_env["version"]
    assert PIPELINE_FILE in read_manifest(built)["files"]  # every build saves its config
    assert read_pipeline_config(built) == PipelineConfig()
    tuned = PipelineConfig().merged({"diversity": {"max_per_law": 1}, "filters": {"exclude_types": ["qa"]}})
    out = save_config_version(tmp_path, built, tuned, "v-tuned")
    manifest = read_manifest(out)
    assert manifest["config_only"] and manifest["parent"] == sample_env["version"]
    assert artifacts_dir(out, manifest) == built.resolve() and manifest["files"] == [PIPELINE_FILE]
    assert not (out / "index").exists()  # shared, not copied
    model = load_model(out)
    assert model.version == "v-tuned" and model.config == tuned and len(model.catalog) > 300
    assert Engine(model).config == tuned  # the engine serves a version with its own config
    # A config-only version of a config-only version points at the trained arrays (one hop).
    again = save_config_version(tmp_path, out, tuned.merged({"reasons": {"max_reasons": 1}}), "v-again")
    assert artifacts_dir(again) == built.resolve() and read_manifest(again)["parent"] == "v-tuned"
    # A version without pipeline_config.json serves with the defaults.
    (out / PIPELINE_FILE).unlink()
    write_manifest(out, {k: v for k, v in manifest.items() if k not in ("files", "format")})
    assert load_model(out).config == PipelineConfig()


def test_config_only_version_goes_live_through_activate_and_rollback(copied_env):
    """The service side: what ``pufa serve`` and ``pufa recommend`` read for the active version."""
    from recommender.inputs import RecommendRequest
    from recommender.service import PufaService, ServiceError
    from recommender.store import open_store

    url, models, first = copied_env
    svc = PufaService(open_store(url), models)
    req = RecommendRequest(groups=["public"], k=20)
    before = [(i["item_id"], i["type"]) for i in svc.recommend(req).items]
    assert any(t == "qa" for _, t in before)
    with pytest.raises(ServiceError) as bad:
        svc.models.derive_config_version(first, {"diversity": {"mmr_lambda": 5.0}})
    assert (bad.value.status, bad.value.field) == (422, "diversity.mmr_lambda")
    with pytest.raises(ServiceError) as unknown:
        svc.models.derive_config_version("v-none", {})
    assert unknown.value.status == 404
    made = svc.models.derive_config_version(first, {"filters": {"exclude_types": ["qa"]}})
    new = made["version"]
    assert made["parent"] == first and not made["active"] and svc.models.loaded_version() == first
    assert svc.models.config_of(new).filters.exclude_types == ["qa"]
    svc.models.activate(new)
    during = [(i["item_id"], i["type"]) for i in svc.recommend(req).items]
    assert during and not any(t == "qa" for _, t in during)
    # The command line reads the active version's config too.
    common = ("--db", url, "--models", str(models))
    out = pufa("recommend", *common, "--json", "--group", "public", "-k", "20")
    assert out.returncode == 0, out.stderr
    assert [(i["item_id"], i["type"]) for i in json.loads(out.stdout)["items"]] == during
    shown = json.loads(pufa("config", "show", *common, "--json").stdout)
    assert shown["version"] == new and shown["config_only"] and shown["config"]["filters"]["exclude_types"] == ["qa"]
    old = json.loads(pufa("config", "show", *common, "--json", "--version", first).stdout)
    assert old["config"] == PipelineConfig().to_dict()
    assert svc.models.rollback()["version"] == first
    assert [(i["item_id"], i["type"]) for i in svc.recommend(req).items] == before


def test_pufa_build_saves_the_pipeline_section_with_the_version(copied_env, tmp_path):
    url, _, _ = copied_env
    models = tmp_path / "built"
    f = tmp_path / "build.json"
    f.write_text(json.dumps({"index": {"dense_backend": "lsa"}, "pipeline": {"diversity": {"max_per_law": 1}}}),
                 encoding="utf-8")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"index": {"dense_backend": "lsa"}, "pipeline": {"diversity": {"mmr_lambda": 5.0}}}),
                   encoding="utf-8")
    common = ("--db", url, "--models", str(models))
    refused = pufa("build", *common, "--config", str(bad), "--no-eval", "--questions", "none")
    assert refused.returncode == 2 and "pipeline.diversity.mmr_lambda" in refused.stderr and not models.exists()
    done = pufa("build", *common, "--config", str(f), "--no-eval", "--questions", "none", "--no-activate", "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    version = json.loads(done.stdout)["version"]
    assert read_pipeline_config(models / version) == PipelineConfig().merged({"diversity": {"max_per_law": 1}})
    shown = json.loads(pufa("config", "show", *common, "--json", "--version", version).stdout)
    assert shown["config"]["diversity"]["max_per_law"] == 1 and not shown["config_only"]


def test_a_version_built_by_another_release_loads_without_the_fields_this_one_lacks(copied_env, caplog):
    """An upgrade that drops a config field must not strand the active model: the stored
    configs (pipeline, index, classifier, answer ranker, tagging) and the catalogue's rows with a
    field this release does not know load with a warning naming it; a known field with a bad
    value is still refused."""
    import logging

    from recommender.artifacts import ArtifactError
    from recommender.model import load_model
    from recommender.service import PufaService
    from recommender.store import open_store

    url, models, version = copied_env
    d = models / version
    recipe = json.loads((d / "build_config.json").read_text(encoding="utf-8"))

    def patch(path: Path, update) -> None:
        data = json.loads(path.read_text(encoding="utf-8"))
        update(data)
        path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")

    patch(d / PIPELINE_FILE, lambda c: (c.update(retired_knob=3), c["diversity"].update(old_limit=2)))
    for meta in (d / "index" / "index.json", d / "classifier" / "classifier.json", d / "answer" / "answer.json"):
        patch(meta, lambda m: m["config"].update(retired_knob=1))
    patch(d / "build_config.json", lambda b: (b.setdefault("tagging", {}).update(retired_knob=True),
                                              b["answer"].update(prior_candidates=50)))
    items = d / "catalog" / "items.jsonl"
    rows = [json.loads(line) for line in items.read_text(encoding="utf-8").splitlines() if line.strip()]
    items.write_text("".join(json.dumps({**r, "retired_field": 1}, ensure_ascii=False) + "\n" for r in rows),
                     encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="pufa.config"):
        model = load_model(d)
    assert model.config == PipelineConfig() and [m.id for m in model.catalog.metas] == [r["id"] for r in rows]
    assert any(r.name == "pufa.catalog" and "retired_field" in r.getMessage() for r in caplog.records)
    warned = [r.getMessage() for r in caplog.records if r.name == "pufa.config"]
    assert any("'diversity.old_limit'" in w for w in warned)
    assert sum("'retired_knob'" in w for w in warned) == 5  # pipeline, index, answer, classifier, tagging
    # A retrain keeps the active version's recipe, less the field it cannot read.
    store = open_store(url)
    store.models.register(version, str(d), {})  # the copy is the active version here
    store.models.activate(version)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="pufa.config"):
        build, _ = PufaService(store, models).models._retrain_config()
    assert any("'answer.prior_candidates'" in r.getMessage() for r in caplog.records)
    assert build.questions == recipe["questions"] and build.evaluate == recipe["evaluate"]
    assert build.classifier.to_dict() == recipe["classifier"] and build != BuildConfig()
    patch(d / PIPELINE_FILE, lambda c: c["diversity"].update(max_per_law="two"))
    with pytest.raises(ArtifactError, match=r"diversity\.max_per_law"):
        load_model(d)
