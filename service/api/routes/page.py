"""The browser page at `/` and its CSS and JavaScript: plain files, no build step, nothing external."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from starlette.responses import FileResponse

from service.errors import ServiceError

# HEAD too: link checkers, proxies and `curl -I` ask it of pages and files.
READ_METHODS = ["GET", "HEAD"]
router = APIRouter(tags=["page"], include_in_schema=False)
STATIC_DIR = Path(__file__).resolve().parents[2] / "static"
PAGE_FILES = {"page.css": "text/css; charset=utf-8", "page.js": "text/javascript; charset=utf-8",
              "favicon.svg": "image/svg+xml"}
# Everything the page loads comes from this server; the policy makes that a guarantee.
HEADERS = {"Content-Security-Policy": "default-src 'self'; object-src 'none'; base-uri 'none'; "
           "frame-ancestors 'none'", "Cache-Control": "no-cache"}


@router.api_route("/", methods=READ_METHODS, response_class=FileResponse)
def index() -> FileResponse:
    """The page: draw a digit, see the model's answer."""
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8", headers=HEADERS)


@router.api_route("/static/{name}", methods=READ_METHODS, response_class=FileResponse)
def page_file(name: str) -> FileResponse:
    """One of the page's own files (its CSS or JavaScript)."""
    if name not in PAGE_FILES:  # a fixed list: no path from the URL ever reaches the file system
        raise ServiceError(404, f"no static file named {name!r}; the page has {', '.join(PAGE_FILES)}")
    return FileResponse(STATIC_DIR / name, media_type=PAGE_FILES[name], headers=HEADERS)
