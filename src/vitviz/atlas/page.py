"""The atlas's pages: one index.html (hash routes for every page), the project's script and stylesheet."""
from __future__ import annotations

import html
from importlib import resources
from pathlib import Path

STATIC = ("atlas.js", "atlas.css")

TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<link rel="icon" href="data:,"><link rel="stylesheet" href="atlas.css">
<script src="atlas.js"></script></head>
<body><header><a href="#">{title}</a>
<form id="search"><input id="q" type="search" placeholder="L5 F123, a class name, or a CLIP word" aria-label="search">
<button type="submit">search</button></form></header>
<main id="main"><noscript>The atlas needs JavaScript (it runs offline, from this folder).</noscript></main>
</body></html>
"""


def write_pages(out_dir: str | Path, model_key: str) -> None:
    """Write index.html and the static files of the site into `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "index.html").write_text(TEMPLATE.format(title=html.escape(f"{model_key} feature atlas")))
    pkg = resources.files("vitviz.atlas") / "static"
    for name in STATIC:
        (out / name).write_text((pkg / name).read_text())
