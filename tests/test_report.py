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
