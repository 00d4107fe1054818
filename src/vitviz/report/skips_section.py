"""Report section "Skipped inputs": what the index left out or repaired, and what each pass skipped per model."""
from __future__ import annotations

from typing import TYPE_CHECKING

import json
from pathlib import Path

import pandas as pd

from vitviz.report.document import Para, Section, Table

if TYPE_CHECKING:
    from vitviz.pipeline.params import Params

# fault counter of the index -> what it means and what was done
INDEX_FAULTS = {
    "xml_unreadable": "box XML malformed or with non-numeric coordinates: image kept, without boxes",
    "xml_without_true_box": "box XML without a box of the image's class: not 'with true box'",
    "box_inverted": "box with swapped corners: put in order",
    "box_clipped": "box outside the image: clipped to it",
    "box_empty": "box with no area left after clipping: dropped",
    "unlabeled": "image without a known label: left out",
    "non_image_files": "file that is not an image (e.g. README.txt): ignored",
}


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def pass_outputs(params: Params, data_dir: Path) -> list[tuple[str, str, Path]]:
    """(pass, model key, JSON file) of every per-model output that carries image and skip counts."""
    out = [("evaluation", k, data_dir / "models" / k / "metrics.json") for k in params.models]
    out += [("mine_exemplars", k, data_dir / "exemplars" / k / "meta.json") for k in params.mine_exemplars.models]
    out += [("mask_eval", k, data_dir / "mask_eval" / f"{k}.json") for k in params.mask_eval.models]
    out += [("lowpass_eval", k, data_dir / "lowpass_eval" / f"{k}.json") for k in params.lowpass_eval.models]
    out += [("token_mixing", k, data_dir / "token_mixing" / k / "probes.json") for k in params.token_mixing.models]
    return out


def skips_section(params: Params, data_dir: Path, metrics: dict) -> Section:
    """Index faults per split, and undecodable images skipped per pass and model."""
    faults = (_read(data_dir / "dataset" / "meta.json") or {}).get("faults", {})
    blocks: list = [Para("Nothing is scored silently: faulty inputs are repaired or left out, and counted here. "
                         "Undecodable images (truncated, empty or corrupt files) are skipped by every pass and "
                         "by the report's figures alike.")]
    rows = [{"split": split, "fault": INDEX_FAULTS.get(k, k), "count": v}
            for split, counts in faults.items() if isinstance(counts, dict) for k, v in counts.items()]
    empty = faults.get("empty_class_folders") or []
    if empty:
        rows.append({"split": "classes", "fault": f"empty class folder, left out of the classes: {', '.join(empty)}",
                     "count": len(empty)})
    blocks.append(Table(pd.DataFrame(rows), "What the index repaired or left out (prepare_data)") if rows else
                  Para("The index found no faulty files, boxes or folders."))
    passes = []
    for name, key, path in pass_outputs(params, data_dir):
        r = _read(path)
        if r is not None and "skipped" in r:
            passes.append({"pass": name, "model": key, "split": r.get("split", ""),
                           "images scored": r.get("images"), "skipped (undecodable)": int(r["skipped"])})
    if passes:
        df = pd.DataFrame(passes)
        blocks.append(Table(df, "Images each pass skipped, per model"))
        metrics["skipped_images"] = int(df["skipped (undecodable)"].sum())
    return Section("Skipped inputs", blocks)
