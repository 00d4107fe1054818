"""The report's curves as CSV files, one per model (and per block for Appendix F), for `dvc plots`.

Each folder under reports/plots/ holds one curve kind; dvc.yaml declares the folders under `plots:`, so that
`dvc plots diff` compares the curves of experiments. The HTML report draws the same data itself, offline.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import json
from pathlib import Path

import pandas as pd

if TYPE_CHECKING:
    from vitviz.pipeline.params import Params


PLOTS = "plots"


def feature_mean_curve(curves: pd.DataFrame) -> pd.DataFrame:
    """Appendix F: per fraction, the mean over sampled features of each feature's mean count and sum ratios
    (every feature weighs the same, whatever its exemplars and repeats)."""
    cols = ["count_ratio", "sum_ratio"]
    per = curves.groupby(["feature", "fraction"], as_index=False)[cols].mean()
    return per.groupby("fraction", as_index=False)[cols].mean()


def _write(df: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False, float_format="%.6g")


def write_plot_data(params: Params, data_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Write training, isolating-CLS, low-pass, locality and Appendix F curves under `out_dir`/plots."""
    data, out = Path(data_dir), Path(out_dir) / PLOTS
    written: list[Path] = []

    def put(df: pd.DataFrame, rel: str) -> None:
        _write(df, out / rel)
        written.append(out / rel)

    for key in params.models:
        hist = data / "models" / key / "train_history.csv"
        if hist.exists():
            put(pd.read_csv(hist), f"training/{key}.csv")
    for key in params.token_mixing.models:
        probes = data / "token_mixing" / key / "probes.json"
        if probes.exists() and (p := json.loads(probes.read_text())).get("applicable"):
            put(pd.DataFrame([{"L": int(L), "top1": v[0], "top5": v[1]} for L, v in p["isolating_cls"].items()]),
                f"cls_sweep/{key}.csv")
    for key in params.lowpass_eval.models:
        low = data / "lowpass_eval" / f"{key}.json"
        if low.exists():
            put(pd.DataFrame(json.loads(low.read_text())["curve"]), f"lowpass/{key}.csv")
    for key in params.mine_exemplars.models:
        loc = data / "exemplars" / key / "locality.csv"
        if loc.exists():
            put(pd.read_csv(loc)[["layer", "top_share", "uniform"]], f"locality/{key}.csv")
    for key in params.appendix_f.models:
        curves = data / "appendix_f" / key / "appendix_f.csv"
        if curves.exists() and curves.stat().st_size > 1 and (df := pd.read_csv(curves)).shape[0]:
            for layer, g in df.groupby("layer"):
                put(feature_mean_curve(g), f"appendix_f/{key}_L{int(layer)}.csv")
    return written
