"""Make a site built by `asv publish` work without the internet: asv 0.6's index.html loads jQuery, Flot,
Bootstrap, blueimp-md5 and stupidtable from CDNs; this copies the same libraries (vendor/, as asv 0.5.1 shipped
them, all MIT-licensed) next to it and points the pages at them.

    asv publish && python tools/asv_site/offline.py results/asv-html
"""
from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

VENDOR = Path(__file__).resolve().parent / "vendor"
LOCAL = {  # the CDN file asv 0.6.6 names -> the vendored copy
    "bootstrap.min.css": "bootstrap-3.1.0.min.css",
    "bootstrap.min.js": "bootstrap-3.1.0.min.js",
    "jquery-3.3.1.min.js": "jquery-3.3.1.min.js",
    "jquery.flot.min.js": "jquery.flot-0.8.3.min.js",
    "jquery.flot.time.min.js": "jquery.flot-0.8.3.time.min.js",
    "jquery.flot.selection.min.js": "jquery.flot-0.8.3.selection.min.js",
    "jquery.flot.categories.min.js": "jquery.flot-0.8.3.categories.min.js",
    "jquery.flot.orderBars.js": "jquery.flot.orderBars.js",
    "md5.min.js": "md5.js",
    "stupidtable.min.js": "stupidtable.js",
}
TAG = re.compile(r"<(?:script|link)\b[^>]*>")
URL = re.compile(r'\b(src|href)="(https?://[^"]+)"')
PINNED = re.compile(r'\s+(?:integrity|crossorigin)="[^"]*"')  # the CDN files' hashes; the copies differ slightly


def make_offline(html_dir: str | Path) -> list[str]:
    """Rewrite every page's external scripts and stylesheets to local copies; returns the URLs replaced. Raises
    ValueError for an external file it has no copy of (a newer asv): better than a site that silently phones out."""
    html_dir = Path(html_dir)
    target = html_dir / "vendor"
    target.mkdir(exist_ok=True)
    for name in LOCAL.values():
        shutil.copy2(VENDOR / name, target / name)
    replaced = []
    for page in html_dir.glob("*.html"):
        text = page.read_text()

        def local(tag):
            found = URL.search(tag.group(0))
            if not found:
                return tag.group(0)
            url = found.group(2)
            name = url.rsplit("/", 1)[1]
            if name not in LOCAL:
                raise ValueError(f"{page.name}: no local copy of {url}")
            replaced.append(url)
            return PINNED.sub("", URL.sub(f'{found.group(1)}="vendor/{LOCAL[name]}"', tag.group(0)))

        page.write_text(TAG.sub(local, text))
    return replaced


if __name__ == "__main__":
    folder = sys.argv[1] if len(sys.argv) > 1 else "results/asv-html"
    urls = make_offline(folder)
    print(f"{folder}: {len(set(urls))} external files replaced by local copies in {folder}/vendor")
