"""Assemble the report from the outputs of the stages and write reports/ (HTML, markdown, figures, metrics)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import json
import logging
from pathlib import Path


from vitviz.core.atomic import atomic_path
from vitviz.data.imagenet import read_index
from vitviz.report.document import Bullets, Para, Section, render_html, render_markdown
from vitviz.report.deviations_section import deviations_section
from vitviz.report.exemplars_section import exemplars_section
from vitviz.report.features_section import features_section
from vitviz.report.plot_data import write_plot_data
from vitviz.report.robustness_section import robustness_section
from vitviz.report.skips_section import skips_section
from vitviz.report.sae_section import sae_section
from vitviz.report.scores_section import scores_section
from vitviz.report.token_mixing_section import token_mixing_section
from vitviz.report.sections import dataset_section, models_section, provenance_section

if TYPE_CHECKING:
    from vitviz.pipeline.params import Params

log = logging.getLogger(__name__)


def atlas_section(params: Params) -> Section | None:
    """A link to each model's feature atlas (stage atlas@<key>, written beside reports/ in atlas/<key>)."""
    if not params.atlas.models:
        return None
    links = ", ".join(f"[{k}](../atlas/{k}/index.html)" for k in params.atlas.models)
    return Section("Feature atlas", [Para(
        "Every mined feature of a model, SAE latents included, as a feature dashboard, browsable offline (our "
        "extension): the visualisation and its recipe, the top exemplars with their activation maps, exemplars "
        "from quantile bands of the activation distribution, the minimising exemplars, the histogram of its "
        "statistic, its activation density, its direct effect on the class logits, its scores and verdict, and "
        f"related features: {links}. Failed visualisations are marked there by the rule stated above.")])


def build_report(params: Params, data_dir: str | Path, out_dir: str | Path, params_file: str = "params.yaml") -> dict:
    """Write report.html, report.md, figures/ and metrics.json into `out_dir`; return the metrics."""
    data_dir = Path(data_dir)
    index = read_index(data_dir / "dataset")
    with atomic_path(out_dir) as tmp:
        tmp.mkdir(parents=True)
        metrics: dict = {}
        sections = [
            provenance_section(params, params_file),
            deviations_section(params, data_dir / "features"),
            dataset_section(index, data_dir / "dataset", params, tmp, metrics),
            models_section(params, data_dir / "models", tmp, metrics),
            features_section(params, data_dir / "features", tmp, metrics),
            scores_section(params, data_dir, tmp, metrics),
            sae_section(params, data_dir, tmp, metrics),
            exemplars_section(params, index, data_dir, tmp, metrics),
            token_mixing_section(params, data_dir, tmp, metrics),
            robustness_section(params, index, data_dir, tmp, metrics),
            atlas_section(params),
            skips_section(params, data_dir, metrics),
        ]
        sections = [s for s in sections if s is not None]
        findings = [f"[{s.title}](#{s.anchor}): {text}" for s in sections for text in s.findings]
        if findings:
            sections.insert(0, Section("Summary of findings", [Para(
                "Each line is written from the numbers of its section (95% intervals; a direction only where a "
                "test over features gives p < 0.05), and links to it."), Bullets(findings)]))
        title = params.report.title
        (tmp / "report.md").write_text(render_markdown(title, sections))
        (tmp / "report.html").write_text(render_html(title, sections, tmp))
        write_plot_data(params, data_dir, tmp)
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics
