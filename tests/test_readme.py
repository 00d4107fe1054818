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
    assert text.index(run_cmd) < 400


def test_ci_runs_the_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text().strip().splitlines()
    assert ci[-1] == readme_commands()[1]


def test_cli_validate(tmp_path):
    ok = subprocess.run([sys.executable, "-m", "vitviz.cli", "validate", str(REPO / "params.yaml")],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and "is valid" in ok.stderr
    (tmp_path / "p.yaml").write_text("models: {m: {source: train, name: resnet10t}}\nreport: {titel: x}\n")
    bad = subprocess.run([sys.executable, "-m", "vitviz.cli", "validate", str(tmp_path / "p.yaml")],
                         capture_output=True, text=True)
    assert bad.returncode == 2
    assert "report.titel: unknown key (did you mean 'title'?)" in bad.stderr
    assert "models.m.preprocess.input_size: missing" in bad.stderr
