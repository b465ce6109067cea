"""The API documentation pages, /docs (Swagger UI) and /redoc (ReDoc), with their assets served here.

FastAPI's own pages load Swagger UI and ReDoc from a CDN at a floating version: offline they are
blank, and what runs is whatever the CDN serves that day. Here the pages are FastAPI's documented
ones (`get_swagger_ui_html`, `get_redoc_html`) pointed at the copies the pinned `fastapi-offline`
package ships (README: "The prediction service" names their versions). Each page gets a
Content-Security-Policy that allows scripts from this server plus, by hash, the page's own inline
script, so only the HTML this module renders can run script on it.
"""

from __future__ import annotations

import base64
import hashlib
import re
from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from starlette.responses import FileResponse, HTMLResponse

from service.errors import ServiceError

# HEAD too: link checkers, proxies and `curl -I` ask it of pages and files.
READ_METHODS = ["GET", "HEAD"]
router = APIRouter(tags=["docs"], include_in_schema=False)

ASSET_DIR = Path(str(files("fastapi_offline") / "static"))
ASSET_PREFIX = "/static/docs/"
FAVICON_URL = "/static/favicon.svg"  # the drawing page's icon (routes/page.py)
ASSETS = {"swagger-ui-bundle.js": "text/javascript; charset=utf-8",
          "swagger-ui.css": "text/css; charset=utf-8",
          "redoc.standalone.js": "text/javascript; charset=utf-8"}
# The asset URLs carry a digest of the file, so a browser may keep them for a year: an upgraded
# package changes the URL, never the content behind one.
ASSET_HEADERS = {"Cache-Control": "public, max-age=31536000, immutable"}
# Both pages: everything from this server; images may also be data: URIs (both UIs draw icons so).
CSP = ("default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")
# ReDoc alone: its styled-components inject <style> elements and style attributes (no hash can cover
# them), its search runs in a Worker made from a blob: URL. The Redocly logo it hard-codes from
# cdn.redoc.ly stays blocked (one console message; ReDoc hides the image when it fails).
REDOC_CSP = "style-src 'self' 'unsafe-inline'; worker-src blob:"
INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def _digest(name: str) -> str:
    return hashlib.sha256((ASSET_DIR / name).read_bytes()).hexdigest()[:16]


ASSET_URLS = {name: f"{ASSET_PREFIX}{name}?v={_digest(name)}" for name in ASSETS}


def _with_csp(page: HTMLResponse, extra: str = "") -> HTMLResponse:
    """The page with its Content-Security-Policy: scripts from 'self' and the page's inline
    scripts by their SHA-256, computed from the HTML as rendered, so the two cannot disagree."""
    html = bytes(page.body).decode()
    hashes = "".join(f" 'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
                     for script in INLINE_SCRIPT.findall(html))
    policy = "; ".join(filter(None, (CSP, f"script-src 'self'{hashes}", extra)))
    return HTMLResponse(html, headers={"Content-Security-Policy": policy, "Cache-Control": "no-cache"})


def _root(request: Request) -> str:
    """The path prefix a proxy serves the app under (as FastAPI's own docs pages use it)."""
    return str(request.scope.get("root_path", "")).rstrip("/")


@router.api_route("/docs", methods=READ_METHODS, response_class=HTMLResponse)
def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI: the API documentation with "Try it out"."""
    root = _root(request)
    return _with_csp(get_swagger_ui_html(
        openapi_url=root + str(request.app.openapi_url), title=f"{request.app.title} - Swagger UI",
        swagger_js_url=root + ASSET_URLS["swagger-ui-bundle.js"],
        swagger_css_url=root + ASSET_URLS["swagger-ui.css"], swagger_favicon_url=root + FAVICON_URL,
        swagger_ui_parameters=request.app.swagger_ui_parameters))


@router.api_route("/redoc", methods=READ_METHODS, response_class=HTMLResponse)
def redoc(request: Request) -> HTMLResponse:
    """ReDoc: the API documentation as one reference page."""
    root = _root(request)
    return _with_csp(get_redoc_html(
        openapi_url=root + str(request.app.openapi_url), title=f"{request.app.title} - ReDoc",
        redoc_js_url=root + ASSET_URLS["redoc.standalone.js"], redoc_favicon_url=root + FAVICON_URL,
        with_google_fonts=False), REDOC_CSP)


@router.api_route(ASSET_PREFIX + "{name}", methods=READ_METHODS, response_class=FileResponse)
def asset(name: str) -> FileResponse:
    """One of the documentation pages' scripts or style sheets."""
    if name not in ASSETS:  # a fixed list: no path from the URL ever reaches the file system
        raise ServiceError(404, f"no documentation asset named {name!r}; there are {', '.join(ASSETS)}")
    return FileResponse(ASSET_DIR / name, media_type=ASSETS[name], headers=ASSET_HEADERS)

