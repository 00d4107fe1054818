"""Not speed but what the SAE recipe buys: the planted-dictionary test of tests/test_sae.py with and without AuxK
and the initialisation (encoder = decoder transpose, decoder bias = mean of the first batch).

    python benchmarks/sae_ablation.py --seeds 0 1 2 --epochs 20
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_sae import assignment, planted  # noqa: E402

from vitviz.sae import SAESettings, SAETrainer, SparseAutoencoder, evaluate  # noqa: E402

VARIANTS = {"AuxK + init": (True, True), "init, no AuxK": (False, True), "AuxK, no init": (True, False),
            "neither": (False, False)}


def run(aux: bool, init: bool, seed: int, epochs: int, batch: int = 256) -> dict:
    dictionary, _, x, noise = planted(24_000)
    train, held, held_noise = x[:20_000].float(), x[20_000:], noise[20_000:]
    settings = SAESettings(expansion=4, k=4, aux_coef=1 / 32 if aux else 0.0, dead_tokens=10 * batch, lr=1e-3,
                           warmup_steps=50, batch_tokens=batch, tokens=epochs * 20_000, seed=seed)
    sae = SparseAutoencoder(64, settings)
    trainer = SAETrainer(sae)
    if not init:  # the usual nn.Linear initialisation of the encoder, and the decoder bias left at zero
        torch.manual_seed(seed)
        torch.nn.init.kaiming_uniform_(sae.W_enc, a=math.sqrt(5))
        trainer._init_decoder_bias = lambda x: None
    order = torch.Generator().manual_seed(1)
    for _ in range(epochs):
        perm = torch.randperm(20_000, generator=order)
        for i in range(20_000 // batch):
            trainer.step(train[perm[i * batch:(i + 1) * batch]])
    cos = (dictionary.float() @ sae.dictionary.T).numpy()
    matched = cos[np.arange(len(cos)), assignment(-cos)]
    scores = evaluate(sae, held.float())
    ceiling = 1 - float(held_noise.square().sum() / (held - held.mean(0)).square().sum())
    return {"r2": scores.r2, "ceiling": ceiling, "dead": scores.dead_fraction, "found": int((matched >= 0.9).sum()),
            "min_cos": float(matched.min()), "median_cos": float(np.median(matched))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=20)
    args = ap.parse_args()
    torch.set_num_threads(1)
    print("| variant | seed | R^2 (noise ceiling) | dead | atoms at cos >= 0.9 | min / median cos |")
    print("|---|---|---|---|---|---|")
    for name, (aux, init) in VARIANTS.items():
        for seed in args.seeds:
            r = run(aux, init, seed, args.epochs)
            print(f"| {name} | {seed} | {r['r2']:.3f} ({r['ceiling']:.4f}) | {r['dead']:.2f} | {r['found']}/128 | "
                  f"{r['min_cos']:.3f} / {r['median_cos']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
