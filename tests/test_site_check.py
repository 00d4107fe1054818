"""Sites, features, layers and kinds named in params, checked offline against architectures on the meta device."""
import subprocess
import sys

import pytest
import yaml

from vitviz.core.errors import ConfigError
from vitviz.pipeline.params import parse_params
from vitviz.doctor import run_doctor
from vitviz.pipeline.site_check import check_sites, describe_layers, describe_sites
from vitviz.activations.sites import Site

VIT = {"source": "train", "name": "vit_tiny_patch16_224", "preprocess": {"input_size": 32},
       "kwargs": {"img_size": 32, "patch_size": 8, "embed_dim": 32, "depth": 2, "num_heads": 2}}
RESNET = {"source": "train", "name": "resnet10t", "preprocess": {"input_size": 32}}
HAVE = ("blocks.0.ffn .. blocks.1.ffn, blocks.0.attn.in .. blocks.1.attn.in, blocks.0.attn.q .. blocks.1.attn.q, "
        "blocks.0.attn.k .. blocks.1.attn.k, blocks.0.attn.v .. blocks.1.attn.v, blocks.0.resid .. blocks.1.resid")


def _params(**opt):
    select = {"attn_layers": None, **opt.pop("select", {})}   # the demo's default [0, 5] is for its 6 blocks
    return {"models": {"vit": VIT, "cnn": RESNET},
            "optimize_features": {"models": ["vit"], "select": select, **opt}, "mine_exemplars": {"models": ["vit"]}}


def test_two_bad_sites_and_one_bad_feature_give_exactly_three_lines():
    # embed_dim 32 with timm's mlp_ratio 4: the FFN has 128 channels, q/k/v 32 each
    p = parse_params(_params(per_model={"vit": {"features": {
        "blocks.9.ffn": [0], "blocks.1.ffn": [3, 127, 999], "blocks.0.attn.x": [1], "blocks.0.attn.q": [31]}}}))
    report = check_sites(p)
    path = "optimize_features.per_model.vit.features"
    assert report.errors == [
        f"{path}.blocks.9.ffn: no such site in vit; have {HAVE} (close: blocks.1.ffn)",
        f"{path}.blocks.1.ffn[2]: feature 999 is out of range; allowed 0..127",
        f"{path}.blocks.0.attn.x: no such site in vit; have {HAVE} (close: blocks.0.attn.v)",
    ]
    assert report.notes == []


def test_explicit_layers_and_kinds():
    p = parse_params(_params(select={"rule": "top_mean", "kinds": ["ffn", "attn.q"], "layers": [0, 2],
                                     "attn_layers": [1, 5, -1], "explicit": {"blocks.0.attn.v": [32]}}))
    assert check_sites(p).errors == [
        "optimize_features.select.explicit.blocks.0.attn.v[0]: feature 32 is out of range for vit; allowed 0..31",
        "optimize_features.select.layers[1]: layer 2 is out of range for vit; allowed 0..1",
        "optimize_features.select.attn_layers[1]: layer 5 is out of range for vit; allowed 0..1",
        "optimize_features.select.attn_layers[2]: layer -1 is out of range for vit; allowed 0..1",
    ]
    # under rule explicit the layers do not count; a good configuration has no line
    assert check_sites(parse_params(_params(select={"rule": "explicit", "layers": [7],
                                                    "explicit": {"blocks.1.ffn": [127]}}))).errors == []


def test_models_without_sites_and_kinds_they_lack():
    p = parse_params({"models": {"vit": VIT, "cnn": RESNET}, "optimize_features": {"models": ["vit", "cnn"], "select": {"attn_layers": None}},
                      "mine_exemplars": {"models": ["cnn"], "kinds": ["ffn"]}})
    errs = check_sites(p).errors
    assert len(errs) == 2
    assert errs[0].startswith("optimize_features.models[1]: cnn has no sites (ResNet: no transformer FFN found")
    assert errs[1].startswith("mine_exemplars.models[0]: cnn has no sites (ResNet")


def test_site_ranges_with_gaps():
    # a hierarchical model whose last blocks have FFN sites only (as CoaT's parallel blocks)
    sites = {f"blocks.{i}.{k}": Site(f"blocks.{i}.{k}", k, i, "m", "b", 8)
             for i in range(6) for k in ("ffn", "attn.in") if k == "ffn" or i < 3 or i == 5}
    assert describe_sites(sites) == ("blocks.0.ffn .. blocks.5.ffn, blocks.0.attn.in .. blocks.2.attn.in, "
                                     "blocks.5.attn.in")
    assert describe_layers([5, 0, 1, 2]) == "0..2, 5"


def test_unbuildable_model_is_a_note(monkeypatch, tmp_path):
    import vitviz.pipeline.site_check as sc
    monkeypatch.setenv("VITVIZ_CACHE", str(tmp_path))   # an empty cache: the architecture is built

    def fail(entry):
        raise RuntimeError("needs a config from the hub\nsecond line")
    monkeypatch.setattr(sc, "meta_architecture", fail)
    report = check_sites(parse_params(_params()))
    assert report.errors == []
    assert report.notes == ["sites of vit not checked: cannot build timm:vit_tiny_patch16_224 offline "
                            "(needs a config from the hub)"]


def test_open_clip_builds_on_meta():
    from vitviz.models.settings import ModelEntry
    from vitviz.pipeline.site_check import meta_architecture
    from vitviz.activations.sites import list_sites
    m = meta_architecture(ModelEntry(source="open_clip", name="ViT-B-32"))
    sites = list_sites(m)
    assert next(m.parameters()).device.type == "meta"
    assert sites["blocks.11.ffn"].channels == 3072 and "blocks.12.ffn" not in sites


def test_validate_and_doctor_list_every_bad_site(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    d = _params(per_model={"vit": {"features": {"blocks.9.ffn": [0], "blocks.1.ffn": [999],
                                                 "blocks.3.attn.q": [0]}}})
    f = tmp_path / "p.yaml"
    f.write_text(yaml.safe_dump(d, sort_keys=False))
    r = subprocess.run([sys.executable, "-m", "vitviz.cli", "validate", "--params", str(f)], capture_output=True, text=True)
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.splitlines() if ln.strip().startswith("- optimize_features")]
    assert [ln.split(":")[0].strip("- ") for ln in lines] == [
        "optimize_features.per_model.vit.features.blocks.9.ffn",
        "optimize_features.per_model.vit.features.blocks.1.ffn[0]",
        "optimize_features.per_model.vit.features.blocks.3.attn.q"]
    checks = run_doctor(parse_params(d), timeout=0.2)
    bad = [c for c in checks if c.item == "sites"]
    assert [c.status for c in bad] == ["missing"] * 3


def test_sae_sites_and_k_are_checked_against_the_architecture():
    p = parse_params({**_params(), "sae": {"models": ["vit"], "sites": ["blocks.1.ffn", "blocks.7.resid"],
                                           "train": {"expansion": 1, "k": 128}}})
    errs = check_sites(p).errors
    assert errs == [
        "sae.train (site blocks.1.ffn of vit).k: 128 is not below the dictionary width 128 (expansion 1 x input dim "
        "128); lower k or raise expansion",
        f"sae.sites[1]: no such site in vit; have {HAVE} (close: blocks.1.resid)"]
    with pytest.raises(ConfigError, match=r"sae.sites: 'blocks.1.attn.q' cannot have an SAE"):
        parse_params({**_params(), "sae": {"models": ["vit"], "sites": ["blocks.1.attn.q"]}})


def test_latent_kinds_and_features_pass_the_check_with_their_sae():
    """With an SAE on blocks.1.resid (32 channels x 4 = 128 latents), the latent kind and latent features are
    sites of the model for the check; a latent past the dictionary's width is one line."""
    d = _params(select={"kinds": ["ffn", "resid.sae"], "attn_layers": None},
                per_model={"vit": {"features": {"blocks.1.resid.sae": [0, 127, 128]}}})
    d["mine_exemplars"]["kinds"] = ["ffn", "resid.sae"]
    d["sae"] = {"models": ["vit"], "sites": ["blocks.1.resid"], "train": {"expansion": 4, "k": 8}}
    assert check_sites(parse_params(d)).errors == [
        "optimize_features.per_model.vit.features.blocks.1.resid.sae[2]: feature 128 is out of range; allowed 0..127"]
