"""The fast paths: each one switched on equals it switched off (exactly, or within the documented tolerance),
and each one really takes effect (so the tolerance checks cannot pass by doing nothing)."""
import dataclasses
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from PIL import Image

from vitviz.data.settings import PrepareDataConfig, SyntheticConfig
from vitviz.activations.loader import batches
from vitviz.activations.device_decode import decode_images, read_encoded
from vitviz.evaluation.accuracy import evaluate
from vitviz.data.imagenet import load_rgb, read_index
from vitviz.evaluation.masking import MaskedViews, fill_value, mask_eval
from vitviz.exemplars.mining import mine
from vitviz.models.spec import ModelSpec
from vitviz.data.prepare import prepare_dataset
from vitviz.core.runtime import Runtime
from vitviz.visualization.selection import candidate_sites
from vitviz.visualization.optimize import Target, visualize
from vitviz.visualization.settings import VisSettings
from vitviz.models.store import LoadedModel
from vitviz.models.transforms import eval_transform

# The documented bf16 tolerance (README, "Speed"): RMS error relative to the RMS of the fp32 values.
BF16_RMS_TOLERANCE = 0.02
# device_decode: decoding is bit-exact; the tensor resize differs from PIL's by at most this on average.
DEVICE_DECODE_MEAN_TOLERANCE = 1.0 / 255


def with_runtime(lm: LoadedModel, **kw) -> LoadedModel:
    return dataclasses.replace(lm, runtime=Runtime(**kw))


def rms_rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a[torch.isfinite(a)].double(), b[torch.isfinite(b)].double()
    return float((a - b).pow(2).mean().sqrt() / a.pow(2).mean().sqrt())


@pytest.fixture(scope="module")
def quirky_index(tmp_path_factory):
    """A tiny dataset where a third of the files are CMYK, grayscale or PNG bytes, plus a truncated JPEG."""
    out = tmp_path_factory.mktemp("quirky")
    prepare_dataset(PrepareDataConfig(synthetic=SyntheticConfig(seed=5, classes=4, train_per_class=2, val_per_class=4,
                                                                image_size=40, quirk_fraction=0.35)), out)
    index = read_index(out)
    broken = index.image_path(index.split("val")["path"].iloc[1])
    data = Path(broken).read_bytes()
    Path(broken).write_bytes(data[:len(data) // 2])
    return index


def test_bf16_autocast_stays_within_the_documented_tolerance(tiny_index, make_loaded):
    lm = make_loaded(wnids=tiny_index.wnids)
    sites = candidate_sites(lm, ["ffn"], None)
    fp32 = mine(lm, sites, tiny_index, "val", k=3, batch_size=5)
    bf16 = mine(with_runtime(lm, precision="bf16"), sites, tiny_index, "val", k=3, batch_size=5)
    err = rms_rel(fp32.values, bf16.values)
    assert 0 < err <= BF16_RMS_TOLERANCE          # bf16 really ran, and stayed within tolerance
    x = next(iter(batches(lm, tiny_index, "val", range(8), 8, "cpu"))).x
    logits = lm.classify(x)
    logits16 = with_runtime(lm, precision="bf16").classify(x)
    assert logits16.dtype == torch.float32 and 0 < rms_rel(logits, logits16) <= BF16_RMS_TOLERANCE


def test_bf16_feature_visualisation_reaches_the_fp32_objective(make_loaded):
    lm = make_loaded()
    targets = [Target("blocks.1.ffn", 3), Target("blocks.1.ffn", 4)]
    cfg = VisSettings(steps=40, lr=0.05, batch_features=2, copies=4, jitter=2)
    a = visualize(lm, targets, cfg)
    b = visualize(with_runtime(lm, precision="bf16"), targets, cfg)
    for ra, rb in zip(a, b):
        gain = ra.objective_final - ra.objective_start
        assert gain > 0 and abs(rb.objective_final - ra.objective_final) <= 0.1 * gain
        assert not np.array_equal(ra.image, rb.image)          # bf16 really ran


def test_tf32_sets_the_backend_flags_and_fp32_clears_them(make_loaded):
    lm = make_loaded()
    with_runtime(lm, precision="tf32").prepare("cpu")
    assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
    with_runtime(lm, precision="fp32").prepare("cpu")
    assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
    with pytest.raises(ValueError, match="precision"):
        Runtime(precision="fp16")


def test_fused_attention_switch_changes_the_kernel_not_the_result(tiny_index, make_loaded):
    lm = make_loaded()
    x = next(iter(batches(lm, tiny_index, "val", range(6), 6, "cpu"))).x
    fused = with_runtime(lm, fused_attention=True)
    fused.prepare("cpu")
    attn = [m for m in lm.model.modules() if hasattr(m, "fused_attn")]
    assert attn and all(m.fused_attn for m in attn)
    a = fused.classify(x)
    plain = with_runtime(lm, fused_attention=False)
    plain.prepare("cpu")
    assert not any(m.fused_attn for m in attn)
    torch.testing.assert_close(plain.classify(x), a, rtol=1e-5, atol=1e-5)
    fused.prepare("cpu")
    assert all(m.fused_attn for m in attn)     # switched back to timm's own choice


def test_channels_last_applies_to_cnns_only_and_keeps_the_result(tiny_index, make_loaded):
    torch.manual_seed(0)
    model = timm.create_model("resnet10t", num_classes=4).eval().requires_grad_(False)
    spec = ModelSpec(key="cnn", library="timm", name="resnet10t", kind="cnn", input_size=(3, 32, 32),
                     crop_pct=1.0, num_classes=4, class_wnids=tiny_index.wnids)
    cnn = LoadedModel(model, spec, eval_transform(spec), Runtime(channels_last=False))
    x = next(iter(batches(cnn, tiny_index, "val", range(6), 6, "cpu"))).x
    want = cnn.classify(x)
    fast = with_runtime(cnn, channels_last=True)
    fast.prepare("cpu")
    conv = model.conv1[0].weight
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    torch.testing.assert_close(fast.classify(x), want, rtol=1e-4, atol=1e-4)
    assert evaluate(fast, tiny_index, "val", batch_size=4) == evaluate(cnn, tiny_index, "val", batch_size=4)
    vit = with_runtime(make_loaded(), channels_last=True)
    vit.prepare("cpu")
    assert vit.model.patch_embed.proj.weight.is_contiguous()


def test_dataloader_workers_give_the_same_result(tiny_index, make_loaded):
    lm = make_loaded(wnids=tiny_index.wnids)
    sites = candidate_sites(lm, ["ffn"], [0, 2])
    a = mine(lm, sites, tiny_index, "train", k=3, batch_size=4)
    b = mine(with_runtime(lm, num_workers=2), sites, tiny_index, "train", k=3, batch_size=4)
    assert torch.equal(a.indices, b.indices) and torch.equal(a.values, b.values) and a.images == b.images
    masked = [mask_eval(with_runtime(lm, num_workers=w), tiny_index, "val", batch_size=3) for w in (0, 2)]
    assert masked[0] == masked[1] and masked[0]["images"] > 0     # masked views made in the worker processes


def test_device_decode_is_bit_exact_for_jpegs_and_falls_back_to_pil_for_the_rest(quirky_index):
    df = quirky_index.split("val")
    kinds = set()
    for i, p in enumerate(df["path"]):
        if i == 1:
            continue  # the truncated one
        path = quirky_index.image_path(p)
        payload = read_encoded(path)
        want = torch.from_numpy(np.array(load_rgb(path))).permute(2, 0, 1)
        got = decode_images([payload], "cpu")[0]
        kinds.add((payload.dim(), Image.open(path).format, Image.open(path).mode))
        assert torch.equal(got, want), path
    assert (1, "JPEG", "RGB") in kinds and any(d == 3 for d, _, _ in kinds)   # both routes were taken


@pytest.mark.parametrize("masked", [False, True])
def test_device_decode_batches_match_the_worker_path(quirky_index, masked, make_loaded):
    lm = make_loaded(wnids=quirky_index.wnids)
    rows = list(range(len(quirky_index.split("val"))))
    views = MaskedViews(quirky_index.boxes("val"), fill_value("black", lm.spec.mean)) if masked else None
    runs = []
    for decode in (False, True):
        got = list(batches(with_runtime(lm, device_decode=decode), quirky_index, "val", rows, 5, "cpu", unit=True,
                           variants=views))
        runs.append((torch.cat([b.x for b in got]), torch.cat([b.rows for b in got]), sum(b.skipped for b in got)))
    (xa, ra, sa), (xb, rb, sb) = runs
    assert sa == sb == 1 and torch.equal(ra, rb) and 1 not in ra.tolist()       # the truncated file, skipped
    assert xa.shape == xb.shape == (len(ra) * (3 if masked else 1), 3, 32, 32)
    assert float((xa - xb).abs().mean()) <= DEVICE_DECODE_MEAN_TOLERANCE


def test_bf16_mines_open_clip_query_sites_read_outside_autocast(tiny_index, make_clip_loaded):
    lm = make_clip_loaded(kind="clip")
    sites = candidate_sites(lm, ["attn.q", "ffn"], [1])
    a = mine(lm, sites, tiny_index, "val", k=2, batch_size=4)
    b = mine(with_runtime(lm, precision="bf16"), sites, tiny_index, "val", k=2, batch_size=4)
    assert 0 < rms_rel(a.values, b.values) <= BF16_RMS_TOLERANCE


def test_device_decode_hands_only_complete_jpegs_to_the_device_decoder(tmp_path):
    """nvJPEG decodes what is there of a truncated JPEG; the worker sends such a file through PIL instead, which
    skips it as the default path does (seen on an H200: 65 images, 0 skipped, before this check)."""
    from PIL import Image

    from vitviz.activations.device_decode import read_encoded
    from vitviz.core.errors import ImageDecodeError
    good = tmp_path / "good.JPEG"
    Image.new("RGB", (24, 20), (10, 200, 30)).save(good, quality=95)
    data = good.read_bytes()
    assert read_encoded(good).dim() == 1 and data.endswith(b"\xff\xd9")            # bytes, for the device
    (tmp_path / "cut.JPEG").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageDecodeError):
        read_encoded(tmp_path / "cut.JPEG")
    (tmp_path / "tail.JPEG").write_bytes(data + b"trailing")                         # PIL reads it whole
    decoded = read_encoded(tmp_path / "tail.JPEG")
    assert decoded.shape == (3, 20, 24)
