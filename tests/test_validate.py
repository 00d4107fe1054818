"""`vitviz validate`: every error (schema, model names, sites) in one pass, and the disk cache that lets a second
run skip importing the model libraries."""
import json
import os
import subprocess
import sys

import yaml

from vitviz.core import disk_cache
from vitviz.pipeline.validate import validate

VIT = {"source": "train", "name": "vit_tiny_patch16_224",
       "kwargs": {"img_size": 32, "patch_size": 8, "embed_dim": 32, "depth": 6, "num_heads": 2},
       "preprocess": {"input_size": 32}}


def _write(tmp_path, d):
    f = tmp_path / "p.yaml"
    f.write_text(yaml.safe_dump(d, sort_keys=False))
    return f


def test_schema_model_and_site_errors_come_in_one_pass(tmp_path):
    d = {"models": {"vit": VIT, "typo": {"source": "timm", "name": "vit_tiny_patch16_22"}},
         "mask_eval": {"batch_size": -1},                                      # schema
         "optimize_features": {"models": ["vit"], "per_model": {"vit": {"features": {"blocks.7.ffn": [0]}}}}}
    found = validate(_write(tmp_path, d))
    paths = [e.split(":")[0] for e in found.errors]
    assert "mask_eval.batch_size" in paths                                      # the schema error
    assert "models.typo.name" in paths                                          # the model-level error
    assert "optimize_features.per_model.vit.features.blocks.7.ffn" in paths     # the site error (6 blocks)
    assert found.params is None
    ok = validate(_write(tmp_path, {"models": {"vit": VIT}, "optimize_features": {"models": ["vit"]}}))
    assert ok.errors == [] and list(ok.params.models) == ["vit"]


def test_a_section_with_schema_errors_leaves_the_other_sections_checked(tmp_path):
    d = {"models": {"typo": {"source": "timm", "name": "resnet1800"}, "vit": VIT},
         "optimize_features": {"steps": -3, "models": ["vit"]},                 # schema error: this section is out
         "sae": {"models": ["vit"], "sites": ["blocks.9.resid"]}}                # a site the 6 blocks lack
    paths = [e.split(":")[0] for e in validate(_write(tmp_path, d)).errors]
    assert paths[0] == "optimize_features.steps"
    assert "models.typo.name" in paths and "sae.sites[0]" in paths


def test_disk_cache_computes_once_per_key(tmp_path, monkeypatch):
    monkeypatch.setenv("VITVIZ_CACHE", str(tmp_path))
    calls = []

    def compute():
        calls.append(1)
        return {"n": len(calls)}

    assert disk_cache.cached("k", {"a": 1}, compute) == {"n": 1}
    assert disk_cache.cached("k", {"a": 1}, compute) == {"n": 1} and len(calls) == 1
    assert disk_cache.cached("k", {"a": 2}, compute) == {"n": 2}           # another key: computed
    (entry,) = [p for p in (tmp_path / "k").iterdir() if json.loads(p.read_text())["key"] == {"a": 1}]
    entry.write_text("{not json")                                             # a damaged entry is computed again
    assert disk_cache.cached("k", {"a": 1}, compute) == {"n": 3}
    assert disk_cache.cached("k", {"a": 1}, compute) == {"n": 3}


def test_a_warm_validate_imports_no_model_library(tmp_path):
    f = _write(tmp_path, {"models": {"vit": VIT}, "optimize_features": {"models": ["vit"]},
                          "mine_exemplars": {"models": ["vit"]}})
    env = {**os.environ, "VITVIZ_CACHE": str(tmp_path / "cache")}
    code = ("import sys; from vitviz.pipeline.validate import validate; v = validate(sys.argv[1]); "
            "assert not v.errors, v.errors; print(sorted({'torch', 'timm', 'torchvision'} & set(sys.modules)))")
    cold = subprocess.run([sys.executable, "-c", code, str(f)], capture_output=True, text=True, env=env)
    warm = subprocess.run([sys.executable, "-c", code, str(f)], capture_output=True, text=True, env=env)
    assert cold.returncode == 0 and warm.returncode == 0, cold.stderr + warm.stderr
    assert cold.stdout.strip() == "['timm', 'torch', 'torchvision']"     # built on the meta device once
    assert warm.stdout.strip() == "[]"


def test_cached_sites_match_the_architecture(tmp_path, monkeypatch):
    import timm
    import torch

    from vitviz.activations.sites import list_sites
    from vitviz.models.settings import ModelEntry
    from vitviz.pipeline.site_check import architecture_sites
    monkeypatch.setenv("VITVIZ_CACHE", str(tmp_path))                     # empty: the first call computes
    entry = ModelEntry.model_validate(VIT)
    first, second = architecture_sites(entry), architecture_sites(entry)   # computed, then read back
    model = timm.create_model(VIT["name"], **VIT["kwargs"])
    want = {s.name: (s.kind, s.layer, s.channels) for s in list_sites(model).values()}
    assert {n: (s.kind, s.layer, s.channels) for n, s in second.items()} == want == \
        {n: (s.kind, s.layer, s.channels) for n, s in first.items()}
    assert len(list((tmp_path / "sites").iterdir())) == 1                    # computed once, then read back
    assert want["blocks.1.ffn"] == ("ffn", 1, 128) and torch.is_tensor(next(model.parameters()))
