"""Assemble the report from the outputs of the stages and write reports/ (HTML, markdown, figures, metrics)."""
from __future__ import annotations

import json
import logging
import subprocess
from pathlib import Path


from vitviz.core.atomic import atomic_path
from vitviz.core.config import Params
from vitviz.data.imagenet import read_index
from vitviz.report.document import render_html, render_markdown
from vitviz.report.deviations_section import deviations_section
from vitviz.report.exemplars_section import exemplars_section
from vitviz.report.features_section import features_section
from vitviz.report.robustness_section import robustness_section
from vitviz.report.token_mixing_section import token_mixing_section
from vitviz.report.sections import dataset_section, models_section, provenance_section

log = logging.getLogger(__name__)


def git_revision(cwd: str | Path = ".") -> str:
    """The current git commit (with '+dirty' when the tree has changes), or 'unknown'."""
    try:
        rev = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=cwd, capture_output=True,
                             text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return (rev + ("+dirty" if dirty else "")) if rev else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def build_report(params: Params, data_dir: str | Path, out_dir: str | Path, params_file: str = "params.yaml") -> dict:
    """Write report.html, report.md, figures/ and metrics.json into `out_dir`; return the metrics."""
    data_dir = Path(data_dir)
    index = read_index(data_dir / "dataset")
    with atomic_path(out_dir) as tmp:
        tmp.mkdir(parents=True)
        metrics: dict = {}
        sections = [
            provenance_section(params, params_file, git_revision()),
            deviations_section(params, data_dir / "features"),
            dataset_section(index, data_dir / "dataset", params, tmp, metrics),
            models_section(params, data_dir / "models", tmp, metrics),
            features_section(params, data_dir / "features", tmp, metrics),
            exemplars_section(params, index, data_dir, tmp, metrics),
            token_mixing_section(params, data_dir, tmp, metrics),
            robustness_section(params, index, data_dir, tmp, metrics),
        ]
        sections = [s for s in sections if s is not None]
        title = params.report.title
        (tmp / "report.md").write_text(render_markdown(title, sections))
        (tmp / "report.html").write_text(render_html(title, sections, tmp))
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics
