"""Shared fixtures: a tiny synthetic ImageNet and its index, made once per test session."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("DVC_NO_ANALYTICS", "1")
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def tiny_cfg():
    from vitviz.core.config import SyntheticConfig
    return SyntheticConfig(seed=3, classes=4, train_per_class=6, val_per_class=3, image_size=40,
                           quirk_fraction=0.0)


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory, tiny_cfg):
    """A prepared dataset folder (images plus index) as the prepare_data stage writes it."""
    from vitviz.core.config import PrepareDataConfig
    from vitviz.data.prepare import prepare_dataset
    out = tmp_path_factory.mktemp("dataset")
    prepare_dataset(PrepareDataConfig(source="synthetic", synthetic=tiny_cfg), out)
    return out


@pytest.fixture(scope="session")
def tiny_index(tiny_dataset):
    from vitviz.data.imagenet import read_index
    return read_index(tiny_dataset)
