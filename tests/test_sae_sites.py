"""SAE latents as sites of a model, the splice of a reconstruction, and the SAE stage's work, on tiny models."""
from __future__ import annotations

import pytest
import torch

from vitviz.activations.hooks import Recorder, Replace, image_forward
from vitviz.activations.sites import attach_saes, list_sites
from vitviz.core.errors import ConfigError
from vitviz.sae.model import SparseAutoencoder, identity_sae
from vitviz.sae.settings import SAESettings


def sae_for(d: int, seed: int = 0) -> SparseAutoencoder:
    sae = SparseAutoencoder(d, SAESettings(expansion=2, k=4, seed=seed, tokens=10, batch_tokens=10))
    with torch.no_grad():
        sae.b_enc.normal_(generator=torch.Generator().manual_seed(seed))
    return sae.eval().requires_grad_(False)


def test_latent_site_is_the_encoder_on_the_hooked_activation(make_loaded):
    lm = make_loaded()
    sae = sae_for(128)
    attach_saes(lm.model, {"blocks.1.ffn": sae})
    sites = list_sites(lm.model)
    lat = sites["blocks.1.ffn.sae"]
    assert (lat.kind, lat.layer, lat.channels, lat.module) == ("ffn.sae", 1, 256, "blocks.1.mlp.act")
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad(), Recorder(lm.model, [lat.module]) as rec:
        out = rec.run(image_forward(lm.model), x)
        got = lat.patch_tokens(out[lat.module], 2)
        pre = lat.patch_tokens(out[lat.module], 2, objective=True)
    by_hand = []   # the FFN activation by a hook written here, then the SAE's encoder by hand
    h = lm.model.blocks[1].mlp.act.register_forward_hook(lambda m, i, o: by_hand.append(o[:, 1:]))
    with torch.no_grad():
        lm.model.forward_features(x)
    h.remove()
    a = by_hand[0]
    z = (a - sae.b_dec) @ sae.W_enc.T + sae.b_enc
    torch.testing.assert_close(pre, z)                       # visualisation: the pre-activation, never flat
    top = z.topk(4, dim=-1)
    want = torch.zeros_like(z).scatter(-1, top.indices, top.values.clamp(min=0))
    torch.testing.assert_close(got, want)                     # mining: the sparse codes
    assert int((got > 0).sum(-1).max()) <= 4


def test_an_identity_sae_spliced_in_leaves_the_model_unchanged(make_loaded):
    from vitviz.pipeline.train_sae import spliced
    lm = make_loaded()
    site = list_sites(lm.model)["blocks.1.resid"]
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        clean = lm.model(x)
        with Replace(lm.model, site.module, spliced(site, identity_sae(site.channels), "patch")):
            hurt = lm.model(x)
        with Replace(lm.model, site.module, spliced(site, sae_for(site.channels), "patch")):
            other = lm.model(x)
    torch.testing.assert_close(hurt, clean, atol=1e-5, rtol=1e-5)
    assert (hurt.argmax(1) == clean.argmax(1)).all()
    assert not torch.allclose(other, clean, atol=1e-3)         # a real SAE's reconstruction does change the logits


def test_sae_stage_trains_scores_and_splices(tiny_index, make_loaded):
    """The stage's work on a tiny model: the token budget is kept, the scores are in range, and an SAE of a bad
    site or with k >= its width is refused with one line each."""
    from vitviz.pipeline.train_sae import sae_sites, train_saes
    from vitviz.sae.settings import SAEConfig
    lm = make_loaded(classes=4, wnids=tiny_index.wnids)
    cfg = SAEConfig(models=["tiny"], sites=["blocks.1.resid"], split="train", eval_split="val",
                    train=SAESettings(expansion=2, k=4, tokens=640, batch_tokens=64, warmup_steps=2, lr=1e-3,
                                      dead_tokens=200))
    (r,) = train_saes(lm, tiny_index, cfg, torch.device("cpu"), eval_batch_size=8)
    m = r.metrics
    assert m["train_tokens"] == 640 and m["train_steps"] == 10           # 4 images of 16 patch tokens per step
    assert m["tokens"] == len(tiny_index.split("val")) * 16 and 0 < m["l0"] <= 4 and m["r2"] <= 1
    assert m["top1_clean"] is not None and m["top1_spliced"] is not None
    with pytest.raises(ConfigError, match=r"sae.sites\[0\]: 'blocks.1.attn.q' is a attn.q site"):
        sae_sites(lm, ["blocks.1.attn.q"])
    bad = cfg.model_copy(update={"train": SAESettings(expansion=1, k=32, tokens=64, batch_tokens=64)})
    with pytest.raises(ConfigError, match="k: 32 is not below the dictionary width 32"):
        train_saes(lm, tiny_index, bad, torch.device("cpu"))


def test_scoring_statistics_of_a_latent_site_are_codes_and_pre_activations(make_loaded):
    """image_statistics reads a latent site's sparse codes, and with `objective` its pre-activations (what
    selectivity compares): each the mean over patch tokens of the encoder applied by hand."""
    import numpy as np

    from vitviz.models.store import normalize
    from vitviz.scoring.statistics import image_statistics
    lm = make_loaded()
    sae = sae_for(128, seed=3)
    attach_saes(lm.model, {"blocks.1.ffn": sae})
    imgs = [np.random.default_rng(i).integers(0, 256, (32, 32, 3), dtype=np.uint8) for i in range(2)]
    codes = image_statistics(lm, imgs, ["blocks.1.ffn.sae"], torch.device("cpu"))["blocks.1.ffn.sae"]
    pre = image_statistics(lm, imgs, ["blocks.1.ffn.sae"], torch.device("cpu"), objective=True)["blocks.1.ffn.sae"]
    acts = []
    h = lm.model.blocks[1].mlp.act.register_forward_hook(lambda m, i, o: acts.append(o[:, 1:]))
    x = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2)
    with torch.no_grad():
        lm.model.forward_features(normalize(x, lm.spec))
    h.remove()
    z = (acts[0] - sae.b_dec) @ sae.W_enc.T + sae.b_enc                      # (2, tokens, 256)
    top = z.topk(4, dim=-1)
    sparse = torch.zeros_like(z).scatter(-1, top.indices, top.values.clamp(min=0))
    torch.testing.assert_close(pre, z.mean(1), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(codes, sparse.mean(1), rtol=1e-4, atol=1e-5)
    assert (pre < 0).any() and (codes >= 0).all()             # dense values against sparse non-negative codes


def test_mining_sites_take_the_latents_there_are_and_the_neurons_they_read(make_loaded):
    from vitviz.exemplars.mining import mining_sites
    lm = make_loaded()
    plain = [s.name for s in mining_sites(lm.model, ["ffn", "resid.sae"])]
    assert plain == [f"blocks.{i}.ffn" for i in range(len(lm.model.blocks))]          # no SAE: latents skipped
    attach_saes(lm.model, {"blocks.1.resid": sae_for(32)})
    got = [s.name for s in mining_sites(lm.model, ["ffn", "resid.sae"])]
    assert got == plain + ["blocks.1.resid.sae", "blocks.1.resid"]
