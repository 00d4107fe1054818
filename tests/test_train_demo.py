"""Demo training: its pieces on known inputs, and a tiny run that learns and repeats exactly."""
import torch

from vitviz.pipeline.params import parse_params
from vitviz.pipeline.train_demo import lr_at, random_crops, random_erase, train_demo


def test_lr_schedule_known_values():
    assert lr_at(0, 100, 10, 1.0) == 0.1
    assert lr_at(9, 100, 10, 1.0) == 1.0
    assert abs(lr_at(55, 100, 10, 1.0) - 0.5) < 1e-12
    assert lr_at(100, 100, 10, 1.0) == 0.0


def test_random_crops_are_translations():
    x = torch.arange(2 * 3 * 6 * 6, dtype=torch.float32).view(2, 3, 6, 6)
    g = torch.Generator().manual_seed(0)
    assert torch.equal(random_crops(x, 0, g), x)
    out = random_crops(x, 2, torch.Generator().manual_seed(1))
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2), mode="reflect")
    for n in range(2):  # each output is some 6x6 window of the padded image
        hits = [(dy, dx) for dy in range(5) for dx in range(5)
                if torch.equal(padded[n, :, dy:dy + 6, dx:dx + 6], out[n])]
        assert hits


def test_tiny_training_learns_and_is_deterministic(tiny_index):
    p = parse_params({"models": {"m": {
        "source": "train", "name": "resnet10t", "preprocess": {"input_size": 32, "crop_pct": 1.0},
        "train": {"epochs": 3, "batch_size": 8, "lr": 0.003, "warmup_epochs": 0, "seed": 0}}}})
    m1, spec, hist = train_demo(p.models["m"], "m", tiny_index)
    m2, _, hist2 = train_demo(p.models["m"], "m", tiny_index)
    assert hist[-1]["train_loss"] < hist[0]["train_loss"]
    assert [h["train_loss"] for h in hist] == [h["train_loss"] for h in hist2]
    sd1, sd2 = m1.state_dict(), m2.state_dict()
    assert all(torch.equal(sd1[k], sd2[k]) for k in sd1)
    assert spec.class_wnids == tiny_index.wnids and spec.input_size == (3, 32, 32) and spec.kind == "cnn"


def test_random_erase_blacks_out_one_rectangle():
    x = torch.full((50, 3, 16, 16), 200, dtype=torch.uint8)
    out = random_erase(x, 1.0, torch.Generator().manual_seed(0))
    for img in out:
        ys, xs = torch.nonzero(img[0] == 0, as_tuple=True)
        assert len(ys) > 0
        box = (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
        assert box == len(ys)                       # one filled rectangle
        assert 0.05 * 256 <= len(ys) <= 0.6 * 256   # 10-50% of the area, after rounding
        assert (img[:, ys, xs] == 0).all()
    assert torch.equal(random_erase(x, 0.0, torch.Generator()), x)
