"""Activation maximisation: each piece against its formula, and the optimiser against known answers."""
import math

import numpy as np
import pytest
import timm
import torch
from torch import nn

from vitviz.visualization.augment import augment_batch, color_shift_params, jitter_shift, noise_std_at
from vitviz.activations.hooks import Recorder, image_forward
from vitviz.models.spec import ModelSpec
from vitviz.visualization.objectives import group_targets, objectives, total_variation
from vitviz.activations.sites import list_sites
from vitviz.visualization.optimize import Target, feature_seed, visualize
from vitviz.visualization.settings import VisSettings
from vitviz.models.store import LoadedModel
from vitviz.models.transforms import eval_transform

def test_color_shift_formula():
    m, s = color_shift_params(torch.Generator().manual_seed(7), 4, 1.0, 0.5)
    g = torch.Generator().manual_seed(7)
    u1, u2 = torch.rand(4, 3, 1, 1, generator=g), torch.rand(4, 3, 1, 1, generator=g)
    torch.testing.assert_close(m, (u1 - 0.5) * 2.0)
    torch.testing.assert_close(s, torch.exp((u2 - 0.5) * 1.0))
    assert (m.abs() <= 1).all() and (s >= math.exp(-0.5)).all() and (s <= math.exp(0.5)).all()


def test_noise_schedule_is_linear_to_zero():
    assert noise_std_at(0, 5, 0.5) == 0.5
    assert noise_std_at(2, 5, 0.5) == 0.25
    assert noise_std_at(4, 5, 0.5) == 0.0


def test_augment_batch_equals_its_formula_per_feature():
    xs = torch.rand(2, 3, 6, 7)
    cfg = VisSettings(copies=3, jitter=2, noise_std=0.5)
    out = augment_batch(xs, [torch.Generator().manual_seed(3), torch.Generator().manual_seed(4)], step=1, steps=5,
                        cfg=cfg)
    assert out.shape == (6, 3, 6, 7)
    for f, seed in enumerate((3, 4)):
        x = xs[f]
        g = torch.Generator().manual_seed(seed)
        m, s = color_shift_params(g, 3, 1.0, 1.0)
        n = torch.randn(3, 3, 1, 1, generator=g) * 0.375
        dy, dx = jitter_shift(g, 2)
        got = out[3 * f:3 * f + 3]
        torch.testing.assert_close(got, torch.roll((x[None] - m) / s + n, shifts=(dy, dx), dims=(2, 3)))
        # one shift for all copies: every copy is the same circular shift of its colour-shifted image
        for c in range(3):
            torch.testing.assert_close(torch.roll(got[c], (-dy, -dx), (1, 2)), (x - m[c]) / s[c] + n[c])


def test_jitter_range_is_inclusive():
    g = torch.Generator().manual_seed(0)
    seen = {jitter_shift(g, 1) for _ in range(200)}
    assert {d for pair in seen for d in pair} == {-1, 0, 1}


def test_total_variation_known_answer():
    x = torch.tensor([[0.0, 1.0], [2.0, 4.0]]).expand(1, 3, 2, 2)
    # horizontal (1, 2) -> sqrt 5; vertical (2, 3) -> sqrt 13; diagonal 4 - 0 = 4; anti-diagonal 2 - 1 = 1
    assert float(total_variation(x)[0]) == pytest.approx(math.sqrt(5) + math.sqrt(13) + 4 + 1)
    y = torch.zeros(2, 3, 2, 2)
    y[1, 0] = torch.tensor([[0.0, 3.0], [0.0, 0.0]])  # one channel of three: averaged over channels
    tv = total_variation(y)
    # horizontal 3, vertical 3, diagonal 0, anti-diagonal 3; then the mean over the three channels
    assert float(tv[0]) == 0 and float(tv[1]) == pytest.approx((3 + 3 + 0 + 3) / 3)


def test_objective_equals_hand_computation_through_the_blocks(tiny_loaded):
    lm = tiny_loaded
    m = lm.model
    site = list_sites(m)["blocks.1.ffn"]
    x = torch.randn(2, 3, 32, 32)
    with Recorder(m, [site.module], stop_after=site.block) as rec:
        got = objectives(rec.run(image_forward(m), x), group_targets([site, site], [5, 9]), copies=1)
    h = m._pos_embed(m.patch_embed(x))
    h = m.blocks[0](h)
    b = m.blocks[1]
    h = h + b.ls1(b.attn(b.norm1(h)))
    act = torch.nn.functional.gelu(b.mlp.fc1(b.norm2(h)))  # timm's GELU, the paper's feature
    want = torch.stack([act[0, 1:, 5].mean(), act[1, 1:, 9].mean()])
    torch.testing.assert_close(got, want)


def test_loss_decreases_and_objective_rises(tiny_loaded):
    lm = tiny_loaded
    cfg = VisSettings(steps=40, lr=0.05, copies=4, jitter=2)
    (r,) = visualize(lm, [Target("blocks.2.ffn", 11)], cfg)
    assert r.objective_final > r.objective_start
    assert r.losses[-10:].mean() < r.losses[:10].mean()
    assert r.image.shape == (32, 32, 3) and r.image.dtype == np.uint8 and r.steps == 40


def test_batched_equals_one_at_a_time(tiny_loaded):
    lm = tiny_loaded
    # three targets of block 2 (two sites) share one batch; the block-0 target gets its own, shallower one
    targets = [Target("blocks.2.ffn", 3), Target("blocks.2.attn.k", 7), Target("blocks.0.ffn", 5),
               Target("blocks.2.ffn", 30)]
    cfg = VisSettings(steps=6, copies=3, jitter=3, batch_features=4)
    batched = visualize(lm, targets, cfg)
    cfg.batch_features = 1
    single = visualize(lm, targets, cfg)
    for a, b in zip(batched, single):
        assert (a.site, a.feature, a.seed) == (b.site, b.feature, b.seed)
        assert np.abs(a.image.astype(int) - b.image.astype(int)).max() <= 1
        assert a.objective_final == pytest.approx(b.objective_final, rel=1e-4, abs=1e-5)


def test_same_seed_same_bytes_and_seeds_differ_by_feature(tiny_loaded):
    lm = tiny_loaded
    cfg = VisSettings(steps=3, copies=2, jitter=1)
    a = visualize(lm, [Target("blocks.0.ffn", 1)], cfg, seed=5)[0]
    b = visualize(lm, [Target("blocks.0.ffn", 1)], cfg, seed=5)[0]
    assert a.image.tobytes() == b.image.tobytes()
    assert feature_seed(5, "tiny", "blocks.0.ffn", 1) != feature_seed(5, "tiny", "blocks.0.ffn", 2)
    assert feature_seed(5, "tiny", "blocks.0.ffn", 1) != feature_seed(5, "other", "blocks.0.ffn", 1)


def redness_model() -> LoadedModel:
    """A one-block ViT whose FFN channel 0 is GELU(mean redness of the patch): its best input is pure red."""
    m = timm.create_model("vit_tiny_patch16_224", img_size=16, patch_size=8, embed_dim=4, depth=1, num_heads=1,
                          num_classes=2, norm_layer=nn.Identity).eval().requires_grad_(False)
    with torch.no_grad():
        for p in m.parameters():
            p.zero_()
        m.patch_embed.proj.weight[0, 0] = 1.0 / 64  # residual channel 0 = mean of the (normalised) red patch
        m.blocks[0].mlp.fc1.weight[0, 0] = 1.0
    spec = ModelSpec(key="red", library="timm", name="vit_tiny_patch16_224", input_size=(3, 16, 16),
                     mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), crop_pct=1.0, num_classes=2)
    return LoadedModel(m, spec, eval_transform(spec))


def test_optimising_a_redness_feature_makes_the_image_red():
    lm = redness_model()
    cfg = VisSettings(steps=60, lr=0.1, tv_weight=0.0, copies=4, jitter=2)
    (r,) = visualize(lm, [Target("blocks.0.ffn", 0)], cfg)
    img = r.image.astype(float) / 255
    assert img[..., 0].mean() > 0.95
    assert r.objective_final > r.objective_start


def test_per_feature_tv_weight_is_used(tiny_loaded):
    lm = tiny_loaded
    base = VisSettings(steps=8, copies=2, jitter=1)
    heavy = VisSettings(steps=8, copies=2, jitter=1, tv_features={"blocks.0.ffn:4": 50.0})
    assert heavy.tv_for("blocks.0.ffn", 4) == 50.0 and heavy.tv_for("blocks.0.ffn", 5) == 0.004
    a, b = visualize(lm, [Target("blocks.0.ffn", 4), Target("blocks.0.ffn", 5)], base)
    c, d = visualize(lm, [Target("blocks.0.ffn", 4), Target("blocks.0.ffn", 5)], heavy)
    assert c.tv_final < a.tv_final                       # the heavily regularised feature is smoother
    assert np.abs(b.image.astype(int) - d.image.astype(int)).max() <= 1   # the other one is untouched


def test_one_pass_normalised_copies_and_their_tv_equal_the_formula():
    """The step's input and TV, built from the F jittered images, equal normalising the copies
    roll((x - m) / s + noise) and taking TV of each copy (the definition)."""
    from vitviz.visualization.augment import draw_batch, normalized_copies, roll_features
    from vitviz.visualization.objectives import copies_variation
    xs = torch.rand(3, 3, 9, 8, dtype=torch.float64)
    cfg = VisSettings(copies=4, jitter=3, noise_std=0.5)
    seeds = (11, 12, 13)
    params, shifts = draw_batch([torch.Generator().manual_seed(s) for s in seeds], 2, 6, cfg)
    m, s, n = params.double()
    mean = torch.tensor([0.4, 0.5, 0.6], dtype=torch.float64).view(3, 1, 1)
    std = torch.tensor([0.2, 0.3, 0.25], dtype=torch.float64).view(3, 1, 1)
    rolled = roll_features(xs, shifts)
    inp = normalized_copies(rolled, m, s, n, mean, std)
    tv = copies_variation(rolled, s)
    for f, seed in enumerate(seeds):                      # the same draws as each feature alone
        g = torch.Generator().manual_seed(seed)
        mf, sf = color_shift_params(g, 4, 1.0, 1.0)
        nf = torch.randn(4, 3, 1, 1, generator=g) * noise_std_at(2, 6, 0.5)
        dy, dx = jitter_shift(g, 3)
        copies = torch.roll((xs[f][None] - mf.double()) / sf.double() + nf.double(), shifts=(dy, dx), dims=(2, 3))
        torch.testing.assert_close(inp[4 * f:4 * f + 4], (copies - mean) / std)
        torch.testing.assert_close(tv[f], total_variation(copies))


def test_sum_and_mean_are_one_optimisation_when_tv_is_scaled_by_n(tiny_loaded):
    """With TV scaled by N, the sum loss is N x the mean loss: Adam takes the same steps (up to eps), so the
    images agree; without the scaling (TV weight / N under sum) they would differ."""
    from vitviz.visualization.optimize import Target, visualize
    from vitviz.visualization.settings import VisSettings
    t = [Target("blocks.1.ffn", 3)]
    base = dict(steps=8, tv_weight=0.5, eps=1e-12)
    mean = visualize(tiny_loaded, t, VisSettings(reduce="mean", **base), seed=1)[0]
    summ = visualize(tiny_loaded, t, VisSettings(reduce="sum", **base), seed=1)[0]
    assert np.abs(mean.image.astype(int) - summ.image.astype(int)).max() <= 1
    n = 16  # tiny ViT: 32 px, patch 8
    weak = visualize(tiny_loaded, t, VisSettings(reduce="sum", **{**base, "tv_weight": 0.5 / n}), seed=1)[0]
    assert summ.objective_final == pytest.approx(n * mean.objective_final, rel=1e-3)
    assert np.abs(weak.image.astype(int) - summ.image.astype(int)).max() > 1
