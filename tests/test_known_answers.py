"""Known-answer tests: the science code that production runs against independent computations written here."""
import math

import numpy as np
import pytest
import timm
import torch
from PIL import Image
from torch import nn

from vitviz.data.imagenet import load_rgb
from vitviz.evaluation.loop import in_topk, topk_hits
from vitviz.evaluation.lowpass import lowpass, lowpass_eval
from vitviz.evaluation.masking import mask_eval
from vitviz.models.spec import ModelSpec
from vitviz.models.store import LoadedModel
from vitviz.models.transforms import eval_transform
from vitviz.token_mixing.probes import _sweep_logits, run_probes
from vitviz.visualization.optimize import Target, visualize
from vitviz.visualization.settings import VisSettings

KW = {"img_size": 16, "patch_size": 8, "embed_dim": 16, "depth": 2, "num_heads": 2}
MEAN, STD = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)


def tiny(class_wnids=(), crop_pct=1.0, seed=0, gain=10.0, classes=4, **kw) -> LoadedModel:
    """A random 2-block ViT on 16 px inputs (2 x 2 patches of 8 px), 4 classes by default; weights x `gain` so that its
    predictions depend on the image (timm's 0.02-std init predicts one class for every image)."""
    torch.manual_seed(seed)
    kw = {**KW, **kw}
    m = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=classes, **kw).eval()
    m.requires_grad_(False)
    with torch.no_grad():
        for p in m.parameters():
            p.mul_(gain)
    spec = ModelSpec(key="kt", library="timm", name="vit_tiny_patch16_224", kwargs=kw, input_size=(3, 16, 16),
                     mean=MEAN, std=STD, crop_pct=crop_pct, num_classes=classes, class_wnids=list(class_wnids))
    return LoadedModel(m, spec, eval_transform(spec))


def ref_isolating(m, x, L):
    """Isolating CLS by hand: blocks < L on [CLS] alone and on the patches alone, the rest jointly, head on CLS."""
    h = m.norm_pre(m.patch_drop(m._pos_embed(m.patch_embed(x))))
    cls, pat = h[:, :1], h[:, 1:]
    for i in range(L):
        cls, pat = m.blocks[i](cls), m.blocks[i](pat)
    h = torch.cat([cls, pat], 1)
    for i in range(L, len(m.blocks)):
        h = m.blocks[i](h)
    return m.head(m.norm(h)[:, 0])


def ref_inputs(lm, index, split, rows, normalize=True):
    """The model's inputs for split rows, through the model's own float eval transform (not production's loader)."""
    df = index.split(split)
    tf = eval_transform(lm.spec, normalize=normalize)
    return torch.stack([tf(load_rgb(index.image_path(df["path"].iloc[r]))) for r in rows])


def normalized(x):
    return (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)


# ---------------------------------------------------------------- 1. isolating CLS (Table 1)

@torch.no_grad()
def test_sweep_logits_equal_a_hand_isolating_cls_forward_for_every_layer():
    """_sweep_logits(L) == CLS and patches through blocks < L separately, then jointly; normed == timm's features."""
    lm = tiny()
    m, x = lm.model, torch.randn(3, 3, 16, 16)
    layers = list(range(len(m.blocks) + 1))
    got, normed = _sweep_logits(m, x, layers)
    assert sorted(got) == layers
    for L in layers:
        torch.testing.assert_close(got[L], ref_isolating(m, x, L), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got[0], m(x), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(normed, m.forward_features(x), atol=1e-5, rtol=1e-5)


def hits(logits, t, k):
    """Whether each target is among the k largest logits, by counting the logits above it (no ties here)."""
    top2 = logits.topk(2, -1).values
    assert (top2[..., 0] - top2[..., 1]).min() > 1e-5               # no near tie: the ranking is well defined
    return ((logits > logits.gather(-1, t.unsqueeze(-1))).sum(-1) < k).double()


@torch.no_grad()
def test_run_probes_equal_hand_accuracies_over_the_same_images(tiny_index):
    """run_probes' natural / isolating-CLS top-1 and top-5, patch grid, Patch Average and Maximum == hand counts."""
    w = tiny_index.wnids
    # 8 model classes; dataset classes 2, 0, 3 are model classes 1, 3, 4; dataset class 1 is unknown to the model,
    # so its 3 images are left out
    lm = tiny(class_wnids=["n1", w[2], "n2", w[0], w[3], "n3", "n4", "n5"], classes=8)
    depth = len(lm.model.blocks)
    r = run_probes(lm, tiny_index, "val", list(range(depth + 1)), batch_size=4)

    labels = tiny_index.split("val")["label"].to_numpy()
    to_model = {2: 1, 0: 3, 3: 4}
    rows = [i for i, lab in enumerate(labels) if int(lab) in to_model]
    t = torch.tensor([to_model[int(labels[i])] for i in rows])
    x = ref_inputs(lm, tiny_index, "val", rows)
    m = lm.model
    assert r["images"] == len(rows) == 9
    for L in range(depth + 1):
        logits = ref_isolating(m, x, L)
        want = [100.0 * float(hits(logits, t, k).mean()) for k in (1, 5)]
        assert r["isolating_cls"][str(L)] == pytest.approx(want), L
    for k in (0, 1):                                                # the check is not vacuous
        assert len({r["isolating_cls"][str(L)][k] for L in range(depth + 1)}) == depth + 1
    assert r["natural"] == pytest.approx([100.0 * float(hits(m(x), t, k).mean()) for k in (1, 5)])

    # patch head: final norm on all tokens, head on each patch token, correctness averaged over images
    feats = m.blocks(m._pos_embed(m.patch_embed(x)))
    per_patch = m.head(nn.functional.layer_norm(feats, (16,), m.norm.weight, m.norm.bias, m.norm.eps)[:, 1:])
    tt = t[:, None].expand(-1, 4)
    acc1, acc5 = (100.0 * hits(per_patch, tt, k).mean(0) for k in (1, 5))   # per patch, row-major 2 x 2 grid
    assert np.allclose(np.array(r["patch_grid_top1"]).ravel(), acc1.numpy())
    assert r["patch_average"] == pytest.approx([float(acc1.mean()), float(acc5.mean())])
    assert r["patch_maximum"] == pytest.approx([float(acc1.max()), float(acc5.max())])
    assert acc1.max() > acc1.min()                                  # the grid is not flat


# ---------------------------------------------------------------- 3. masking at original resolution

def ref_masked(img: Image.Image, boxes, fill, size=16, crop_pct=0.875):
    """Fill with numpy at full resolution, then PIL bicubic resize of the short side + centre crop, in [0, 1]."""
    a = np.array(img)
    inside = np.zeros(a.shape[:2], bool)
    for x0, y0, x1, y1 in boxes:
        inside[max(0, y0):max(0, y1), max(0, x0):max(0, x1)] = True
    out = {"full": a, "foreground": np.where(inside[..., None], a, np.array(fill, np.uint8)),
           "background": np.where(inside[..., None], np.array(fill, np.uint8), a)}
    scale = math.floor(size / crop_pct)
    res = {}
    for k, v in out.items():
        im = Image.fromarray(v.astype(np.uint8))
        w, h = im.size
        nw, nh = (scale, int(scale * h / w)) if w <= h else (int(scale * w / h), scale)
        im = im.resize((nw, nh), Image.BICUBIC)
        top, left = int(round((nh - size) / 2.0)), int(round((nw - size) / 2.0))
        im = im.crop((left, top, left + size, top + size))
        res[k] = torch.from_numpy(np.array(im)).permute(2, 0, 1).float() / 255
    return res


@pytest.mark.parametrize("fill,value", [("black", (0, 0, 0)), ("mean", (102, 128, 153))])
def test_mask_eval_fills_boxes_before_resize_and_crop(tiny_index, fill, value):
    """mask_eval's model inputs == boxes filled at full resolution with PIL/numpy, then resized and cropped."""
    lm = tiny(class_wnids=tiny_index.wnids, crop_pct=0.875)
    seen = []
    lm.classify = lambda x: (seen.append(x.clone()), torch.zeros(len(x), 4))[1]
    r = mask_eval(lm, tiny_index, "val", fill=fill, batch_size=12)
    df, boxes = tiny_index.split("val"), tiny_index.boxes("val")
    assert r["images"] == len(df) == 12 and all(boxes)
    got = torch.cat(seen).view(12, 3, 3, 16, 16)                  # image-major: full, foreground, background
    for i in range(12):
        want = ref_masked(load_rgb(tiny_index.image_path(df["path"].iloc[i])), boxes[i], value)
        for j, k in enumerate(("full", "foreground", "background")):
            diff = (got[i, j] - normalized(want[k][None])[0]) * torch.tensor(STD).view(3, 1, 1)
            assert diff.abs().max() <= 1 / 255 + 1e-6, (i, k)
    # the fill reaches the crop: some pixel of a background view is exactly the fill
    bg = got[:, 2] * torch.tensor(STD).view(1, 3, 1, 1) + torch.tensor(MEAN).view(1, 3, 1, 1)
    hit = ((bg * 255 - torch.tensor(value).view(1, 3, 1, 1)).abs() < 1e-3).all(1)
    assert hit.any()


# ---------------------------------------------------------------- 4. low-pass on the [0, 1] crop

def np_lowpass(x: np.ndarray, cutoff: float) -> np.ndarray:
    """Ideal circular low-pass with numpy: keep FFT bins with |f| <= cutoff * 0.5 cycles/pixel."""
    fy = np.fft.fftfreq(x.shape[-2])[:, None]
    fx = np.fft.fftfreq(x.shape[-1])[None, :]
    keep = np.sqrt(fy ** 2 + fx ** 2) <= cutoff * 0.5 + 1e-12
    return np.fft.ifft2(np.fft.fft2(x, axes=(-2, -1)) * keep, axes=(-2, -1)).real


def test_lowpass_keeps_the_low_sinusoid_and_removes_the_high_one():
    """lowpass(0.5 + low + high, 0.3) == 0.5 + low == the numpy FFT reference (low 0.19, high 0.49 Nyquist)."""
    n = 32
    yy, xx = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    low = 0.2 * np.cos(2 * np.pi * (0 * yy + 3 * xx) / n)            # radius 3/32 cyc/px = 0.1875 Nyquist
    high = 0.15 * np.sin(2 * np.pi * (5 * yy + 6 * xx) / n)          # sqrt(61)/32 cyc/px = 0.488 Nyquist
    img = np.broadcast_to(0.5 + low + high, (1, 3, n, n)).copy()
    got = lowpass(torch.from_numpy(img), 0.3).numpy()
    np.testing.assert_allclose(got, np_lowpass(img, 0.3), atol=1e-5)
    np.testing.assert_allclose(got, np.broadcast_to(0.5 + low, img.shape), atol=1e-5)
    rnd = np.random.default_rng(0).random((2, 3, 12, 20))           # non-square, float32 as the crops are
    got = lowpass(torch.from_numpy(rnd).float(), 0.45).numpy()
    np.testing.assert_allclose(got, np_lowpass(rnd, 0.45), atol=1e-5)


def test_lowpass_eval_filters_the_unit_crop_before_normalisation(tiny_index):
    """lowpass_eval's inputs == normalize(clamp(numpy_lowpass(crop in [0, 1]), 0, 1)) per cutoff, level-major."""
    lm = tiny(class_wnids=tiny_index.wnids, crop_pct=0.875)
    seen = []
    lm.classify = lambda x: (seen.append(x.clone()), torch.zeros(len(x), 4))[1]
    cutoffs = [0.2, 0.6]
    r = lowpass_eval(lm, tiny_index, "val", cutoffs, limit=4, batch_size=12)
    rows = [0, 4, 7, 11]                                            # 4 rows spread evenly over 0..11
    assert r["images"] == 4 and len(seen) == 1
    crop = ref_inputs(lm, tiny_index, "val", rows, normalize=False).double().numpy()
    want = [crop] + [np.clip(np_lowpass(crop, c), 0, 1) for c in cutoffs]
    want = normalized(torch.from_numpy(np.concatenate(want)).float())
    torch.testing.assert_close(seen[0], want, atol=1e-5, rtol=0)
    assert (want[4:8] - want[:4]).abs().max() > 1e-2               # the filter changed the inputs


def test_lowpass_eval_clamps_the_filtered_crop_to_unit_range_before_normalisation(tiny_index, monkeypatch):
    """With a stand-in filter (contrast x3 about 0.5) that leaves [0, 1]: inputs == normalize(clip(filtered, 0, 1))."""
    import vitviz.evaluation.lowpass as lp
    monkeypatch.setattr(lp, "lowpass", lambda x, cutoff, kind="ideal", unit=None: (x - 0.5) * 3 + 0.5)
    lm = tiny(class_wnids=tiny_index.wnids, crop_pct=0.875)
    seen = []
    lm.classify = lambda x: (seen.append(x.clone()), torch.zeros(len(x), 4))[1]
    lp.lowpass_eval(lm, tiny_index, "val", [0.5], limit=2, batch_size=4)
    crop = ref_inputs(lm, tiny_index, "val", [0, 11], normalize=False)
    stretched = (crop - 0.5) * 3 + 0.5
    assert stretched.min() < 0 and stretched.max() > 1                # the clamp has work to do
    torch.testing.assert_close(seen[0], normalized(torch.cat([crop, stretched.clamp(0, 1)])), atol=1e-5, rtol=0)


# ---------------------------------------------------------------- 5. Adam + cosine schedule + clamp

def gelu_patch_model(w: torch.Tensor) -> LoadedModel:
    """One block, all weights 0 but patch-embed channel 0 (= w) and fc1[0, 0] = 1: site blocks.0.ffn channel 0
    of patch p is GELU(z_p), z_p = <w, normalised pixels of patch p>."""
    m = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=16, patch_size=8, embed_dim=4, depth=1,
                          num_heads=1, num_classes=2, norm_layer=nn.Identity).eval().requires_grad_(False)
    with torch.no_grad():
        for p in m.parameters():
            p.zero_()
        m.patch_embed.proj.weight[0] = w
        m.blocks[0].mlp.fc1.weight[0, 0] = 1.0
    spec = ModelSpec(key="gelu", library="timm", name="vit_tiny_patch16_224", input_size=(3, 16, 16),
                     mean=MEAN, std=STD, crop_pct=1.0, num_classes=2)
    return LoadedModel(m, spec, eval_transform(spec))


def hand_objective(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Mean over the 2 x 2 patches of GELU(<w, (x - mean) / std over the patch>)."""
    xn = normalized(x[None])[0]
    z = torch.stack([(w * xn[:, i:i + 8, j:j + 8]).sum() for i in (0, 8) for j in (0, 8)])
    return nn.functional.gelu(z).mean()


def test_visualize_is_adam_with_cosine_lr_and_clamp_written_by_hand():
    """With identity augmentation, visualize == x0 ~ U[0,1) from the seed, then Adam + cosine lr + clamp by hand."""
    w = torch.randn(3, 8, 8, generator=torch.Generator().manual_seed(1)) * 0.05
    lm = gelu_patch_model(w)
    steps, lr, (b1, b2), eps, seed = 6, 0.3, (0.6, 0.9), 1e-3, 1234
    ident = dict(copies=1, shift_bound=0.0, scale_bound=0.0, noise_std=0.0, jitter=0)
    cfg = VisSettings(steps=steps, lr=lr, betas=(b1, b2), eps=eps, tv_weight=0.0, **ident)
    (res,) = visualize(lm, [Target("blocks.0.ffn", 0)], cfg, seeds=[seed])

    x = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(seed)).double()
    w = w.double()
    m = v = torch.zeros_like(x)
    objs, unclamped = [], False
    for t in range(1, steps + 1):
        xg = x.clone().requires_grad_(True)
        obj = hand_objective(xg, w)
        (g,) = torch.autograd.grad(-obj, xg)
        objs.append(float(obj.detach()))
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        lr_t = lr * (1 + math.cos(math.pi * (t - 1) / steps)) / 2
        step = x - lr_t * (m / (1 - b1 ** t)) / ((v / (1 - b2 ** t)).sqrt() + eps)
        unclamped |= bool(((step < 0) | (step > 1)).any())
        x = step.clamp(0, 1)
    assert unclamped                                                  # the clamp did something
    assert res.objective_start == pytest.approx(objs[0], abs=1e-5)
    np.testing.assert_allclose(res.losses, -np.array(objs), atol=1e-5)
    assert res.objective_final == pytest.approx(float(hand_objective(x, w)), abs=1e-5)
    img = torch.from_numpy(res.image).permute(2, 0, 1).double()
    assert (img - x * 255).abs().max() <= 0.5 + 1e-3


# ---------------------------------------------------------------- 6. top-k without ties

def test_topk_hits_and_in_topk_on_untied_logits():
    """Rows ranked 2>4>6>0>3>1>5: targets 2, 3, 1, 5 are ranks 1, 5, 6, 7 -> top-1 [1 0 0 0], top-5 [1 1 0 0]."""
    row = torch.tensor([0.3, 0.1, 0.9, 0.2, 0.5, 0.0, 0.4])
    logits = torch.stack([row, row + 1.0, row * 2, row - 3.0])      # same order in every row, no ties
    targets = torch.tensor([2, 3, 1, 5])
    assert topk_hits(logits, targets).tolist() == [1, 2]
    assert in_topk(logits, targets, 1).tolist() == [True, False, False, False]
    assert in_topk(logits, targets, 5).tolist() == [True, True, False, False]
    assert in_topk(logits, targets, 6).tolist() == [True, True, True, False]
    assert in_topk(logits, targets, 10).all()                        # k capped at the 7 classes
    grid = logits.view(2, 2, 7)                                       # (images, patches, classes) as the patch head
    assert in_topk(grid, targets.view(2, 2), 5).tolist() == [[True, True], [False, False]]
