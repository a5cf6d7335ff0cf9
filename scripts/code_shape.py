"""The shape of the code: module lengths, public methods per class, the longest functions.

    python scripts/code_shape.py [REV]     # REV: a git revision to read instead of the tree

Issue 8's limits: no module in recommender/ or api/ over 450 lines, no class over 20 public
methods (tests/test_cli_and_layout.py holds the tree to them).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def sources(rev: str | None) -> dict[str, str]:
    if rev is None:
        return {str(p.relative_to(REPO)): p.read_text(encoding="utf-8")
                for d in ("recommender", "api") for p in sorted((REPO / d).rglob("*.py"))
                if "migrations/versions" not in str(p)}
    names = subprocess.run(["git", "ls-tree", "-r", "--name-only", rev, "recommender", "api"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.split()
    return {n: subprocess.run(["git", "show", f"{rev}:{n}"], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout for n in names if n.endswith(".py") and "migrations/versions" not in n}


def shape(files: dict[str, str]) -> tuple[list[tuple[int, str]], list[tuple[int, str]], list[tuple[int, str]]]:
    modules, classes, functions = [], [], []
    for name, text in files.items():
        modules.append((len(text.splitlines()), name))
        tree = ast.parse(text)
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                public = [n for n in node.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
                          and not n.name.startswith("_")]
                classes.append((len(public), f"{name}:{node.name}"))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                functions.append((node.end_lineno - node.lineno + 1, f"{name}:{node.name}"))
    return sorted(modules, reverse=True), sorted(classes, reverse=True), sorted(functions, reverse=True)


def main() -> None:
    rev = sys.argv[1] if len(sys.argv) > 1 else None
    modules, classes, functions = shape(sources(rev))
    print("longest modules:", ", ".join(f"{name} {n}" for n, name in modules[:5]))
    print("most public methods:", ", ".join(f"{name} {n}" for n, name in classes[:5]))
    print("longest functions:")
    for n, name in functions[:10]:
        print(f"  {n:4d}  {name}")


if __name__ == "__main__":
    main()
