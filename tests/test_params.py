"""Parameter validation: every bad key is named, with what is allowed; valid files parse."""
import subprocess
import sys

import pytest
import yaml

from conftest import REPO
from vitviz.models.settings import ModelEntry
from vitviz.pipeline.params import load_params, parse_params, schema_text
from vitviz.pipeline.site_check import check_models
from vitviz.core.errors import ConfigError


def base():
    return yaml.safe_load((REPO / "params.yaml").read_text())


def errors_of(data):
    with pytest.raises(ConfigError) as e:
        parse_params(data)
    return e.value.errors


def test_shipped_configs_validate():
    for path in [REPO / "params.yaml", *sorted((REPO / "configs").glob("*.yaml"))]:
        load_params(path)


def test_demo_config_equals_params():
    assert yaml.safe_load((REPO / "configs" / "demo.yaml").read_text()) == base()


def test_three_bad_keys_give_three_named_errors():
    d = base()
    d["prepare_data"]["synthetic"]["clases"] = 10            # unknown name
    d["download_models"]["batch_size"] = "big"               # wrong type
    d["prepare_data"]["synthetic"]["background_agreement"] = 1.5   # out of range
    errs = errors_of(d)
    assert len(errs) == 3, errs
    joined = "\n".join(errs)
    assert "prepare_data.synthetic.clases: unknown key (did you mean 'classes'?)" in joined
    assert "download_models.batch_size: expected an integer, got 'big'" in joined
    assert "prepare_data.synthetic.background_agreement: 1.5 is out of range; allowed: [0.0, 1.0]" in joined
    assert "allowed: seed, classes, train_per_class" in joined


def test_unknown_model_and_tag_are_named():
    d = base()
    d["models"]["vit_demo"]["name"] = "vit_tinyy_patch16_224"
    d["models"]["extra"] = {"source": "timm", "name": "vit_base_patch16_224", "tag": "no_such_tag"}
    d["models"]["cnn"] = {"source": "torchvision", "name": "resnet50", "tag": "IMAGENET1K_V9"}
    errs = check_models(parse_params(d))
    assert any(e.startswith("models.vit_demo.name: unknown timm model 'vit_tinyy_patch16_224'")
               and "vit_tiny_patch16_224" in e for e in errs), errs
    assert any(e.startswith("models.extra.name: unknown pretrained tag 'no_such_tag'") for e in errs), errs
    assert any(e.startswith("models.cnn.name: unknown pretrained tag 'IMAGENET1K_V9'")
               and "IMAGENET1K_V2" in e for e in errs), errs


def test_literal_and_required_fields():
    errs = errors_of({"models": {"m": {"source": "hub", "name": "x"}}, "prepare_data": {"source": "imagenet"}})
    assert any(e.startswith("models.m.source: 'hub' is not allowed; allowed: timm, open_clip") for e in errs)
    assert any(e.startswith("prepare_data.imagenet_root: missing") for e in errs)


def test_file_source_needs_library_and_file():
    errs = errors_of({"models": {"m": {"source": "file", "name": "resnet18"}}})
    assert any(e.startswith("models.m.library: missing") for e in errs)
    assert any(e.startswith("models.m.file: missing") for e in errs)


def test_train_defaults_filled():
    p = parse_params({"models": {"m": {"source": "train", "name": "resnet10t", "preprocess": {"input_size": 32}}}})
    entry: ModelEntry = p.models["m"]
    assert entry.train is not None and entry.train.epochs > 0 and entry.lib == "timm"


def test_check_exits_2_and_writes_nothing(tmp_path):
    d = base()
    d["prepare_data"]["synthetic"]["classes"] = "ten"
    d["report"]["colour"] = "red"
    bad = tmp_path / "params.yaml"
    bad.write_text(yaml.safe_dump(d))
    r = subprocess.run([sys.executable, str(REPO / "stages" / "check_params.py"), "--params", str(bad),
                        "--out", str(tmp_path / "ok.json")], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert "2 invalid parameters" in r.stderr
    assert "prepare_data.synthetic.classes: expected an integer, got 'ten'" in r.stderr
    assert "report.colour: unknown key" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]


def test_a_stage_reads_only_its_sections_and_needs_the_check(tmp_path):
    """A stage validates its own sections alone (so its deps are their schemas alone), after check_params."""
    d = base()
    d["prepare_data"]["synthetic"]["classes"] = "ten"
    d["report"]["colour"] = "red"                       # another stage's section: not this stage's business
    bad = tmp_path / "params.yaml"
    bad.write_text(yaml.safe_dump(d))
    cmd = [sys.executable, str(REPO / "stages" / "prepare_data.py"), "--params", str(bad), "--data",
           str(tmp_path / "data")]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 2 and "params_ok.json: missing; the params were not checked" in r.stderr, r.stderr
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "params_ok.json").write_text('{"params": "valid"}')
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert "1 invalid parameter\n" in r.stderr and "report.colour" not in r.stderr
    assert "prepare_data.synthetic.classes: expected an integer, got 'ten'" in r.stderr
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["params_ok.json"]


def test_every_param_dvc_tracks_is_in_every_shipped_config():
    import re
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    keys = set()
    for st in stages.values():
        body = st.get("do", st)
        keys |= {k for k in body.get("params", []) if isinstance(k, str)}
    for path in [REPO / "params.yaml", *sorted((REPO / "configs").glob("*.yaml"))]:
        cfg = yaml.safe_load(path.read_text())
        for key in keys:
            node = cfg
            for part in re.sub(r"\$\{key\}", "vit_demo" if "models" in cfg and "vit_demo" in cfg["models"]
                               else next(iter(cfg["models"])), key).split("."):
                assert isinstance(node, dict) and part in node, f"{path.name}: {key} missing"
                node = node[part]


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "vitviz.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd)


def test_validate_reports_every_error_with_its_key_path(tmp_path):
    d = base()
    d["optimize_features"]["betas"] = [0.5]
    d["models"]["vit_demo"]["preprocess"]["mean"] = [0.5, 0.5]
    d["optimize_features"]["per_model"] = {"vit_demo": {"tv_weight": -0.1}}
    bad = tmp_path / "params.yaml"
    bad.write_text(yaml.safe_dump(d))
    r = run_cli("validate", "--params", bad)
    assert r.returncode == 2, r.stderr
    assert "3 invalid parameters" in r.stderr
    lines = [line.strip() for line in r.stderr.splitlines() if line.strip().startswith("- ")]
    assert len(lines) == 3, r.stderr
    assert any(x.startswith("- optimize_features.betas: expected a list of 2 numbers") for x in lines), lines
    assert any(x.startswith("- models.vit_demo.preprocess.mean: expected a list of 3 numbers") for x in lines), lines
    assert any(x.startswith("- optimize_features.per_model.vit_demo.tv_weight: -0.1 is out of range")
               for x in lines), lines


def test_unknown_key_suggests_the_close_match():
    d = base()
    d["optimize_features"]["stpes"] = 10
    (err,) = errors_of(d)
    assert err.startswith("optimize_features.stpes: unknown key (did you mean 'steps'?); allowed: steps, copies")
    assert ", models, " in err and err.endswith("per_model, select")


def test_bounds_and_lengths_inside_dicts_and_tuples():
    d = base()
    d["optimize_features"]["per_model"] = {"vit_demo": {"tv_features": {"blocks.0.ffn:1": -1.0}, "jitter": -2}}
    d["prepare_data"]["synthetic"]["object_scale"] = [0.45, 0.7, 0.9]
    d["speed"]["precision"] = "fp16"
    errs = errors_of(d)
    assert len(errs) == 4, errs
    assert "optimize_features.per_model.vit_demo.tv_features.blocks.0.ffn:1: -1.0 is out of range; allowed: " \
           "[0.0, inf)" in errs
    assert "optimize_features.per_model.vit_demo.jitter: -2 is out of range; allowed: [0, inf)" in errs
    assert any(e.startswith("prepare_data.synthetic.object_scale: expected a list of 2 numbers") for e in errs)
    assert "speed.precision: 'fp16' is not allowed; allowed: fp32, tf32, bf16" in errs


def test_cross_field_rules():
    d = base()
    d["mine_exemplars"]["maps_top"] = d["mine_exemplars"]["k"] + 1
    assert errors_of(d) == ["mine_exemplars.maps_top: 6 is more than k (5); allowed: 0..k"]
    d = base()
    d["optimize_features"]["models"] = ["vit_demo", "nope"]
    d["optimize_features"]["per_model"] = {"other": {}}
    d["appendix_f"]["models"] = ["resnet_demo"]
    errs = errors_of(d)
    assert any(e.startswith("optimize_features.models[1]: 'nope' is not a model key") for e in errs), errs
    assert any(e.startswith("optimize_features.per_model.other: not a model key") for e in errs), errs
    assert any(e.startswith("appendix_f.models[0]: Appendix F of 'resnet_demo'") for e in errs), errs
    d = base()
    d["prepare_data"]["synthetic"]["object_scale"] = [0.7, 0.45]
    assert errors_of(d) == ["prepare_data.synthetic.object_scale: expected [lo, hi] with lo <= hi, got [0.7, 0.45]"]


def test_no_silent_coercion():
    d = base()
    d["optimize_features"]["steps"] = "100"
    d["mask_eval"]["example"] = True
    d["mine_exemplars"]["k"] = 2.0
    assert sorted(errors_of(d)) == ["mask_eval.example: expected an integer, got True",
                                    "mine_exemplars.k: expected an integer, got 2.0",
                                    "optimize_features.steps: expected an integer, got '100'"]


def test_validators_fill_defaults_without_touching_input():
    d = {"models": {"m": {"source": "train", "name": "resnet10t", "preprocess": {"input_size": 32}}}}
    p = parse_params(d)
    assert p.models["m"].train.epochs == 5 and "train" not in d["models"]["m"]
    assert parse_params({"models": {"m": {"source": "timm", "name": "resnet18"}}}).models["m"].train is None


def test_load_params_imports_no_model_library():
    code = ("import sys; from vitviz.pipeline.params import load_params; load_params('params.yaml'); "
            "bad = {'timm', 'open_clip', 'torchvision'} & set(sys.modules); assert not bad, bad")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr


def test_committed_schema_is_fresh(tmp_path):
    assert (REPO / "params.schema.json").read_text() == schema_text(), "run `vitviz schema` and commit it"
    r = run_cli("schema", "-o", tmp_path / "s.json")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "s.json").read_text() == schema_text()


def test_shipped_configs_point_at_the_schema():
    for path in [REPO / "params.yaml", *sorted((REPO / "configs").glob("*.yaml"))]:
        assert path.read_text().splitlines()[0] == "# yaml-language-server: $schema=params.schema.json", path.name


def test_model_recipe_applies_per_model_overrides():
    from vitviz.visualization.paper_recipe import PAPER_RECIPE
    from vitviz.visualization.settings import VisSettings, model_recipe
    d = base()
    d["optimize_features"]["select"]["explicit"] = {"blocks.0.ffn": [1]}
    d["optimize_features"]["per_model"] = {"vit_demo": {"lr": 1.0, "features": {"blocks.1.ffn": [2, 3]},
                                                        "tv_features": {"blocks.1.ffn:2": 0.5}}}
    cfg = parse_params(d).optimize_features
    settings, explicit = model_recipe(cfg, "vit_demo")
    assert settings.lr == 1.0 and settings.steps == cfg.steps and settings.jitter == cfg.jitter
    assert explicit == {"blocks.1.ffn": [2, 3]} and settings.tv_for("blocks.1.ffn", 2) == 0.5
    other, explicit = model_recipe(cfg, "resnet_demo")
    assert other.lr == cfg.lr and explicit == {"blocks.0.ffn": [1]}
    assert VisSettings().steps == 80 == parse_params({"models": {"m": {"source": "timm", "name": "x"}}}
                                                    ).optimize_features.steps     # the embedded default's
    assert PAPER_RECIPE.steps == 400


def _without_model_keys(d: dict) -> dict:
    """A params mapping with the fields that name model keys removed (the zoo, and each section's model list)."""
    d = {k: v for k, v in d.items() if k != "models"}
    return {k: ({f: x for f, x in v.items() if f != "models"} if isinstance(v, dict) else v) for k, v in d.items()}


def test_schema_defaults_are_the_embedded_default():
    """One source of truth: params.yaml (and configs/demo.yaml) hold exactly the schema's defaults, except the model
    keys, whose defaults are empty so that a params file for another zoo names no demo model."""
    import json
    from vitviz.pipeline.params import Params
    default = json.loads(Params.model_construct().model_dump_json())   # every field at its default
    for name in ("params.yaml", "configs/demo.yaml"):
        shipped = json.loads(load_params(REPO / name).model_dump_json())
        assert _without_model_keys(shipped) == _without_model_keys(default), name
    assert all(not v for k, v in _model_key_fields(default).items()), _model_key_fields(default)


def _model_key_fields(d: dict) -> dict:
    return {"models": d["models"], **{f"{k}.models": v["models"] for k, v in d.items()
                                      if isinstance(v, dict) and "models" in v and k != "models"}}



def test_visualising_latents_needs_a_model_with_that_sae():
    d = base()
    d["optimize_features"]["select"]["kinds"] = ["ffn", "resid.sae"]
    d["sae"] = {"models": [], "sites": ["blocks.3.resid"]}
    errs = errors_of(d)
    assert any(e.startswith("optimize_features.select.kinds[1]: 'resid.sae': no model of optimize_features.models "
                            "has an SAE on a resid site") for e in errs), errs
    d["sae"]["models"] = list(d["optimize_features"]["models"])
    assert "resid.sae" in parse_params(d).optimize_features.select.kinds
