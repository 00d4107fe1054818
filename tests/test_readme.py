"""The README opens with the two set-up commands, and CI runs the second one verbatim."""
import re
import subprocess
import sys

from conftest import REPO


def readme_commands():
    return re.findall(r"```bash\n(.+?)\n```", (REPO / "README.md").read_text())[:2]


def test_readme_opens_with_the_two_commands():
    run_cmd, test_cmd = readme_commands()
    assert run_cmd.endswith("pip install -e . && dvc repro")
    assert test_cmd.endswith("pip install -e . && pytest")
    text = (REPO / "README.md").read_text()
    first_section = text.index("\n## ")
    assert text.index(run_cmd) < text.index(test_cmd) < first_section      # both before any section
    head = text[:text.index(run_cmd)]                                       # what you get comes first:
    for target in ("reports/report.html", "atlas/vit_demo/index.html", "docs/report.png", "docs/atlas/feature.png"):
        assert f"({target})" in head, target
        assert (REPO / target).is_file(), f"{target} is linked from the README's top but not committed"


def test_ci_runs_the_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text().strip().splitlines()
    assert ci[-1] == readme_commands()[1]


def test_cli_validate(tmp_path):
    ok = subprocess.run([sys.executable, "-m", "vitviz.cli", "validate", "--params", str(REPO / "params.yaml")],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and "is valid" in ok.stderr
    (tmp_path / "p.yaml").write_text("models: {m: {source: train, name: resnet10t}}\nreport: {titel: x}\n")
    bad = subprocess.run([sys.executable, "-m", "vitviz.cli", "validate", "--params", str(tmp_path / "p.yaml")],
                         capture_output=True, text=True)
    assert bad.returncode == 2
    assert "report.titel: unknown key (did you mean 'title'?)" in bad.stderr
    assert "models.m.preprocess.input_size: missing" in bad.stderr


def readme_python_blocks() -> list[str]:
    return re.findall(r"```python\n(.+?)```", (REPO / "README.md").read_text(), re.S)


def test_readme_python_examples_run(tmp_path, monkeypatch, tiny_cfg):
    """Every ```python block of the README, in order and as written, against a data/ folder like the default's (a
    small six-block ViT saved as data/models/vit_demo, a tiny synthetic dataset)."""
    from conftest import tiny_loaded_model
    from vitviz.data.prepare import prepare_dataset
    from vitviz.data.settings import PrepareDataConfig
    from vitviz.models.store import save_model
    prepare_dataset(PrepareDataConfig(source="synthetic", synthetic=tiny_cfg), tmp_path / "data" / "dataset")
    lm = tiny_loaded_model(classes=4, key="vit_demo", depth=6)
    save_model(lm.model, lm.spec, tmp_path / "data" / "models" / "vit_demo")
    from vitviz.sae import SAESettings, SparseAutoencoder, save_sae
    sae = SparseAutoencoder(32, SAESettings(expansion=2, k=4))        # on the tiny ViT's 32-d residual stream
    save_sae(tmp_path / "data" / "sae" / "vit_demo" / "blocks.3.resid", sae, "blocks.3.resid")
    monkeypatch.chdir(tmp_path)
    blocks = readme_python_blocks()
    assert blocks, "the README shows no Python example"
    namespace: dict = {}
    for code in blocks:
        exec(compile(code, "README.md", "exec"), namespace)
