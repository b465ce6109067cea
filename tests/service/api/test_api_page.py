"""GET / and the page's files: served by the app, self-contained (works offline), hooks for the tests."""

from __future__ import annotations

import re
import tomllib
from pathlib import PurePosixPath

import pytest
from fastapi.testclient import TestClient

from service.api.routes.page import PAGE_FILES, STATIC_DIR
from testkit.server import REPO_ROOT
from tests.service.api.test_api_errors import assert_error


def test_the_page_is_served_at_the_root(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    html = response.text
    for element_id in ("canvas", "clear", "predict", "digit", "bars", "model", "result"):
        assert f'id="{element_id}"' in html, element_id
    assert 'href="/docs"' in html and 'href="/v1/model"' in html
    assert '<meta name="viewport"' in html


def test_everything_the_page_loads_comes_from_this_server(client: TestClient) -> None:
    html = client.get("/").text
    references = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert references and all(ref.startswith("/") and not ref.startswith("//") for ref in references)
    for ref in references:
        if ref.startswith("/static/"):
            assert client.get(ref).status_code == 200, ref
    script = client.get("/static/page.js").text
    assert "/v1/predict/image" in script and "/v1/model" in script and "toBlob" in script
    assert not re.search(r"https?://", script + client.get("/static/page.css").text)


@pytest.mark.parametrize(("name", "media"), [("page.js", "text/javascript"), ("page.css", "text/css"),
                                             ("favicon.svg", "image/svg+xml")])
def test_page_files_have_their_types(client: TestClient, name: str, media: str) -> None:
    response = client.get(f"/static/{name}")
    assert response.status_code == 200 and response.headers["content-type"].startswith(media)


@pytest.mark.parametrize("path", ["/static/example_digit.json", "/static/nothing.js", "/static/..%2Fmain.py",
                                  "/static/../main.py"])
def test_only_the_page_files_are_served(client: TestClient, path: str) -> None:
    assert_error(client.get(path), 404, "not_found")


def test_the_page_files_go_into_the_wheel() -> None:
    """Every file under service/static matches a package-data pattern (setuptools globs do not
    reach into subfolders), so an installed service serves the same page."""
    patterns = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]["service"]
    files = [p.relative_to(STATIC_DIR.parent) for p in STATIC_DIR.rglob("*") if p.is_file()]
    assert {"index.html", *PAGE_FILES} <= {f.name for f in files}
    for file in files:
        assert any(PurePosixPath(file.as_posix()).match(pattern) for pattern in patterns), file
