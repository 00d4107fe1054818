"""Outputs appear whole or not at all; a rerun after a kill cleans up and succeeds."""
import pytest

from vitviz.core.atomic import atomic_path, write_json


def test_folder_replaced_in_one_step(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with atomic_path(out) as tmp:
        tmp.mkdir()
        (tmp / "new.txt").write_text("new")
        assert not (out / "new.txt").exists()  # nothing visible before the end
    assert sorted(p.name for p in out.iterdir()) == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_failure_leaves_previous_output_and_no_litter(tmp_path):
    write_json(tmp_path / "m.json", {"a": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "m.json") as tmp:
            tmp.write_text("partial")
            raise RuntimeError("killed")
    assert (tmp_path / "m.json").read_text().strip().startswith("{")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json"]


def test_rerun_removes_what_a_killed_run_left(tmp_path):
    stale = tmp_path / ".out.tmp-abc123"
    (stale / "out").mkdir(parents=True)
    with atomic_path(tmp_path / "out") as tmp:
        tmp.write_text("ok")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
