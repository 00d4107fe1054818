"""The DVC graph is exact: each stage depends on the project modules its script imports, and only those,
and on no run-time knob."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from import_graph import REPO, transitive_modules

# Data files that a module reads at run time: a stage that imports the module depends on the data too.
DATA_OF = {"src/vitviz/exemplars/vocab": "src/vitviz/exemplars/concepts.py",
           "src/vitviz/atlas/static": "src/vitviz/atlas/page.py"}
# Knobs that change where or how fast a stage runs, never what it writes (beyond float rounding, which the
# tests hold equal): they must not be stage params, so that changing one re-runs nothing.
RUNTIME_KNOBS = re.compile(r"(^|\.)(batch_size|batch_features|device|connect_timeout|num_workers|pin_memory)$")


def stages() -> dict[str, dict]:
    """Each stage of dvc.yaml (a foreach group as its `do` body)."""
    spec = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    return {name: (body["do"] if "foreach" in body else body) for name, body in spec.items()}


def script_of(stage: dict) -> Path:
    m = re.search(r"stages/\w+\.py", stage["cmd"])
    assert m, f"no stage script in {stage['cmd']!r}"
    return REPO / m.group(0)


def code_deps(stage: dict) -> list[str]:
    return [d for d in stage.get("deps", []) if d.startswith(("src/", "stages/"))]


def rel(p: Path) -> str:
    return p.relative_to(REPO).as_posix()


@pytest.mark.parametrize("name", sorted(stages()))
def test_code_deps_are_exactly_the_imports(name):
    stage = stages()[name]
    script = script_of(stage)
    used = {rel(p) for p in transitive_modules(script)} | {rel(script)}
    declared = code_deps(stage)
    files = {d for d in declared if d.endswith(".py")}
    folders = [d.rstrip("/") for d in declared if not d.endswith(".py")]
    covered = lambda f: f in files or any(f.startswith(d + "/") for d in folders)  # noqa: E731
    missing = sorted(f for f in used if not covered(f))
    unused = sorted(f for f in files if f not in used)
    for d in folders:
        if d in DATA_OF:
            if DATA_OF[d] not in used:
                unused.append(f"{d} (read by {DATA_OF[d]}, which {name} does not import)")
            continue
        inside = {rel(p) for p in (REPO / d).rglob("*.py")}
        assert inside, f"{name}: dep {d} holds no module"
        unused += [f"{d} ({f} is not imported)" for f in sorted(inside - used)]
    needed_data = [d for d, module in DATA_OF.items() if module in used and d not in folders]
    assert not missing, f"{name}: imports not covered by a dep: {missing}"
    assert not unused, f"{name}: deps the stage does not import: {unused}"
    assert not needed_data, f"{name}: reads {needed_data} but does not depend on it"


@pytest.mark.parametrize("name", sorted(stages()))
def test_no_runtime_knob_is_a_param(name):
    params = [p for p in stages()[name].get("params", []) if isinstance(p, str)]
    knobs = [p for p in params if RUNTIME_KNOBS.search(p)]
    assert not knobs, f"{name}: run-time knobs listed as params: {knobs}"


def test_import_graph_sees_lazy_and_transitive_imports(tmp_path):
    """Known answer: the graph follows imports inside functions and through other modules."""
    from import_graph import SRC
    script = tmp_path / "s.py"
    script.write_text("def main():\n    from vitviz.core.atomic import write_json\n")
    got = {p.relative_to(SRC).as_posix() for p in transitive_modules(script)}
    assert got == {"vitviz/__init__.py", "vitviz/core/__init__.py", "vitviz/core/atomic.py"}


def test_every_folder_of_foreach_outputs_that_a_stage_reads_is_made_by_check_params():
    """A stage may depend on data/<folder> as a whole while the foreach stage writing data/<folder>/<key> has an
    empty list in some configuration: check_params makes each such folder, so the dependency never goes missing."""
    import ast
    tree = ast.parse((REPO / "stages" / "check_params.py").read_text())
    made = next(ast.literal_eval(n.value) for n in ast.walk(tree) if isinstance(n, ast.Assign)
                and getattr(n.targets[0], "id", "") == "FOREACH_FOLDERS")
    spec = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    foreach_parents = set()
    for body in spec.values():
        if "foreach" in body:
            for out in body["do"].get("outs", []):
                path = next(iter(out)) if isinstance(out, dict) else out
                m = re.fullmatch(r"data/(\w+)/\$\{(key|item)\}(\.json|/.*)?", path)
                if m:
                    foreach_parents.add(m.group(1))
    read_whole = {d.split("/")[1] for body in stages().values() for d in body.get("deps", [])
                  if re.fullmatch(r"data/\w+/?", d)}
    assert sorted(foreach_parents & read_whole) == sorted(made)
