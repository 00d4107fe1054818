"""The `vitviz visualize` command on a model folder written by the download_models stage."""
import subprocess
import sys

import timm
from PIL import Image

from vitviz.models.spec import ModelSpec
from vitviz.models.store import save_model


def test_visualize_command(tmp_path):
    kw = {"img_size": 32, "patch_size": 8, "embed_dim": 32, "depth": 2, "num_heads": 2}
    spec = ModelSpec(key="tiny", library="timm", name="vit_tiny_patch16_224", kwargs=kw, input_size=(3, 32, 32),
                     crop_pct=1.0, num_classes=3)
    save_model(timm.create_model(spec.name, num_classes=3, **kw), spec, tmp_path / "data" / "models" / "tiny")
    cmd = [sys.executable, "-m", "vitviz.cli", "visualize", "--model", "tiny", "--data", str(tmp_path / "data"),
           "--params", str(tmp_path / "none.yaml"), "--steps", "3", "--copies", "2", "--jitter", "2"]
    r = subprocess.run(cmd + ["--site", "blocks.1.ffn", "--feature", "5", "-o", str(tmp_path / "f.png")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert Image.open(tmp_path / "f.png").size == (32, 32)
    r = subprocess.run(cmd + ["--site", "blocks.0.attn.v", "--feature", "1", "2", "-o", str(tmp_path / "many")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "many").iterdir()) == ["blocks.0.attn.v_f0001.png",
                                                                      "blocks.0.attn.v_f0002.png"]
    r = subprocess.run(cmd + ["--site", "blocks.2.ffn", "--feature", "0", "-o", str(tmp_path / "x.png")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "unknown site 'blocks.2.ffn'; valid: blocks.<l>.<kind> with l in 0..1" in r.stderr


def _cli(*args, cwd=None, env=None):
    return subprocess.run([sys.executable, "-m", "vitviz.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env)


def test_every_argument_has_help_and_the_params_file_one_name():
    import argparse

    from vitviz.cli import parser
    ap = parser()
    subs = next(a for a in ap._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in subs.choices.items():
        for action in sub._actions:
            if not isinstance(action, argparse._HelpAction):
                assert action.help, f"vitviz {name} {action.dest} has no help"
        flags = {s for a in sub._actions for s in a.option_strings}
        assert not flags & {"--config", "--params-file"}, name
        if name in ("validate", "synth", "visualize", "doctor"):
            assert "--params" in flags, f"vitviz {name} names its params file otherwise"


def test_version_and_schema_to_stdout(tmp_path):
    import vitviz
    from vitviz.pipeline.params import schema_text
    r = _cli("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"vitviz {vitviz.__version__}"
    r = _cli("schema", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout == schema_text()
    assert list(tmp_path.iterdir()) == []     # nothing written into the current folder


def test_a_params_key_without_its_model_names_the_stage(tmp_path):
    (tmp_path / "params.yaml").write_text("models:\n  vit_demo: {source: train, name: vit_tiny_patch16_224}\n")
    r = _cli("visualize", "--model", "vit_demo", "--site", "blocks.0.ffn", "--feature", "0", "-o", "x.png",
             cwd=tmp_path)
    assert r.returncode == 2
    assert "data/models/vit_demo does not exist yet; make it with `dvc repro download_models@vit_demo`" in r.stderr
    assert not (tmp_path / "x.png").exists()


def test_visualize_a_latent_of_the_models_sae(tmp_path):
    """A key of data/models gets the SAEs of data/sae/<key>: `--site <site>.sae` visualises a latent, and the
    optimisation raises its objective."""
    import re

    from vitviz.sae import SAESettings, SparseAutoencoder, save_sae
    kw = {"img_size": 32, "patch_size": 8, "embed_dim": 32, "depth": 2, "num_heads": 2}
    spec = ModelSpec(key="tiny", library="timm", name="vit_tiny_patch16_224", kwargs=kw, input_size=(3, 32, 32),
                     crop_pct=1.0, num_classes=3)
    save_model(timm.create_model(spec.name, num_classes=3, **kw), spec, tmp_path / "data" / "models" / "tiny")
    save_sae(tmp_path / "data" / "sae" / "tiny" / "blocks.0.resid", SparseAutoencoder(32, SAESettings(expansion=2, k=4)),
             "blocks.0.resid")
    r = _cli("visualize", "--model", "tiny", "--data", tmp_path / "data", "--params", tmp_path / "none.yaml",
             "--steps", "8", "--copies", "2", "--jitter", "2", "--site", "blocks.0.resid.sae", "--feature", "63",
             "-o", tmp_path / "latent.png")
    assert r.returncode == 0, r.stderr
    assert Image.open(tmp_path / "latent.png").size == (32, 32)
    start, final = map(float, re.search(r"feature 63: objective (\S+) -> (\S+),", r.stderr).groups())
    assert final > start
    r = _cli("visualize", "--model", "tiny", "--data", tmp_path / "data", "--params", tmp_path / "none.yaml",
             "--steps", "2", "--site", "blocks.0.resid.sae", "--feature", "64", "-o", tmp_path / "x.png")
    assert r.returncode == 2 and "64" in r.stderr and not (tmp_path / "x.png").exists()
