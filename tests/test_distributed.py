"""Two gloo processes on the CPU give the same results as one process (mining, evaluations, visualisation)."""
import os
import socket

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from vitviz.visualization.optimize import Target
from vitviz.visualization.settings import VisSettings
from vitviz.models.store import save_model

TARGETS = [Target("blocks.0.ffn", 3), Target("blocks.1.ffn", 7), Target("blocks.0.attn.k", 2), Target("blocks.1.ffn", 9)]


def run_all(dataset_dir, model_dir) -> dict:
    """Every sharded pass, as a stage would call it."""
    from vitviz.evaluation.accuracy import evaluate
    from vitviz.data.imagenet import read_index
    from vitviz.evaluation.lowpass import lowpass_eval
    from vitviz.evaluation.masking import mask_eval
    from vitviz.exemplars.mining import activation_maps, mine
    from vitviz.visualization.selection import candidate_sites
    from vitviz.token_mixing.probes import run_probes
    from vitviz.visualization.optimize import visualize
    from vitviz.models.store import load_model
    lm, index = load_model(model_dir), read_index(dataset_dir)
    res = mine(lm, candidate_sites(lm, ["ffn"], None), index, "val", k=3, batch_size=4)
    vis = visualize(lm, TARGETS, VisSettings(steps=3, copies=2, jitter=1))
    return {"values": res.values, "indices": res.indices, "images": res.images,
            "maps": activation_maps(lm, res, index, top=2, batch_size=3),
            "eval": evaluate(lm, index, "val", batch_size=5), "mask": mask_eval(lm, index, "val", batch_size=3),
            "lowpass": lowpass_eval(lm, index, "val", [1.0, 0.3], batch_size=6),
            "probes": run_probes(lm, index, "val", [0, 1, 2], batch_size=4),
            "vis": [(r.site, r.feature, r.image, r.objective_final) for r in vis]}


def _worker(rank, world, port, dataset_dir, model_dir, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from vitviz.core.distributed import context
    import torch.distributed as dist
    assert context().world == world
    result = run_all(dataset_dir, model_dir)
    if rank == 0:
        torch.save(result, out)
    dist.destroy_process_group()


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory, tiny_index, make_loaded):
    lm = make_loaded(classes=4, wnids=tiny_index.wnids, depth=2)
    out = tmp_path_factory.mktemp("model") / "tiny"
    save_model(lm.model, lm.spec, out)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_processes_equal_one(tmp_path, tiny_dataset, tiny_model_dir):
    single = run_all(tiny_dataset, tiny_model_dir)
    out = tmp_path / "dist.pt"
    mp.spawn(_worker, args=(2, free_port(), str(tiny_dataset), str(tiny_model_dir), str(out)), nprocs=2, join=True)
    two = torch.load(out, weights_only=False)
    assert torch.equal(two["indices"], single["indices"]) and two["images"] == single["images"]
    torch.testing.assert_close(two["values"], single["values"], equal_nan=True, rtol=1e-5, atol=1e-6)
    assert two["maps"].keys() == single["maps"].keys()
    for k in single["maps"]:
        torch.testing.assert_close(two["maps"][k], single["maps"][k], equal_nan=True, rtol=1e-5, atol=1e-6)
    for key in ("eval", "mask", "lowpass", "probes"):
        assert two[key] == single[key], key
    for a, b in zip(two["vis"], single["vis"]):
        assert a[:2] == b[:2] and np.abs(a[2].astype(int) - b[2].astype(int)).max() <= 1
