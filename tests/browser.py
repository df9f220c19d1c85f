"""A real headless browser for tests: Debian's chromium (installed by .ci/run; a tool's own browser download is
never used) driven by Playwright, every request recorded and anything outside the allowed origins refused, console
errors and page errors collected."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# root needs --no-sandbox; without the background-networking flags chromium's own connections are refused in bulk
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"

needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (.ci/run installs Debian's)")


@dataclass
class Watched:
    page: object
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # console errors and uncaught page errors
    failed: list[str] = field(default_factory=list)  # responses of status 400 and above


@contextmanager
def watched_page(allowed: tuple[str, ...]):
    """A fresh page whose requests outside the `allowed` URL prefixes are aborted (and all recorded)."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright: pip install -e '.[test]'")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            watched = Watched(context.new_page())

            def route(request_route):
                url = request_route.request.url
                watched.requests.append(url)
                request_route.continue_() if url.startswith(allowed) else request_route.abort()

            context.route("**/*", route)
            watched.page.on("console", lambda m: watched.errors.append(m.text) if m.type == "error" else None)
            watched.page.on("pageerror", lambda e: watched.errors.append(str(e)))
            watched.page.on("response", lambda r: watched.failed.append(f"{r.status} {r.url}") if r.status >= 400
                            else None)
            yield watched
        finally:
            browser.close()


def keep_screenshot(page, name: str, full_page: bool = True) -> Path:
    """A screenshot of the page, kept as an artifact of the test run."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=full_page)
    return ARTIFACTS / name
