"""`asv publish` builds the benchmark site from the committed history, and the site works in a real browser.

The committed results (results/asv) are published into a temporary folder, served on 127.0.0.1 and opened in
Debian's Chromium through Playwright: the page loads without console errors, every request it makes goes to
127.0.0.1, and its benchmark list holds the physics benchmarks. asv 0.6's pages load their JavaScript from CDNs, so the site is first pointed at the vendored copies
(tools/asv_site/offline.py). A screenshot is kept in test-artifacts/asv.png.
"""
import functools
import http.server
import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.browser import keep_screenshot, needs_chromium, watched_page

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def site(tmp_path):
    """The published site of the committed results: its folder."""
    results = tmp_path / "results"
    shutil.copytree(ROOT / "results" / "asv", results)
    html = tmp_path / "html"
    # The project's settings, but this checkout's HEAD as the branch: a CI clone may have no local `main`, and the
    # recorded commits are HEAD's ancestors.
    conf = {"version": 1, "project": "qhep", "project_url": "https://github.com/qhep/qhep", "repo": str(ROOT),
            "branches": ["HEAD"], "environment_type": "virtualenv", "pythons": ["3.11"],
            "benchmark_dir": str(ROOT / "benchmarks"), "results_dir": str(results), "html_dir": str(html)}
    (tmp_path / "asv.conf.json").write_text(json.dumps(conf))
    done = subprocess.run([sys.executable, "-m", "asv", "publish", "--config", str(tmp_path / "asv.conf.json")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (html / "index.html").is_file() and (html / "index.json").is_file()
    # asv 0.6 loads jQuery, Flot and Bootstrap from CDNs: point the pages at the vendored copies
    sys.path.insert(0, str(ROOT / "tools" / "asv_site"))
    try:
        from offline import make_offline
    finally:
        sys.path.pop(0)
    assert make_offline(html)
    return html


def test_the_published_index_lists_the_physics_benchmarks(site):
    index = json.loads((site / "index.json").read_text())
    names = set(index["benchmarks"])
    for task in ("Lhco", "Top", "Svj", "Darkmachines"):
        for figure in ("track_one_minus_auc", "track_eps_b_at_eps_s_0_3", "track_inverse_max_sic"):
            assert f"bench_physics.Physics{task}.{figure}" in names
    assert "lower is better" in index["benchmarks"]["bench_physics.PhysicsLhco.track_one_minus_auc"]["unit"]
    assert len(index["revision_to_hash"]) >= 2  # a history, not one point


@pytest.fixture
def served(site):
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@needs_chromium
def test_the_site_opens_in_a_browser(served):
    with watched_page(allowed=(served + "/", "data:")) as watched:
        page = watched.page
        page.goto(served + "/index.html", wait_until="load", timeout=20_000)
        # asv's summary grid: one box per benchmark, named after it
        page.wait_for_selector("text=track_one_minus_auc", timeout=15_000)
        body = page.inner_text("body")
        # one physics benchmark's history: a line per method over the commits
        # (in the virtualenv environment: the older existing-environment results have no physics)
        page.goto(served + "/index.html#bench_physics.PhysicsLhco.track_one_minus_auc?python=3.11", wait_until="load")
        page.wait_for_selector("#graph-display canvas.flot-base", timeout=15_000)
        page.wait_for_timeout(500)
        keep_screenshot(page, "asv.png", full_page=False)
    requests, errors, missing = watched.requests, watched.errors, watched.failed
    assert "bench_physics" in body
    for figure in ("track_one_minus_auc", "track_eps_b_at_eps_s_0_3", "track_inverse_max_sic"):
        assert figure in body
    outside = [url for url in requests if not (url.startswith(served + "/") or url.startswith("data:"))]
    assert not outside, outside
    assert any("/index.json" in url for url in requests)  # the data came from the server
    assert not missing, missing
    assert not errors, errors
