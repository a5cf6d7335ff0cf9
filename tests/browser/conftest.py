"""Browser tests of the console: a real ``pufa serve`` with a key for each role, driven by
Debian's chromium (headless) through Playwright. Nothing is downloaded: the tests skip, saying
why, where ``/usr/bin/chromium`` or the ``playwright`` package is absent.

The server's database holds the bundled sample, imported and built with ``pufa import`` and
``pufa build`` (LSA sentence vectors: seconds, where ``--bootstrap`` would embed the sample
with e5 first). Each browser test leaves ``test-output/screenshots/<test>.png`` (and
``<test>-<step>.png`` for the steps it names); look at them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.test_server import PUFA, REPO, Server

CHROMIUM = Path(os.environ.get("PUFA_CHROMIUM", "/usr/bin/chromium"))  # Debian's package
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = REPO / "test-output" / "screenshots"
KEYS = {"platform": "pl-key-7c1", "editor": "ed-key-4a9", "analyst": "an-key-2f0", "admin": "ad-key-9d3"}


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """A database with the sample and an active model: (database URL, models directory)."""
    root = tmp_path_factory.mktemp("console")
    db, models = f"sqlite:///{root / 'pufa.db'}", root / "models"
    config = root / "build.json"
    config.write_text(json.dumps({"index": {"dense_backend": "lsa"}}))
    for step in (["import", str(REPO / "corpus" / "sample"), "--db", db],
                 ["build", "--db", db, "--models", str(models), "--config", str(config), "--no-eval",
                  "--questions", "none"]):
        done = subprocess.run([*PUFA, *step], cwd=REPO, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
    return db, models


@pytest.fixture(scope="session")
def server(built: tuple[str, Path]) -> Iterator[Server]:
    """``pufa serve`` with a key for each role (:data:`KEYS`)."""
    srv = Server(*built, keys=",".join(f"{k}:{r}" for r, k in KEYS.items()))
    yield srv
    srv.stop()


@pytest.fixture
def dev_server(built: tuple[str, Path]) -> Iterator[Server]:
    """``pufa serve`` on the same database in development mode: no keys configured."""
    srv = Server(*built)
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def api(server: Server) -> Iterator[Callable[..., httpx.Response]]:
    """``api("get", "/v1/...", role="editor", json=...)``: the JSON API with a role's key."""
    with httpx.Client(base_url=server.url, timeout=60) as client:

        def call(method: str, path: str, role: str = "editor", **kwargs: Any) -> httpx.Response:
            return client.request(method, path, headers={"X-API-Key": KEYS[role]}, **kwargs)

        yield call


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"browser tests need Debian's chromium at {CHROMIUM}: apt-get install -y chromium fonts-noto-cjk")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("browser tests need the playwright package: pip install -e '.[dev]'")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


def _name(request: pytest.FixtureRequest) -> str:
    return re.sub(r"[^\w.-]+", "-", request.node.name).strip("-")


@pytest.fixture
def page(browser: Any, server: Server, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser context (no cookies) in Chinese; a screenshot of where it ends."""
    context = browser.new_context(base_url=server.url, locale="zh-CN", viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    yield pg
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        pg.screenshot(path=str(SCREENSHOTS / f"{_name(request)}.png"), full_page=True)
    finally:
        context.close()


@pytest.fixture
def shot(page: Any, request: pytest.FixtureRequest) -> Callable[[str], None]:
    """``shot("step")`` writes ``test-output/screenshots/<test>-step.png`` now."""

    def take(step: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{_name(request)}-{step}.png"), full_page=True)

    return take


def sign_in(page: Any, role: str | None, *, key: str | None = None, next_url: str = "/console/") -> None:
    """Through the sign-in form, as a person would."""
    page.goto(f"/console/login?next={next_url}")
    page.fill("#key", key if key is not None else KEYS[role or "editor"])
    page.click("form[action='/console/login'] button[type=submit]")
    page.wait_for_load_state()
