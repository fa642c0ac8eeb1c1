"""Data Docs that render on a closed network: the CDN assets shipped and linked locally.

Great Expectations' Data Docs pages load Bootstrap, jQuery, Popper, bootstrap-table,
bootstrap-datepicker, Font Awesome and Vega from CDNs, and their logo from S3. On a government
network without internet they render broken. :func:`make_offline` copies the same files, shipped
in ``docs_assets/`` (taken unchanged from their npm packages, see its README), into
``<docs>/static/vendor/`` and points every page at them by a relative path.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path

log = logging.getLogger("datapool")

ASSETS = Path(__file__).resolve().parent / "docs_assets"
VENDOR = Path("static") / "vendor"
# CDN address (a regex over the URL without its query) -> the shipped file, under VENDOR
LOCAL = [
    (
        r"//maxcdn\.bootstrapcdn\.com/bootstrap/4\.3\.1/css/bootstrap\.min\.css$",
        "css/bootstrap.min.css",
    ),
    (
        r"//stackpath\.bootstrapcdn\.com/bootstrap/4\.3\.1/js/bootstrap\.min\.js$",
        "js/bootstrap.min.js",
    ),
    (r"//code\.jquery\.com/jquery-3\.7\.1\.min\.js$", "js/jquery.min.js"),
    (r"/popper\.js/1\.12\.9/umd/popper\.min\.js$", "js/popper.min.js"),
    (r"/bootstrap-table@1\.19\.\d/dist/bootstrap-table\.min\.css$", "css/bootstrap-table.min.css"),
    (r"/bootstrap-table@1\.19\.\d/dist/bootstrap-table\.min\.js$", "js/bootstrap-table.min.js"),
    (
        r"/bootstrap-table@1\.19\.\d/dist/extensions/filter-control/"
        r"bootstrap-table-filter-control(\.min)?\.css$",
        "css/bootstrap-table-filter-control.min.css",
    ),
    (
        r"/bootstrap-table@1\.19\.\d/dist/extensions/filter-control/"
        r"bootstrap-table-filter-control(\.min)?\.js$",
        "js/bootstrap-table-filter-control.min.js",
    ),
    (
        r"/bootstrap-datepicker/1\.9\.0/css/bootstrap-datepicker\.min\.css$",
        "css/bootstrap-datepicker.min.css",
    ),
    (
        r"/bootstrap-datepicker/1\.9\.0/js/bootstrap-datepicker\.min\.js$",
        "js/bootstrap-datepicker.min.js",
    ),
    (r"/font-awesome/6\.\d+\.\d+/css/all\.min\.css$", "css/fontawesome-all.min.css"),
    (
        r"/@forevolve/bootstrap-dark@1\.1\.0/dist/css/bootstrap-prefers-dark\.css$",
        "css/bootstrap-prefers-dark.css",
    ),
    (r"//cdn\.jsdelivr\.net/npm/vega@5$", "js/vega.min.js"),
    (r"//cdn\.jsdelivr\.net/npm/vega-lite@5$", "js/vega-lite.min.js"),
    (r"//cdn\.jsdelivr\.net/npm/vega-embed@6$", "js/vega-embed.min.js"),
]
LOGO = (
    r"//great-expectations-web-assets\.s3[^/]*\.amazonaws\.com/logo-long\.png$",
    "static/images/logo-long.png",
)
# an element that loads something when the page opens (not a link a reader may follow)
_LOADING = re.compile(
    r"""(<(?:script|img|iframe)\b[^>]*?\bsrc=|<link\b[^>]*?\bhref=)(["'])(https?:)?(//[^"']+)\2""",
    re.I,
)


def _local(url: str) -> str | None:
    bare = url.split("?", 1)[0].split("#", 1)[0]
    for pattern, rel in LOCAL:
        if re.search(pattern, bare):
            return str(VENDOR / rel)
    if re.search(LOGO[0], bare):
        return LOGO[1]
    return None


def make_offline(docs_dir: Path) -> list[str]:
    """Ship the assets into ``docs_dir`` and point its pages at them; return what stays remote.

    Idempotent: pages already rewritten have nothing left to replace.
    """
    if not docs_dir.is_dir():
        return []
    shutil.copytree(
        ASSETS, docs_dir / VENDOR, dirs_exist_ok=True, ignore=shutil.ignore_patterns("README.md")
    )
    remote: set[str] = set()
    for page in docs_dir.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        up = os.path.relpath(docs_dir, page.parent)

        def swap(m: re.Match[str], up: str = up) -> str:
            url = (m.group(3) or "") + m.group(4)
            local = _local(url)
            if local is None:
                remote.add(url)
                return str(m.group(0))
            return f"{m.group(1)}{m.group(2)}{Path(up, local).as_posix()}{m.group(2)}"

        new = _LOADING.sub(swap, text)
        if new != text:
            page.write_text(new, encoding="utf-8")
    for url in sorted(remote):
        log.warning("Data Docs still load %s from the network (no shipped copy)", url)
    return sorted(remote)
