"""The authors' recipe (visualization.paper_recipe) and configs/paper.yaml, which must hold it."""
import pytest

from conftest import REPO
from vitviz.pipeline.params import load_params
from vitviz.visualization.paper_recipe import PAPER_RECIPE, paper_lr_tv, paper_recipe
from vitviz.visualization.settings import VisSettings


def test_paper_recipe_per_model():
    assert paper_lr_tv("timm", "vit_base_patch16_384") == (0.1, 0.004)
    assert paper_lr_tv("open_clip", "ViT-B-16") == (1.0, 0.004)
    lr, tv = paper_lr_tv("open_clip", "ViT-B-32")
    assert lr == 1.0 and tv == pytest.approx(0.0004)


def test_paper_recipe_carries_the_model_lr_and_tv():
    assert paper_recipe("open_clip", "ViT-B-32").lr == 1.0 and paper_recipe("timm", "x").steps == 400


def test_paper_config_holds_the_paper_recipe():
    """configs/paper.yaml's recipe is the authors' (visualization.paper_recipe), field by field."""
    cfg = load_params(REPO / "configs" / "paper.yaml").optimize_features
    for field in VisSettings.model_fields:
        if field not in ("batch_features", "tv_features"):
            assert getattr(cfg, field) == getattr(PAPER_RECIPE, field), field
