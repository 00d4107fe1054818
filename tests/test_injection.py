"""A params value that DVC expands into a shell command never runs: check_params stops `dvc repro` first."""
import subprocess

import pytest
import yaml

from conftest import REPO, project_copy

pytestmark = pytest.mark.e2e

BAD_KEY = "v$(touch pwned)"


def sh(args, cwd, env):
    r = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    return r.returncode, r.stdout + r.stderr


@pytest.fixture(scope="module")
def ran_once(tmp_path_factory):
    """A git copy of the project with configs/smoke.yaml, whose check_params and prepare_data ran once."""
    dst = tmp_path_factory.mktemp("inj") / "repo"
    env = project_copy(dst, (REPO / "configs" / "smoke.yaml").read_text(), "smoke")
    rc, out = sh(["dvc", "repro", "prepare_data"], dst, env)
    assert rc == 0, out
    assert "Running stage 'check_params'" in out and "Running stage 'prepare_data'" in out
    return dst, env


def _with(dst, edit):
    p = yaml.safe_load((dst / "params.yaml").read_text())
    edit(p)
    (dst / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))


@pytest.mark.parametrize("how", [["dvc", "repro"], ["dvc", "repro", "--keep-going"]])
def test_bad_model_key_never_reaches_a_shell(ran_once, how):
    dst, env = ran_once
    good = (dst / "params.yaml").read_text()
    try:
        _with(dst, lambda p: p["models"].update({BAD_KEY: next(iter(p["models"].values()))}))
        rc, out = sh(how, dst, env)
        assert rc != 0
        assert f"models.{BAD_KEY}" in out and "letters, digits" in out
        assert not list(dst.rglob("pwned")), "a params value ran in a shell"
    finally:
        (dst / "params.yaml").write_text(good)


def test_bad_launcher_never_reaches_a_shell(ran_once):
    dst, env = ran_once
    good = (dst / "params.yaml").read_text()
    try:
        _with(dst, lambda p: p.update(launcher="python -c pass; touch pwned; python"))
        rc, out = sh(["dvc", "repro", "--keep-going"], dst, env)
        assert rc != 0 and "launcher" in out and "not allowed" in out
        assert not list(dst.rglob("pwned"))
    finally:
        (dst / "params.yaml").write_text(good)


def test_passing_check_reruns_nothing(ran_once):
    dst, env = ran_once
    rc, out = sh(["dvc", "repro", "prepare_data"], dst, env)
    assert rc == 0, out
    assert "Running stage 'check_params'" in out            # always checked
    assert "Stage 'prepare_data' didn't change" in out        # and its unchanged marker re-runs nothing
