"""End to end: `dvc repro` of configs/smoke.yaml in a temporary git copy of the repository."""
import json
import re
import shutil
import subprocess
from pathlib import Path

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
    """A git copy of the project with configs/smoke.yaml as params.yaml, reproduced once, with every file each stage
    opened recorded in <repo>/../audit (core.runner.audit_reads)."""
    dst = tmp_path_factory.mktemp("e2e") / "repo"
    env = project_copy(dst, (REPO / "configs" / "smoke.yaml").read_text(), "smoke")
    out = sh(["dvc", "repro"], dst, {**env, "VITVIZ_AUDIT_READS": str(dst.parent / "audit")})
    return dst, env, out


DATA_ROOTS = ("data/", "reports/", "atlas/")


def stage_deps(repo) -> dict[str, tuple[str, list[str]]]:
    """Each stage's command and declared deps, as DVC resolves them (foreach expanded)."""
    from dvc.repo import Repo
    with Repo(str(repo)) as r:
        return {s.name: (s.cmd, [d.def_path for d in s.deps]) for s in r.index.stages}


def covered(path: str, deps: list[str]) -> bool:
    """Whether a repo-relative path is a declared dep or lies inside one."""
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in deps)


def audited_reads(repo) -> dict[str, set[str]]:
    """Per stage (matched by its command line), the repo files under data/, reports/ and atlas/ it opened."""
    cmds = {tuple(cmd.split()[1:]): name for name, (cmd, _) in stage_deps(repo).items()}
    out: dict[str, set[str]] = {}
    for f in (repo.parent / "audit").glob("*.json"):
        rec = json.loads(f.read_text())
        name = cmds[tuple(rec["argv"])]
        rel = {str(Path(p).relative_to(repo)) for p in rec["reads"] if Path(p).is_relative_to(repo)}
        out.setdefault(name, set()).update(p for p in rel if p.startswith(DATA_ROOTS))
    return out


def test_uncovered_read_is_found():
    """Known answer for the check below: a planted omission is reported, a covered read is not."""
    deps = ["data/dataset", "data/models/vit_demo", "data/params_ok.json"]
    assert covered("data/dataset/val.csv", deps) and covered("data/params_ok.json", deps)
    assert not covered("data/scores/vit_demo/scores.csv", deps) and not covered("data/models/vit_demo2/x", deps)


def test_every_data_read_is_a_declared_dep_and_every_data_dep_is_read(smoke_repo):
    """The DVC graph is exact for data: each file a stage opened under data/, reports/ or atlas/ is covered by one of
    its declared deps, and each declared data dep was read (recorded by an audit hook during the smoke run)."""
    dst, env, _ = smoke_repo
    reads, deps = audited_reads(dst), stage_deps(dst)
    assert set(reads) == set(deps), sorted(set(deps) ^ set(reads))
    for name, (_, declared) in deps.items():
        uncovered = sorted(p for p in reads[name] if not covered(p, declared))
        assert not uncovered, f"{name} reads files no dep covers: {uncovered}"
        data_deps = [d for d in declared if d.startswith(DATA_ROOTS)]
        unread = [d for d in data_deps if not any(covered(p, [d]) for p in reads[name])]
        assert not unread, f"{name} declares data deps it never reads: {unread}"
    assert any(p.startswith("data/scores/") for p in reads["report"])     # the report shows the scores


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
    # one per FFN block (2), one per attention kind at each of 2 blocks (8), and sae.compare = 2 neurons and 2
    # latents of the SAE site blocks.1.resid (4)
    assert feats[0].startswith("model,site,kind,layer,feature") and len(feats) == 1 + 2 * 1 + 2 * 4 + 2 * 2
    sites = [line.split(",")[1] for line in feats[1:]]
    assert sites.count("blocks.1.resid") == 2 and sites.count("blocks.1.resid.sae") == 2
    ex = json.loads((dst / "data/exemplars/vit_demo/meta.json").read_text())
    assert ex["k"] == 3 and ex["images"] == 16 and ex["split"] == "val"
    from vitviz.exemplars.store import read_exemplars
    mined = set(read_exemplars(dst / "data/exemplars/vit_demo").sites["site"])
    assert {"blocks.1.resid", "blocks.1.resid.sae"} <= mined      # the SAE's latents and the neurons it reads
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


# A sample of modules, one or more per package (each `dvc status` takes about a second): editing one must make
# `dvc status` list exactly the stages that import it, as the import graph (tests/import_graph.py) says.
EDITED_MODULES = ["report/paper_numbers.py", "visualization/paper_recipe.py", "activations/histogram.py",
                  "activations/stream.py", "activations/kinds.py", "scoring/settings.py", "data/rows.py",
                  "core/settings.py", "models/transforms.py", "exemplars/store.py", "evaluation/lowpass.py",
                  "token_mixing/appendix_f.py", "atlas/export.py", "pipeline/train_demo.py", "visualization/augment.py"]


def _stage_scripts(repo) -> dict[str, Path]:
    return {name: repo / re.search(r"stages/\w+\.py", cmd).group(0) for name, (cmd, _) in stage_deps(repo).items()}


def test_editing_a_module_reruns_exactly_the_stages_that_import_it(smoke_repo):
    import sys
    sys.path.insert(0, str(REPO / "tests"))
    from import_graph import transitive_modules
    dst, env, _ = smoke_repo
    scripts = _stage_scripts(dst)
    users = {name: {p.relative_to(REPO / "src" / "vitviz").as_posix() for p in transitive_modules(script)
                    if p.is_relative_to(REPO / "src" / "vitviz")} for name, script in scripts.items()}
    got = {}
    for module in EDITED_MODULES:
        path = dst / "src" / "vitviz" / module
        original = path.read_bytes()
        path.write_bytes(original + b"\n# an edit that changes nothing\n")
        try:
            got[module] = sorted(set(changed_stages(sh(["dvc", "status"], dst, env))) - {"check_params"})
        finally:
            path.write_bytes(original)
        assert got[module] == sorted(n for n, used in users.items() if module in used and n != "check_params"), \
            (module, got[module])
    # the known answers behind the graph: a paper number re-runs only the report; the streaming pass runs under
    # every dataset statistic; the histogram only under mining
    assert got["report/paper_numbers.py"] == ["report"] and got["visualization/paper_recipe.py"] == ["report"]
    assert got["activations/histogram.py"] == ["mine_exemplars@vit_demo"]
    assert {"mine_exemplars@vit_demo", "optimize_features@vit_demo", "score_features@vit_demo"} <= \
        set(got["activations/stream.py"]) and "atlas@vit_demo" not in got["activations/stream.py"]
    assert got["scoring/settings.py"] == ["report", "score_features@vit_demo"]   # and check_params, always


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
    assert facts["seconds"] > 0 and facts["features"] == 14 and host["versions"]["torch"]
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


def test_an_sae_param_reruns_only_the_sae_and_what_reads_it(smoke_repo):
    """Changing the SAE's training re-runs train_sae and the stages downstream of data/sae (visualising, mining,
    scoring latents; the atlas, Appendix F and the report that read them), never the data, the models or the
    evaluations, which do not read an SAE."""
    dst, env, _ = smoke_repo
    params = yaml.safe_load((dst / "params.yaml").read_text())
    params["sae"]["train"]["lr"] = 0.002
    (dst / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        assert sorted(set(changed_stages(sh(["dvc", "status"], dst, env))) - {"check_params"}) == \
            ["train_sae@vit_demo"]
    finally:
        shutil.copy2(REPO / "configs" / "smoke.yaml", dst / "params.yaml")
    # new weights re-run what lies downstream of train_sae in DVC's graph, and nothing else
    edges = re.findall(r'"([^"]+)" -> "([^"]+)"', sh(["dvc", "dag", "--dot"], dst, env))
    downstream, frontier = set(), {"train_sae@vit_demo"}
    while frontier:
        frontier = {b for a, b in edges if a in frontier} - downstream
        downstream |= frontier
    assert downstream == {"optimize_features@vit_demo", "mine_exemplars@vit_demo", "score_features@vit_demo",
                          "appendix_f@vit_demo", "atlas@vit_demo", "report"}


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
