"""The HTML report in a real headless browser: Debian's chromium driven by Playwright (installed by .ci/run; a
tool's own browser download is never used). Opened from a file URL, it must fetch nothing outside file: and data:,
log no console errors, decode every image and hold the expected rows; a screenshot is kept in test-artifacts/."""
from __future__ import annotations

from tests.browser import keep_screenshot, needs_chromium, watched_page
from tests.test_report import base, variant, write  # noqa: F401  (base: the module-scoped record fixture)

pytestmark = needs_chromium


def test_the_page_in_a_real_browser(tmp_path, base, cli):  # noqa: F811
    write(tmp_path / "results", [variant(base, seed=0, auc=0.70), variant(base, seed=1, auc=0.80),
                                 variant(base, method="qae", backend="fast", auc=0.76),
                                 variant(base, method="pca", auc=0.9, dirty=True)])
    code, _, err = cli("report", "--results", tmp_path / "results", "--out", tmp_path / "out")
    assert code == 0, err
    page_file = tmp_path / "out" / "leaderboard.html"
    with watched_page(allowed=("file:", "data:")) as watched:
        page = watched.page
        page.goto(page_file.as_uri(), wait_until="load")
        images = page.eval_on_selector_all("img", "els => els.map(e => [e.complete, e.naturalWidth])")
        figures = page.eval_on_selector_all("#figures-lhco tbody tr", "rows => rows.map(r => r.innerText)")
        dirty = page.eval_on_selector_all("#dirty-lhco tbody tr", "rows => rows.map(r => r.innerText)")
        summary = page.eval_on_selector_all("#summary tbody tr td:first-child", "tds => tds.map(t => t.innerText)")
        keep_screenshot(page, "leaderboard.png")
    requests, errors = watched.requests, watched.errors
    assert requests and all(url.startswith(("file:", "data:")) for url in requests), requests
    assert not errors, errors
    assert images and all(complete and width > 0 for complete, width in images), images
    assert len(figures) == 2 and figures[0].startswith("1\tqae [fast]") and figures[1].startswith("2\tae")
    assert len(dirty) == 1 and "pca †" in dirty[0]
    assert sorted(summary) == ["ae", "qae"]
