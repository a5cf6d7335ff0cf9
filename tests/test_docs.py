"""/docs and /redoc work on a machine without internet: every script, style sheet and icon
they load comes from this server (the fastapi-offline package), and each answers."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import Settings


class _Assets(HTMLParser):
    """The URLs a page loads: <script src>, <link href>, <img src>."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"script": "src", "link": "href", "img": "src"}.get(tag)
        for name, value in attrs:
            if name == wanted and value:
                self.urls.append(value)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    """The app over an empty database and no model: the docs need neither."""
    root = tmp_path_factory.mktemp("docs")
    settings = Settings(db=f"sqlite:///{root / 'pufa.db'}", models=str(root / "models"), api_keys="k:admin")
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.mark.parametrize(("page", "scripts"), [("/docs", 1), ("/redoc", 1)])
def test_docs_load_nothing_from_another_host(client, page, scripts):
    r = client.get(page)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    parser = _Assets()
    parser.feed(r.text)
    assert len([u for u in parser.urls if u.endswith(".js")]) == scripts, parser.urls
    assert parser.urls
    # No absolute URL anywhere in the page's own markup (a CDN, Google Fonts, the validator).
    assert not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", r.text, re.I), r.text
    for url in parser.urls:
        assert url.startswith("/") and not url.startswith("//"), url
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 1000, url


def test_swagger_ui_reads_this_servers_spec_without_the_validator(client):
    html = client.get("/docs").text
    assert "url: '/openapi.json'" in html
    assert '"validatorUrl": null' in html
    assert client.get("/openapi.json").status_code == 200
