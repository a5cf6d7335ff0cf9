"""The `pufa` command end to end on the bundled sample, and the architecture's arrows."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import SAMPLE_DIR

REPO = Path(__file__).resolve().parents[1]


def pufa(*args: str, input: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "recommender.cli", *args], cwd=REPO, capture_output=True,
                          text=True, input=input, env=env, timeout=600)


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    return ["--db", f"sqlite:///{root / 'pufa.db'}", "--models", str(root / "models")], root


def test_import_is_idempotent_and_reports_rejects(cli_env):
    common, root = cli_env
    bad = root / "bad.jsonl"
    bad.write_text('{"id": "ok-cli", "title": "好", "type": "qa"}\n{"title": "", "type": "qa"}\n', encoding="utf-8")
    first = pufa("import", *common, "--json", str(SAMPLE_DIR), str(bad))
    assert first.returncode == 1 and "1 rows rejected (the others were imported)" in first.stderr
    a = json.loads(first.stdout)
    assert a["added"] >= 357 and a["by_type"]["qa"] >= 100 and len(a["rejected"]) == 1
    assert a["rejected"][0]["path"].endswith("bad.jsonl:2") and "title" in a["rejected"][0]["reason"]
    again = json.loads(pufa("import", *common, "--json", str(SAMPLE_DIR)).stdout)
    assert again["added"] == 0 and again["updated"] == 0 and again["skipped"] == a["added"] - 1
    missing = pufa("import", *common, str(root / "nope"))
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_build_classify_tokenize_recommend_items(cli_env):
    common, root = cli_env
    build = pufa("build", *common, "--no-eval")
    assert build.returncode == 0, build.stderr
    assert "model version" in build.stdout and (root / "models" / "ACTIVE").exists()
    out = pufa("classify", *common, "--json", "老板拖欠农民工工资三个月不给")
    res = json.loads(out.stdout)
    assert res["topics"][0]["id"] == "labour" and res["keywords"]
    lines = '{"id": "a", "text": "离婚后孩子抚养费怎么算"}\n{"id": "b", "text": "网上刷单被骗"}\n{"bad": 1}\n'
    out = pufa("classify", *common, "--jsonl", "-", input=lines)
    rows = [json.loads(x) for x in out.stdout.splitlines()]
    assert [r["id"] for r in rows] == ["a", "b"] and out.returncode == 2 and "line 3" in out.stderr
    assert rows[0]["topics"][0]["id"] == "marriage_family"
    assert pufa("tokenize", "他人民事权益受到侵害").stdout.split() == ["民事权益", "民事", "权益", "受到", "侵害"]
    rec = json.loads(pufa("recommend", *common, "--json", "--group", "herders", "-k", "3").stdout)
    assert len(rec["items"]) == 3 and rec["cold_start"]
    batch = (json.dumps({"id": "r1", "user_id": "cli-u", "k": 3, "events": [
        {"type": "question", "text": "草场承包经营权被侵占怎么办"}]}, ensure_ascii=False) + "\n"
        + json.dumps({"id": "r2", "groups": ["martians"]}) + "\n")
    out = pufa("recommend", *common, "--jsonl", "-", input=batch)
    rows = [json.loads(x) for x in out.stdout.splitlines()]
    assert [r["id"] for r in rows] == ["r1"] and any(r.startswith(("与您的提问相关", "与您的问题相关：")) for r in rows[0]["items"][0]["reasons"])
    assert out.returncode == 2 and "groups" in out.stderr
    items = pufa("items", *common, "--json", "--type", "quiz", "--limit", "2")
    assert len(items.stdout.splitlines()) == 2
    bad = pufa("recommend", *common, "--date", "2026-02-30")
    assert bad.returncode == 2 and "date" in bad.stderr


def test_items_and_serve_fail_plainly(cli_env, tmp_path):
    """Issue 7, item 8: no silent "all", no silent nothing, no silent cut, no tracebacks."""
    common, _ = cli_env
    zero = pufa("items", *common, "--limit", "0")
    assert zero.returncode == 2 and "--limit: must be at least 1" in zero.stderr and not zero.stdout
    bogus = pufa("items", *common, "--type", "bogus")
    assert bogus.returncode == 2 and "invalid choice: 'bogus'" in bogus.stderr
    cut = pufa("items", *common, "--limit", "3")
    assert cut.returncode == 0 and len(cut.stdout.splitlines()) == 3 and "more match" in cut.stderr
    every = pufa("items", *common, "--all")
    assert every.returncode == 0 and len(every.stdout.splitlines()) > 300 and not every.stderr
    none = pufa("items", *common, "--law", "没有这部法")
    assert none.returncode == 0 and "no item matches" in none.stderr
    # A reader that stops early (`| head -c 10`): quiet, exit 141 as other tools. The output
    # (~150 kB) is larger than a pipe holds, so the writer meets the closed pipe.
    proc = subprocess.Popen([sys.executable, "-m", "recommender.cli", "tokenize", "劳动合同工资" * 5000], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
    assert proc.stdout.read(10)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141 and "Traceback" not in err, err
    # Models under a file cannot be written: one line, no traceback.
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    serve = pufa("serve", "--db", f"sqlite:///{tmp_path / 's.db'}", "--models", str(blocker / "models"),
                 "--bootstrap", "--port", "1")
    assert serve.returncode == 1 and "Traceback" not in serve.stderr, serve.stderr
    assert serve.stderr.strip().splitlines()[-1].startswith("pufa: error: ") and "Not a directory" in serve.stderr


def test_without_a_model_the_cli_says_what_to_do(tmp_path):
    out = pufa("classify", "--db", f"sqlite:///{tmp_path / 'x.db'}", "--models", str(tmp_path / "m"), "工资")
    assert out.returncode == 1 and "pufa build" in out.stderr


# --------------------------------------------------------------------------- layout


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize(("package", "forbidden"), [("corpus", {"recommender", "api", "fastapi"}),
                                                    ("recommender", {"api", "fastapi", "starlette"})])
def test_arrows_point_one_way(package, forbidden):
    """api -> recommender -> corpus: nothing in recommender imports fastapi or api, nothing in
    corpus imports recommender."""
    for path in (REPO / package).rglob("*.py"):
        bad = imports_of(path) & forbidden
        assert not bad, f"{path.relative_to(REPO)} imports {bad}"


def test_rooms_stay_small():
    """Issue 8: no module in recommender/ or api/ over 450 lines, no class over 20 public
    methods (``python scripts/code_shape.py`` prints the figures)."""
    for package in ("recommender", "api"):
        for path in (REPO / package).rglob("*.py"):
            if "migrations/versions" in str(path):
                continue
            text = path.read_text(encoding="utf-8")
            assert len(text.splitlines()) <= 450, f"{path.relative_to(REPO)}: {len(text.splitlines())} lines"
            for node in ast.walk(ast.parse(text)):
                if isinstance(node, ast.ClassDef):
                    public = [n.name for n in node.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
                              and not n.name.startswith("_")]
                    assert len(public) <= 20, f"{path.relative_to(REPO)}:{node.name} has {len(public)} public methods"


def test_each_vocabulary_is_written_once():
    """Event types and item types are spelled out in one module each; everything else reads them."""
    for path in [*(REPO / "recommender").rglob("*.py"), *(REPO / "api").rglob("*.py"), REPO / "corpus" / "schema.py"]:
        text = path.read_text(encoding="utf-8")
        rel = str(path.relative_to(REPO))
        if rel != "recommender/vocab.py":
            assert '"dismiss", "search", "question"' not in text, f"{rel} lists the event types again"
            assert '"like", "share", "complete"' not in text, f"{rel} lists the reading event types again"
        if rel != "corpus/schema.py":
            assert '"law", "law_article", "interpretation"' not in text, f"{rel} lists the item types again"
            assert '"current", "superseded", "repealed"' not in text, f"{rel} lists the statuses again"
        if rel != "recommender/vocab.py":
            assert "sqlite:///./pufa.db" not in text, f"{rel} writes the default database URL again"
