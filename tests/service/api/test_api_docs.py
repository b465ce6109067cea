"""/docs and /redoc work offline: their scripts and styles come from this server, under a
Content-Security-Policy, and a real browser with every other host blocked renders both."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.api.routes.docs import ASSET_DIR
from testkit.server import REPO_ROOT, ServerProcess, running_server
from testkit.shipped import shipped_weights
from tests.service.api.test_api_errors import assert_error

DOC_PAGES = ["/docs", "/redoc"]
TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
TIMEOUT_MS = 15_000


def references(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', html)


def policy(response: Any) -> dict[str, list[str]]:
    """The Content-Security-Policy header as {directive: [sources]}."""
    directives = [d.split() for d in response.headers["content-security-policy"].split(";") if d.strip()]
    return {name: sources for name, *sources in directives}


@pytest.mark.parametrize("path", DOC_PAGES)
def test_docs_pages_load_everything_from_this_server(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert "//" not in response.text, "no URL to another host in the page"
    refs = references(response.text)
    assert len(refs) >= 2
    for ref in refs:
        assert ref.startswith("/") and not ref.startswith("//"), ref
        asset = client.get(ref)
        assert asset.status_code == 200, ref
        suffix = re.search(r"\.[a-z]+(?=\?|$)", ref)
        assert suffix is not None and asset.headers["content-type"].startswith(TYPES[suffix.group()]), ref
        assert asset.content, ref


def test_the_pages_use_the_packaged_swagger_ui_and_redoc(client: TestClient) -> None:
    """What /docs and /redoc load is byte for byte what the pinned fastapi-offline ships."""
    refs = [ref for path in DOC_PAGES for ref in references(client.get(path).text)
            if ref.startswith("/static/docs/")]
    loaded = {ref.split("?")[0].rsplit("/", 1)[1]: client.get(ref).content for ref in refs}
    assert set(loaded) == {"swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js"}
    for name, content in loaded.items():
        assert content == (ASSET_DIR / name).read_bytes(), name


def test_assets_may_be_cached_because_their_url_names_their_content(client: TestClient) -> None:
    refs = [ref for ref in references(client.get("/docs").text) if ref.startswith("/static/docs/")]
    for ref in refs:
        name, version = ref.removeprefix("/static/docs/").split("?v=")
        assert hashlib.sha256((ASSET_DIR / name).read_bytes()).hexdigest().startswith(version)
        assert "immutable" in client.get(ref).headers["cache-control"]


@pytest.mark.parametrize("path", ["/static/docs/favicon.png", "/static/docs/..%2Fcore.py",
                                  "/static/docs/x.js"])
def test_only_the_docs_assets_are_served(client: TestClient, path: str) -> None:
    assert_error(client.get(path), 404, "not_found")


@pytest.mark.parametrize("path", DOC_PAGES)
def test_docs_pages_have_a_content_security_policy(client: TestClient, path: str) -> None:
    response = client.get(path)
    csp = policy(response)
    assert csp["default-src"] == ["'self'"]
    assert csp["object-src"] == ["'none'"] and csp["frame-ancestors"] == ["'none'"]
    # scripts: this server, and the page's own inline script by its hash; never any inline script
    assert "'unsafe-inline'" not in csp["script-src"] and "'unsafe-eval'" not in csp["script-src"]
    inline = re.findall(r"<script>(.*?)</script>", response.text, re.DOTALL)
    hashes = {f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'" for s in inline}
    assert set(csp["script-src"]) == {"'self'", *hashes}
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"


def test_swagger_ui_policy_allows_no_inline_style(client: TestClient) -> None:
    """Only ReDoc needs inline styles (styled-components); Swagger UI runs without them."""
    assert "style-src" not in policy(client.get("/docs"))
    assert "'unsafe-inline'" in policy(client.get("/redoc"))["style-src"]


def test_the_openapi_document_has_no_docs_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith(("/docs", "/redoc", "/static"))]
    assert "/v1/predict" in paths


def test_the_readme_names_the_versions_served() -> None:
    """The versions the README states are those of the files served (both record their own)."""
    swagger = re.search(r'PACKAGE_VERSION:"([0-9.]+)"', (ASSET_DIR / "swagger-ui-bundle.js").read_text())
    redoc = re.search(r'ReDoc Version: ","([0-9.]+)"', (ASSET_DIR / "redoc.standalone.js").read_text())
    assert swagger and redoc
    readme = (REPO_ROOT / "README.md").read_text()
    assert f"Swagger UI {swagger.group(1)}" in readme and f"ReDoc {redoc.group(1)}" in readme


# ---- In a real browser, offline


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The real mnist-serve with the shipped default model."""
    with running_server("--weights-dir", str(shipped_weights()),
                        log_dir=tmp_path_factory.mktemp("server")) as process:
        yield process


def open_offline(browser: Any, server: ServerProcess, path: str) -> tuple[Any, list[str], list[str]]:
    """The page at `path` with every request to another host aborted: (page, console errors and
    page errors, aborted URLs)."""
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    problems: list[str] = []
    aborted: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))

    def route(request_route: Any) -> None:
        url = request_route.request.url
        if url.startswith(f"{server.base_url}/"):
            request_route.continue_()
        else:
            aborted.append(url)
            request_route.abort()

    page.route("**/*", route)
    page.goto(f"{server.base_url}{path}", timeout=TIMEOUT_MS)
    return page, problems, aborted


@pytest.mark.slow
def test_swagger_ui_renders_and_tries_out_offline(browser: Any, server: ServerProcess) -> None:
    page, problems, aborted = open_offline(browser, server, "/docs")
    page.get_by_text("/v1/predict/batch").first.wait_for(timeout=TIMEOUT_MS)
    assert page.locator(".opblock").count() >= 10  # every operation, v1 and v2
    # "Try it out" calls the server from the page, which the policy allows ('self')
    page.locator(".opblock-summary").filter(has_text="/v1/model").first.click()
    page.get_by_role("button", name="Try it out").click()
    page.get_by_role("button", name="Execute").click()
    page.locator(".live-responses-table").get_by_text("mnist-cnn").first.wait_for(timeout=TIMEOUT_MS)
    assert problems == [] and aborted == []


@pytest.mark.slow
def test_redoc_renders_offline(browser: Any, server: ServerProcess) -> None:
    page, problems, aborted = open_offline(browser, server, "/redoc")
    page.locator("h1", has_text="mnist-serve").wait_for(timeout=TIMEOUT_MS)
    page.get_by_text("/v1/predict", exact=True).first.wait_for(timeout=TIMEOUT_MS)
    page.locator("input[placeholder='Search...']").press_sequentially("batch")  # in its blob: Worker
    page.locator("[data-role='search:results']").get_by_text("Predict Batch").wait_for(timeout=TIMEOUT_MS)
    # ReDoc hard-codes the Redocly logo from cdn.redoc.ly; the policy blocks it, ReDoc hides it
    logo = [p for p in problems if "https://cdn.redoc.ly/redoc/logo-mini.svg" in p
            and "Content Security Policy" in p]
    assert len(logo) <= 1
    assert [p for p in problems if p not in logo] == [] and aborted == []


@pytest.mark.parametrize("path", [*DOC_PAGES, "/", "/static/page.js", "/static/favicon.svg",
                                  "/static/docs/swagger-ui.css"])
def test_head_answers_what_get_would_without_the_body(client: TestClient, path: str) -> None:
    get, head = client.get(path), client.head(path)
    assert get.status_code == head.status_code == 200, head.text
    assert head.headers["content-type"] == get.headers["content-type"]
    assert head.content == b""
