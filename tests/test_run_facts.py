"""Run facts go apart from the outputs: numbers to runs/facts, the environment to runs/env."""
import json

from vitviz.core.runner import run


def test_run_writes_facts_and_environment_apart(tmp_path):
    out = tmp_path / "out.json"

    def main():
        out.write_text('{"result": 1}')
        return {"key": "m", "features": 3}

    run(main, "stage", runs_dir=tmp_path / "runs")
    facts = json.loads((tmp_path / "runs/facts/stage@m.json").read_text())
    env = json.loads((tmp_path / "runs/env/stage@m.json").read_text())
    assert facts["features"] == 3 and facts["seconds"] >= 0 and "key" not in facts
    assert env["versions"]["torch"] and env["host"] and "seconds" not in env
    assert json.loads(out.read_text()) == {"result": 1}


def test_no_facts_without_a_stage_name(tmp_path):
    run(lambda: {"features": 1}, None, runs_dir=tmp_path / "runs")
    assert not (tmp_path / "runs").exists()
