"""Parameter validation: every bad key is named, with what is allowed; valid files parse."""
import subprocess
import sys

import pytest
import yaml

from conftest import REPO
from vitviz.core.config import ModelEntry, load_params, parse_params
from vitviz.core.schema import ConfigError


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


def test_unknown_model_and_tag_are_named():
    d = base()
    d["models"]["vit_demo"]["name"] = "vit_tinyy_patch16_224"
    d["models"]["extra"] = {"source": "timm", "name": "vit_base_patch16_224", "tag": "no_such_tag"}
    d["models"]["cnn"] = {"source": "torchvision", "name": "resnet50", "tag": "IMAGENET1K_V9"}
    errs = errors_of(d)
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


def test_stage_exits_2_and_writes_nothing(tmp_path):
    d = base()
    d["prepare_data"]["synthetic"]["classes"] = "ten"
    d["report"]["colour"] = "red"
    bad = tmp_path / "params.yaml"
    bad.write_text(yaml.safe_dump(d))
    out = tmp_path / "dataset"
    r = subprocess.run([sys.executable, str(REPO / "stages" / "prepare_data.py"), "--params", str(bad),
                        "--out", str(out)], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert "2 invalid parameters" in r.stderr
    assert "prepare_data.synthetic.classes: expected an integer, got 'ten'" in r.stderr
    assert "report.colour: unknown key" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]


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
