"""End to end: `dvc repro` of configs/smoke.yaml in a temporary git copy of the repository."""
import json
import re
import shutil
import subprocess

import pytest
import yaml

from conftest import REPO, project_copy

pytestmark = pytest.mark.e2e


def sh(args, cwd, env, check=True):
    r = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r.stdout + r.stderr


def ran_stages(out: str) -> list[str]:
    """The stages a `dvc repro` output says it ran."""
    return re.findall(r"Running stage '([^']+)'", out)


def changed_stages(status: str) -> list[str]:
    """The stages `dvc status` lists as changed (check_params is always changed, by design)."""
    return re.findall(r"^(\S[^:\n]*):\s*$", status, flags=re.M)


@pytest.fixture(scope="module")
def smoke_repo(tmp_path_factory):
    """A git copy of the project with configs/smoke.yaml as params.yaml, reproduced once."""
    dst = tmp_path_factory.mktemp("e2e") / "repo"
    env = project_copy(dst, (REPO / "configs" / "smoke.yaml").read_text(), "smoke")
    out = sh(["dvc", "repro"], dst, env)
    return dst, env, out


def test_repro_writes_every_output(smoke_repo):
    dst, env, out = smoke_repo
    assert "Running stage 'prepare_data'" in out and "Running stage 'report'" in out
    meta = json.loads((dst / "data/dataset/meta.json").read_text())
    assert meta["classes"] == 4 and meta["splits"]["val"]["images"] == 16
    for key in ("vit_demo", "resnet_demo"):
        assert (dst / f"data/models/{key}/weights.safetensors").is_file()
        m = json.loads((dst / f"data/models/{key}/metrics.json").read_text())
        assert m["applicable"] and 0 <= m["top1"] <= 100
    feats = (dst / "data/features/vit_demo/features.csv").read_text().splitlines()
    assert feats[0].startswith("model,site,kind,layer,feature") and len(feats) == 1 + 2 * 1 + 2 * 4
    ex = json.loads((dst / "data/exemplars/vit_demo/meta.json").read_text())
    assert ex["k"] == 3 and ex["images"] == 16 and ex["split"] == "val"
    for key in ("vit_demo", "resnet_demo"):
        mask = json.loads((dst / f"data/mask_eval/{key}.json").read_text())
        assert mask["images"] + mask["excluded_not_annotated"] + mask["excluded_without_true_box"] + mask["excluded_model_lacks_class"] == 16
        low = json.loads((dst / f"data/lowpass_eval/{key}.json").read_text())
        assert [p["cutoff"] for p in low["curve"]] == [16.0, 8.0, 2.0] and low["unit"] == "cycles_per_image"
    probes = json.loads((dst / "data/token_mixing/vit_demo/probes.json").read_text())
    assert probes["applicable"] and set(probes["isolating_cls"]) == {"0", "1", "2"}
    assert probes["isolating_cls"]["2"][0] == pytest.approx(100 / 4)  # L = depth: a constant prediction
    html = (dst / "reports/report.html").read_text()
    assert "Token mixing: Table 1, Fig. 7, Appendix F" in html
    assert "Dataset" in html and "Models" in html and "Feature visualization" in html
    assert "Exemplars and activation maps" in html and "Robustness: masking and low-pass filtering" in html
    assert "Table 2 (top-5)" in html and "ViT-L16" in html
    assert "data:image/png;base64," in html
    assert "http://" not in html and "https://" not in html  # readable offline
    assert (dst / "reports/report.md").read_text().startswith("# vitviz smoke run")
    metrics = json.loads((dst / "reports/metrics.json").read_text())
    assert set(metrics["models"]) == {"vit_demo", "resnet_demo"}


def test_second_repro_is_a_noop(smoke_repo):
    dst, env, _ = smoke_repo
    out = sh(["dvc", "repro"], dst, env)
    assert ran_stages(out) == ["check_params"]  # the params check runs on every repro (always_changed); nothing else


def _out_hashes(lock: dict) -> dict[str, str]:
    return {f"{stage}:{o['path']}": o["md5"] for stage, s in lock["stages"].items() for o in s.get("outs", [])}


def test_a_second_run_gives_byte_identical_outputs(smoke_repo):
    """Run facts (timings, host, versions) live outside the outputs: a forced re-run changes no out hash."""
    dst, env, _ = smoke_repo
    before = _out_hashes(yaml.safe_load((dst / "dvc.lock").read_text()))
    facts = json.loads((dst / "runs/facts/optimize_features@vit_demo.json").read_text())
    host = json.loads((dst / "runs/env/optimize_features@vit_demo.json").read_text())
    assert facts["seconds"] > 0 and facts["features"] == 10 and host["versions"]["torch"]
    sh(["dvc", "repro", "-f", "--no-run-cache"], dst, env)
    after = _out_hashes(yaml.safe_load((dst / "dvc.lock").read_text()))
    assert len(before) >= 12
    changed = sorted(k for k in before if before[k] != after.get(k))
    assert not changed, f"outputs that differ between two runs of the same inputs: {changed}"


def test_runtime_knobs_rerun_nothing(smoke_repo):
    dst, env, _ = smoke_repo
    params = yaml.safe_load((dst / "params.yaml").read_text())
    params["download_models"]["connect_timeout"] = 5.0
    params["speed"]["num_workers"] = 1
    params["speed"]["pin_memory"] = not params["speed"]["pin_memory"]
    for section in ("download_models", "mine_exemplars", "mask_eval", "lowpass_eval", "token_mixing"):
        params[section]["batch_size"] = 3
        params[section]["device"] = "cpu"
    params["optimize_features"]["batch_features"] = 1
    (dst / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        assert changed_stages(sh(["dvc", "status"], dst, env)) == ["check_params"]
    finally:
        shutil.copy2(REPO / "configs" / "smoke.yaml", dst / "params.yaml")


def test_metrics_show(smoke_repo):
    dst, env, _ = smoke_repo
    out = sh(["dvc", "metrics", "show"], dst, env)
    assert "models.vit_demo.top1" in out and "dataset.classes" in out and "features.vit_demo.count" in out
    assert "exemplars.vit_demo.locality_L0" in out and "lowpass.resnet_demo.auc_normalized" in out


def test_a_param_change_reruns_only_its_stages(smoke_repo):
    dst, env, _ = smoke_repo
    params = yaml.safe_load((dst / "params.yaml").read_text())
    params["models"]["resnet_demo"]["train"]["epochs"] = 2
    (dst / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        status = sh(["dvc", "status"], dst, env)
        assert "download_models@resnet_demo" in status
        assert "prepare_data" not in status and "download_models@vit_demo" not in status
    finally:
        shutil.copy2(REPO / "configs" / "smoke.yaml", dst / "params.yaml")


@pytest.fixture(scope="module")
def lp8(smoke_repo, tmp_path_factory):
    """An experiment `lp8` (lowpass_eval.limit=8) run beside the committed workspace (--temp leaves it as it is),
    from a commit whose DVC config has a default remote (an experiment pushes its outputs to its own config's)."""
    dst, env, _ = smoke_repo
    sh(["dvc", "remote", "add", "-d", "store", str(tmp_path_factory.mktemp("dvc-store"))], dst, env)
    sh(["git", "add", "-A"], dst, env)
    sh(["git", "commit", "-qm", "lock"], dst, env)
    return sh(["dvc", "exp", "run", "--temp", "-S", "lowpass_eval.limit=8", "-n", "lp8"], dst, env)


def test_exp_run_with_set_param(smoke_repo, lp8):
    dst, env, _ = smoke_repo
    assert sorted(ran_stages(lp8)) == ["check_params", "lowpass_eval@resnet_demo", "lowpass_eval@vit_demo", "report"]
    import csv
    import io
    rows = {r["Experiment"]: r for r in csv.DictReader(io.StringIO(sh(["dvc", "exp", "show", "-A", "--csv"],
                                                                      dst, env)))}
    assert rows["lp8"]["lowpass_eval.limit"] == "8" and rows["lp8"]["lowpass.vit_demo.auc_normalized"]
    assert json.loads((dst / "data/lowpass_eval/vit_demo.json").read_text())["images"] == 16   # workspace untouched


def test_queue_with_two_workers(smoke_repo):
    import time
    dst, env, _ = smoke_repo
    sh(["git", "add", "-A"], dst, env)
    sh(["git", "commit", "-qm", "before queue", "--allow-empty"], dst, env)
    sh(["dvc", "exp", "run", "--queue", "-S", "mask_eval.limit=8,12"], dst, env)
    # The workers are daemons that inherit stdout: with a pipe, a worker that outlives its queue (a known DVC
    # race) would hold it open and block the call. They write to a file instead, and are stopped at the end.
    with open(dst.parent / "queue-start.log", "w") as log:
        subprocess.run(["dvc", "queue", "start", "-j", "2"], cwd=dst, env=env, stdout=log, stderr=log, check=True)
    try:
        deadline = time.time() + 400
        while time.time() < deadline:
            status = sh(["dvc", "queue", "status"], dst, env)
            if "Queued" not in status and "Running" not in status:
                break
            time.sleep(5)
    finally:
        sh(["dvc", "queue", "stop", "--kill"], dst, env, check=False)
    assert status.count("Success") >= 2 and "Failed" not in status, status
    import csv
    import io
    rows = list(csv.DictReader(io.StringIO(sh(["dvc", "exp", "show", "--csv"], dst, env))))
    limits = {r.get("mask_eval.limit") for r in rows}
    assert {"8", "12"} <= limits, limits
    images = {r["mask_eval.limit"]: r.get("masking.vit_demo.full_top1") for r in rows}
    assert images["8"] and images["12"]


def test_experiments_travel_through_git_and_dvc_remotes(smoke_repo, lp8, tmp_path):
    dst, env, _ = smoke_repo
    sh(["git", "init", "-q", "--bare", str(tmp_path / "origin.git")], dst, env)
    sh(["git", "remote", "add", "origin", str(tmp_path / "origin.git")], dst, env)
    sh(["git", "add", "-A"], dst, env)
    sh(["git", "commit", "-qm", "remote", "--allow-empty"], dst, env)
    sh(["git", "push", "-q", "origin", "HEAD:main"], dst, env)
    sh(["dvc", "push"], dst, env)
    sh(["dvc", "exp", "push", "origin", "lp8"], dst, env)
    other = tmp_path / "other"
    sh(["git", "clone", "-q", "-b", "main", str(tmp_path / "origin.git"), str(other)], tmp_path, env)
    sh(["dvc", "pull"], other, env)  # a second machine gets the outputs instead of recomputing them
    assert (other / "data/models/vit_demo/weights.safetensors").is_file()
    assert changed_stages(sh(["dvc", "status"], other, env)) == ["check_params"]
    sh(["dvc", "exp", "pull", "origin", "lp8"], other, env)
    assert "lp8" in sh(["dvc", "exp", "show", "-A", "--md"], other, env)   # its baseline is an older commit
    sh(["dvc", "exp", "apply", "lp8"], other, env)
    low = json.loads((other / "data/lowpass_eval/vit_demo.json").read_text())
    assert low["images"] == 8
