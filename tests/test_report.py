"""The report renders the same content to offline HTML and markdown."""
import pandas as pd
from PIL import Image

from vitviz.report.document import Figure, Para, Section, Table, render_html, render_markdown


def test_markdown_and_html_twins(tmp_path):
    (tmp_path / "figures").mkdir()
    Image.new("RGB", (4, 4), (255, 0, 0)).save(tmp_path / "figures" / "a.png")
    secs = [Section("Models & data", [Para("Top-1 is **high** in `vit`."),
                                      Table(pd.DataFrame({"model": ["vit"], "top-1": [91.234]}), "Accuracy."),
                                      Figure("figures/a.png", "A red square.")])]
    md = render_markdown("T", secs)
    assert "## Models & data" in md and "| vit | 91.23 |" in md and "![A red square.](figures/a.png)" in md
    html = render_html("T", secs, tmp_path)
    assert "<td class=n>91.23</td>" in html and "<b>high</b>" in html and "<code>vit</code>" in html
    assert "data:image/png;base64," in html and "http" not in html.replace("http-equiv", "")
    assert "id='models-data'" in html


def test_deviations_of_the_shipped_configs():
    from conftest import REPO
    from vitviz.pipeline.params import load_params
    from vitviz.report.deviations_section import deviations
    demo = " ".join(deviations(load_params(REPO / "params.yaml")))
    assert "synthetic ImageNet" in demo and "steps = 80" in demo and "vit_demo" in demo
    assert "mask_eval.split = val" in demo
    assert deviations(load_params(REPO / "configs" / "paper.yaml")) == []


def test_speed_settings_that_change_numbers_are_reported():
    import dataclasses

    from conftest import REPO
    from vitviz.pipeline.params import load_params
    from vitviz.report.deviations_section import deviations
    paper = load_params(REPO / "configs" / "paper.yaml")
    fast = paper.model_copy(update={"speed": dataclasses.replace(paper.speed, precision="bf16", device_decode=True,
                                                                 num_workers=32, fused_attention=False)})
    got = deviations(fast)
    assert len(got) == 2 and "speed.precision = bf16" in got[0] and "speed.device_decode" in got[1]


def test_deviations_compare_what_ran(tmp_path):
    import json

    from conftest import REPO
    from vitviz.pipeline.params import load_params
    from vitviz.report.deviations_section import deviations
    paper = load_params(REPO / "configs" / "paper.yaml")
    key = paper.optimize_features.models[0]
    (tmp_path / key).mkdir()
    ran = {"steps": 50, "copies": 8, "jitter": 32}
    (tmp_path / key / "settings.json").write_text(json.dumps({"model": key, "settings": ran}))
    assert deviations(paper) == []
    got = deviations(paper, tmp_path)
    assert len(got) == 1 and got[0].startswith("optimize_features.steps = ") and f"50 ({key})" in got[0]


def test_image_grid_cells_are_full_size_with_colour_bars_and_titles_apart(tmp_path, monkeypatch):
    """Pure red images measured in the saved PNG: each drawn 144-145 px wide (the 1.45 in cell at 100 dpi, at least
    the 128 px a laptop reader needs); long captions wrapped so that no two titles overlap; a map cell's colour bar
    runs from 0 to the map's maximum."""
    import numpy as np
    from PIL import Image

    import vitviz.report.figures as figures
    seen = {}
    original = figures.save

    def spy(fig, path, dpi=100):
        fig.canvas.draw()
        r = fig.canvas.get_renderer()
        seen["titles"] = [ax.title.get_window_extent(r) for ax in fig.axes if ax.get_title()]
        seen["bars"] = [[t.get_text() for t in cax.get_yticklabels()] for ax in fig.axes for cax in ax.child_axes]
        original(fig, path, dpi)

    monkeypatch.setattr(figures, "save", spy)
    red = np.zeros((64, 64, 3), np.uint8)
    red[..., 0] = 255
    long = "exemplar: great white shark, white shark, man-eater, man-eating shark"
    figures.image_grid([("L5 F46", [("optimised", red), (long, red), ("map 8x8", red, 3.69)]),
                        ("L4 F2", [(long, red), (long, red), ("map 8x8", red, 0.5)])], tmp_path / "g.png")
    a = np.asarray(Image.open(tmp_path / "g.png").convert("RGB")).astype(int)
    is_red = (a[..., 0] > 200) & (a[..., 1] < 40) & (a[..., 2] < 40)
    row = is_red[np.argmax(is_red.sum(1))]
    edges = np.flatnonzero(np.diff(np.r_[0, row.astype(int), 0]))
    widths = [int(e - s) for s, e in zip(edges[::2], edges[1::2]) if e - s > 20]
    assert len(widths) == 3 and all(w >= 140 for w in widths), widths
    boxes = seen["titles"]
    assert len(boxes) == 6
    for i, b in enumerate(boxes):
        for c in boxes[i + 1:]:
            assert not b.overlaps(c), "two column titles overlap"
    assert seen["bars"] == [["0", "3.69"], ["0", "0.5"]]
    assert figures.wrap_caption(long) == "exemplar: great\nwhite shark, white…"


def test_failed_marks_flat_and_black_images_and_unbeaten_scores(tmp_path):
    """Known answer: a black image and a flat grey one fail by the image rule, a textured one whose score does not
    beat its best natural image fails by the objective rule, a textured one that beats it passes."""
    import numpy as np
    import pandas as pd

    from vitviz.report.failed import failed_marks
    from vitviz.visualization.optimize import FeatureResult
    from vitviz.visualization.settings import VisSettings
    from vitviz.visualization.store import read_features, write_features
    rng = np.random.default_rng(0)
    images = {"black": np.zeros((16, 16, 3), np.uint8), "grey": np.full((16, 16, 3), 120, np.uint8),
              "beaten": rng.integers(0, 256, (16, 16, 3), dtype=np.uint8),
              "good": rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)}
    almost_flat = np.full((16, 16, 3), 120, np.uint8)
    almost_flat[0, 0] = 126                            # a range of 6 levels: still flat (fewer than 8)
    images["almost"] = almost_flat
    # the image rule is decided where the visualisations are written (features.csv), for every later reader
    write_features([FeatureResult("blocks.0.attn.k", "attn.k", 0, f, None, 0, 1, 0.0, 1.0, 0.0, 0.0, a)
                    for f, a in enumerate(images.values())], tmp_path, "m", VisSettings(steps=1), {})
    df, _ = read_features(tmp_path)
    scores = pd.DataFrame({"site": ["blocks.0.attn.k"] * 2, "feature": [2, 3], "beats_natural": [False, True]})
    out = failed_marks(df, scores)
    assert out["flat_or_black"].tolist() == [True, True, False, False, True]
    assert out["failed"].tolist() == [True, True, True, False, True]
    assert failed_marks(df, None)["failed"].tolist() == [True, True, False, False, True]


def test_fig16_ticks_sit_at_the_cutoffs_used_and_do_not_collide(tmp_path, monkeypatch):
    """The low-pass plot's log axis is labelled at exactly the cutoffs that were evaluated (no minor ticks, no
    labels in between), and no two tick labels overlap, with the default's eight cutoffs down to 1.6."""
    import vitviz.report.robustness_section as rs
    seen = {}

    def spy(fig, path, dpi=100):
        fig.canvas.draw()
        r = fig.canvas.get_renderer()
        ax = fig.axes[0]
        labels = [t for t in ax.get_xticklabels() if t.get_text()]
        seen["texts"] = [t.get_text() for t in labels]
        seen["boxes"] = [t.get_window_extent(r) for t in labels]
        seen["minor"] = [t.get_text() for t in ax.get_xticklabels(minor=True) if t.get_text()]

    monkeypatch.setattr(rs, "save", spy)
    cutoffs = [32, 24, 16, 11.2, 8, 4.8, 3.2, 1.6]
    curve = [{"cutoff": c, "top1": 90 - i * 10} for i, c in enumerate(cutoffs)]
    rs._lowpass_plot({"vit_demo": {"kind": "vit", "curve": curve, "chance_top1": 10.0,
                                   "unit": "cycles_per_image"}}, tmp_path / "lp.png")
    assert seen["texts"] == ["1.6", "3.2", "4.8", "8", "11.2", "16", "24", "32"] and not seen["minor"]
    boxes = seen["boxes"]
    for i in range(len(boxes) - 1):
        assert boxes[i].x1 < boxes[i + 1].x0 + 1e-6 or not boxes[i].overlaps(boxes[i + 1]), \
            (seen["texts"][i], seen["texts"][i + 1])


def test_summary_of_findings_leads_the_committed_report_with_linked_numbers():
    """The committed default report opens with its summary; each line links to a section of the page, and the
    models' lines carry the top-1 of reports/metrics.json with its 95% Wilson interval, computed here by hand."""
    import json
    import math
    import re
    from pathlib import Path
    reports = Path(__file__).resolve().parents[1] / "reports"
    md = (reports / "report.md").read_text()
    heads = re.findall(r"^## (.+)$", md, flags=re.M)
    assert heads[0] == "Summary of findings"
    summary = md.split("## Summary of findings", 1)[1].split("\n## ", 1)[0]
    lines = [ln for ln in summary.splitlines() if ln.startswith("- ")]
    assert len(lines) >= 4
    html = (reports / "report.html").read_text()
    ids = set(re.findall(r"id='([^']+)'", html))
    for ln in lines:
        anchor = re.match(r"- \[[^\]]+\]\(#([^)]+)\)", ln).group(1)
        assert anchor in ids, anchor
    metrics = json.loads((reports / "metrics.json").read_text())
    for key, m in metrics["models"].items():
        (ln,) = [ln for ln in lines if f"): {key} (" in ln and "classifies" in ln]
        n = int(re.search(r"of (\d+) \w+ images", ln).group(1))
        p, z = round(m["top1"] / 100 * n) / n, 1.959963984540054
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        assert f"{m['top1']:.1f}% \\[{100 * (centre - half):.1f}, {100 * (centre + half):.1f}\\]" in ln, ln
