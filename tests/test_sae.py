"""Sparse autoencoders: a planted dictionary is recovered, 2 gloo processes train the dictionary of 1, divergence
stops with one line and writes nothing, bad settings are refused, scores match hand-computed values."""
import dataclasses
import itertools
import json
import os
import socket

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from vitviz.core.errors import ConfigError
from vitviz.sae import (SAESettings, SAETrainer, SAETrainingError, SparseAutoencoder, evaluate, identity_sae,
                        load_sae, save_sae, splice)


def assignment(cost: np.ndarray) -> np.ndarray:
    """The column of each row (rows <= columns) that minimises the total cost: the Hungarian method (O(n^2 m)).

    scipy is not a project dependency; this is the shortest-augmenting-path form with row and column
    potentials u, v, and p[j] the row matched to column j (1-based, 0 = none)."""
    n, m = cost.shape
    assert n <= m
    u, v = np.zeros(n + 1), np.zeros(m + 1)
    p, way = np.zeros(m + 1, dtype=int), np.zeros(m + 1, dtype=int)
    for i in range(1, n + 1):
        p[0], j0 = i, 0
        minv, used = np.full(m + 1, np.inf), np.zeros(m + 1, dtype=bool)
        while True:
            used[j0] = True
            i0 = p[j0]
            cur = cost[i0 - 1] - u[i0] - v[1:]
            better = ~used[1:] & (cur < minv[1:])
            minv[1:][better], way[1:][better] = cur[better], j0
            free = np.flatnonzero(~used[1:]) + 1
            j1 = free[np.argmin(minv[free])]
            delta = minv[j1]
            u[p[used]] += delta
            v[used] -= delta
            minv[~used] -= delta
            j0 = j1
            if p[j0] == 0:
                break
        while j0:
            j1 = way[j0]
            p[j0] = p[j1]
            j0 = j1
    cols = np.zeros(n, dtype=int)
    for j in range(1, m + 1):
        if p[j]:
            cols[p[j] - 1] = j - 1
    return cols


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_assignment_is_the_brute_force_optimum():
    rng = np.random.default_rng(0)
    for _ in range(20):
        cost = rng.normal(size=(5, 7)).round(1)  # rounding makes ties
        best = min(sum(cost[i, c] for i, c in enumerate(cols)) for cols in itertools.permutations(range(7), 5))
        cols = assignment(cost)
        assert len(set(cols)) == 5 and np.isclose(cost[np.arange(5), cols].sum(), best)


def planted(n: int, atoms=128, d=64, active=4, noise=0.01, seed=0):
    """n tokens, each a sum of `active` of `atoms` random unit atoms with weights in [0.5, 1.5], plus noise."""
    g = torch.Generator().manual_seed(seed)
    dictionary = torch.randn(atoms, d, generator=g, dtype=torch.float64)
    dictionary /= dictionary.norm(dim=1, keepdim=True)
    which = torch.rand(n, atoms, generator=g).argsort(dim=1)[:, :active]
    codes = torch.zeros(n, atoms, dtype=torch.float64).scatter(
        1, which, 0.5 + torch.rand(n, active, generator=g, dtype=torch.float64))
    noise = noise * torch.randn(n, d, generator=g, dtype=torch.float64)
    return dictionary, codes, codes @ dictionary + noise, noise


def test_planted_dictionary_is_recovered():
    """128 atoms in 64 dimensions, 4 per token: every atom is found (Hungarian matching, cosine >= 0.9).

    A linear encoder cannot reach the noise ceiling here (random atoms interfere: cosines ~ 0.125), so R^2 is
    held between two independent references: the true atoms read out by their transpose on the true supports
    (no learning at all, ~0.946) below, and the noise ceiling (the clean signal as reconstruction) above."""
    dictionary, codes, x, noise = planted(24_000)
    train, held, held_codes, held_noise = x[:20_000].float(), x[20_000:], codes[20_000:], noise[20_000:]
    batch, epochs = 256, 20
    settings = SAESettings(expansion=4, k=4, dead_tokens=10 * batch, lr=1e-3, warmup_steps=50,
                           batch_tokens=batch, tokens=epochs * 20_000, seed=0)
    sae = SparseAutoencoder(64, settings)
    trainer = SAETrainer(sae)
    order = torch.Generator().manual_seed(1)
    for _ in range(epochs):
        perm = torch.randperm(20_000, generator=order)
        for i in range(20_000 // batch):
            metrics = trainer.step(train[perm[i * batch:(i + 1) * batch]])
    assert torch.allclose(sae.dictionary.norm(dim=1), torch.ones(sae.width), atol=1e-5)

    cos = (dictionary.float() @ sae.dictionary.T).numpy()
    cols = assignment(-cos)
    matched = cos[np.arange(128), cols]
    assert matched.min() >= 0.9, f"{(matched < 0.9).sum()} atoms not recovered; min cosine {matched.min():.3f}"

    sst = (held - held.mean(0)).square().sum()
    ceiling = 1 - float(held_noise.square().sum() / sst)
    transpose_readout = (held @ dictionary.T) * (held_codes > 0)
    reference = 1 - float((held - transpose_readout @ dictionary).square().sum() / sst)
    scores = evaluate(sae, held.float())
    print(f"min cos {matched.min():.4f} median {np.median(matched):.4f}; R2 {scores.r2:.4f} (reference "
          f"{reference:.4f}, ceiling {ceiling:.4f}); L0 {scores.l0:.2f}; dead {scores.dead_fraction:.3f}; "
          f"dense {scores.dense_fraction:.3f}; last train step {metrics}")
    assert reference < scores.r2 <= ceiling + 1e-3 and scores.r2 > 0.95
    assert 3.9 <= scores.l0 <= 4.0 and scores.dense_fraction == 0.0
    assert scores.dead_fraction <= 0.55  # 128 latents for 128 atoms would be 0.5


def train_shares(shares: list[slice], settings: SAESettings, steps: int, ctx=None) -> dict:
    """Train on `steps` batches of a fixed token stream, this rank taking shares[rank] of each batch."""
    from vitviz.core.distributed import context
    ctx = ctx or context()
    _, _, x, _ = planted(steps * settings.batch_tokens, atoms=32, d=16, active=3, seed=3)
    x = x.float()
    trainer = SAETrainer(SparseAutoencoder(16, settings), ctx)
    metrics = []
    for s in range(steps):
        batch = x[s * settings.batch_tokens:(s + 1) * settings.batch_tokens]
        metrics.append(trainer.step(batch[shares[ctx.rank]]))
    return {"state": trainer.state(), "metrics": metrics}


DDP_SETTINGS = [SAESettings(expansion=4, k=3, sparsity=sparsity, aux_k=8, dead_tokens=256, lr=3e-3,
                            warmup_steps=3, batch_tokens=128, tokens=128 * 25, seed=5)
                for sparsity in ("topk", "batchtopk")]
SHARES = [slice(0, 50), slice(50, 128)]  # uneven on purpose


def _ddp_worker(rank, world, port, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world))
    torch.set_num_threads(1)
    import torch.distributed as dist
    results = [train_shares(SHARES, s, 25) for s in DDP_SETTINGS]
    if rank == 1:
        torch.save(results, out)
    dist.destroy_process_group()


def test_two_gloo_processes_train_the_dictionary_of_one(tmp_path):
    from vitviz.core.distributed import Context
    single = [train_shares([slice(None)], s, 25, Context()) for s in DDP_SETTINGS]
    out = tmp_path / "ddp.pt"
    mp.spawn(_ddp_worker, args=(2, free_port(), str(out)), nprocs=2, join=True)
    two = torch.load(out, weights_only=False)
    for settings, a, b in zip(DDP_SETTINGS, single, two):
        assert max(m["dead_fraction"] for m in a["metrics"]) > 0, "AuxK never ran"
        for key, value in a["state"]["sae"].items():
            torch.testing.assert_close(b["state"]["sae"][key], value, rtol=1e-5, atol=1e-5,
                                       msg=lambda m: f"{settings.sparsity} {key}: {m}")
        assert torch.equal(a["state"]["since_fired"], b["state"]["since_fired"])
        for ma, mb in zip(a["metrics"], b["metrics"]):
            assert ma.keys() == mb.keys()
            for k in ma:
                assert ma[k] == pytest.approx(mb[k], rel=1e-4, abs=1e-6), (settings.sparsity, ma["step"], k)


def test_same_seed_same_dictionary_and_other_seed_another():
    settings = SAESettings(expansion=2, k=2, batch_tokens=64, tokens=640, seed=7)
    x = planted(640, atoms=16, d=8, active=2)[2].float()
    runs = []
    for seed in (7, 7, 8):
        trainer = SAETrainer(SparseAutoencoder(8, dataclasses.replace(settings, seed=seed)))
        for s in range(10):
            trainer.step(x[s * 64:(s + 1) * 64])
        runs.append(trainer.sae.dictionary)
    assert torch.equal(runs[0], runs[1]) and not torch.allclose(runs[0], runs[2])


def test_divergence_stops_with_one_line_naming_the_step_and_writes_nothing(tmp_path):
    settings = SAESettings(expansion=2, k=2, lr=1e30, warmup_steps=0, batch_tokens=64, tokens=640)
    sae = SparseAutoencoder(8, settings)
    trainer = SAETrainer(sae)
    x = planted(640, atoms=16, d=8, active=2)[2].float()
    out = tmp_path / "sae"
    with pytest.raises(SAETrainingError) as e:
        for s in range(10):
            trainer.step(x[s * 64:(s + 1) * 64])
        save_sae(out, sae, "blocks.0")
    msg = str(e.value)
    assert "\n" not in msg and "step 2" in msg and "lower sae.lr" in msg, msg
    assert not out.exists() and trainer.steps == 1
    assert all(torch.isfinite(p).all() for p in sae.parameters())  # the weights of the last good step


def test_k_not_below_the_width_is_refused_in_one_line():
    with pytest.raises(ConfigError) as e:
        SparseAutoencoder(16, SAESettings(expansion=2, k=32))
    assert e.value.errors == ["sae.k: 32 is not below the dictionary width 32 (expansion 2 x input dim 16); "
                              "lower k or raise expansion"]
    SparseAutoencoder(16, SAESettings(expansion=2, k=31))
    with pytest.raises(ValueError, match="tokens"):
        SAESettings(tokens=10, batch_tokens=64)
    with pytest.raises(ValueError, match="sparsity"):
        SAESettings(sparsity="l1")


def test_identity_sae_reconstructs_exactly_and_splices_in_the_input_dtype():
    sae = identity_sae(12)
    x = torch.randn(3, 5, 12)
    x[0, 0] = 0.0
    x[1, 2, :6] = -x[1, 2, 6:]
    assert torch.equal(sae(x), x) and torch.equal(splice(sae, x), x)
    xb = x.to(torch.bfloat16)
    assert splice(sae, xb).dtype == torch.bfloat16 and torch.equal(splice(sae, xb), xb)
    assert (sae.encode(x) > 0).sum(-1).max() <= 12


def test_encode_pre_is_dense_and_has_a_gradient_on_any_shape():
    sae = SparseAutoencoder(8, SAESettings(expansion=2, k=2))
    x = torch.randn(2, 3, 8, requires_grad=True)
    pre = sae.encode_pre(x)
    assert pre.shape == (2, 3, 16) and (pre != 0).all()
    pre[..., 5].sum().backward()
    assert x.grad.abs().sum() > 0
    assert sae.encode(x).shape == (2, 3, 16) and ((sae.encode(x) > 0).sum(-1) <= 2).all()


def hand_sae() -> SparseAutoencoder:
    """Atoms +e1, +e2, -e1, -e2 in 2 dimensions, k = 1, zero biases."""
    sae = SparseAutoencoder(2, SAESettings(expansion=2, k=1))
    with torch.no_grad():
        sae.W_dec.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]]))
        sae.W_enc.copy_(sae.W_dec)
        sae.b_enc.zero_()
        sae.b_dec.zero_()
    return sae


def test_scores_against_hand_computed_values():
    # Tokens and their single latent: (2,0)->0 exact, (0,3)->1 exact, (1,2)->1 gives (0,2) with error 1,
    # (0,-1)->3 exact, (0,0)-> none. SSE 1; mean (0.6, 0.8); SST = (5 - 5*0.36) + (14 - 5*0.64) = 14.
    x = torch.tensor([[2.0, 0.0], [0.0, 3.0], [1.0, 2.0], [0.0, -1.0], [0.0, 0.0]])
    sae = hand_sae()
    scores = evaluate(sae, [x[:2], x[2:]])
    assert scores.r2 == pytest.approx(1 - 1 / 14)
    assert scores.l0 == pytest.approx(4 / 5) and scores.tokens == 5
    assert scores.dead_fraction == 0.25                    # latent 2 never fires
    assert scores.dense_fraction == 0.75                   # fire rates 0.2, 0.4, 0, 0.2 above 0.1
    assert evaluate(sae, x, dense_threshold=0.3).dense_fraction == 0.25
    assert torch.allclose(scores.fire_rate, torch.tensor([0.2, 0.4, 0.0, 0.2]))


def test_save_and_load_round_trip_and_a_failed_write_leaves_the_old_folder(tmp_path, monkeypatch):
    settings = SAESettings(expansion=2, k=2, sparsity="batchtopk", batch_tokens=64, tokens=640, seed=3)
    trainer = SAETrainer(SparseAutoencoder(8, settings))
    x = planted(640, atoms=16, d=8, active=2)[2].float()
    for s in range(5):
        trainer.step(x[s * 64:(s + 1) * 64])
    sae = trainer.sae.eval()
    out = tmp_path / "saes" / "blocks.1"
    save_sae(out, sae, "blocks.1", {"model_sha256": "ab" * 32, "tokens": 640})
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "weights.safetensors"]
    config = json.loads((out / "config.json").read_text())
    assert config["site"] == "blocks.1" and config["input_dim"] == 8 and config["width"] == 16
    assert config["settings"]["sparsity"] == "batchtopk" and config["provenance"]["tokens"] == 640
    saved = load_sae(out)
    assert saved.site == "blocks.1" and saved.provenance == {"model_sha256": "ab" * 32, "tokens": 640}
    assert saved.sae.settings == settings and float(saved.sae.threshold) == float(sae.threshold) > 0
    for key, value in sae.state_dict().items():
        assert torch.equal(saved.sae.state_dict()[key], value), key
    assert torch.equal(saved.sae.encode(x), sae.encode(x))

    import vitviz.sae.store as store

    def broken(*a, **kw):
        raise OSError("disk full")
    monkeypatch.setattr(store, "save_file", broken)
    with pytest.raises(OSError):
        save_sae(out, identity_sae(8), "blocks.2")
    assert load_sae(out).site == "blocks.1"
    with pytest.raises(TypeError):
        save_sae(tmp_path / "other", sae, "blocks.1", {"bad": object()})
    assert not (tmp_path / "other").exists()


def test_atom_gradients_lose_their_component_along_the_atom_and_atoms_stay_unit():
    sae = hand_sae()
    sae.W_dec.grad = torch.tensor([[3.0, 4.0], [3.0, 4.0], [3.0, 4.0], [0.0, 0.0]])
    sae.remove_parallel_grad_()
    assert torch.equal(sae.W_dec.grad, torch.tensor([[0.0, 4.0], [3.0, 0.0], [0.0, 4.0], [0.0, 0.0]]))
    with torch.no_grad():
        sae.W_dec.mul_(torch.tensor([[2.0], [0.5], [1.0], [3.0]]))
    sae.normalize_atoms_()
    assert torch.equal(sae.W_dec, hand_sae().W_dec)


def test_first_step_sets_the_decoder_bias_to_the_batch_mean():
    x = torch.randn(64, 8) + torch.arange(8.0) * 10
    trainer = SAETrainer(SparseAutoencoder(8, SAESettings(expansion=2, k=2, lr=1e-9, batch_tokens=64, tokens=64)))
    trainer.step(x)
    torch.testing.assert_close(trainer.sae.b_dec.detach(), x.mean(0), rtol=0, atol=1e-5)


def test_tokens_of_another_width_are_refused():
    trainer = SAETrainer(SparseAutoencoder(8, SAESettings(expansion=2, k=2)))
    with pytest.raises(ValueError, match="input dim 8"):
        trainer.step(torch.randn(4, 16))
