"""The library's layers run one way: a module imports from its own package or from a layer below it, never from a
layer above or from a package beside it (read with ast, as the DVC graph test reads imports)."""
from __future__ import annotations

import pytest

from import_graph import SRC, _imported_names

# Bottom to top. Packages in one layer may not import each other.
LAYERS = [
    ["core", "stats"],                            # errors, settings, runtime, threads, ...; statistics (numpy only)
    ["data"],                                     # the dataset: ImageNet layouts, the synthetic look-alike, rows
    ["models"],                                   # specs, weights, fetching, transforms
    ["activations"],                              # sites, hooks, batches, the streaming pass and its accumulators
    ["evaluation", "visualization", "exemplars", "sae"],   # the experiments
    ["token_mixing", "scoring", "atlas"],         # experiments built on the ones below
    ["report"],                                   # renders what the stages wrote
    ["pipeline"],                                 # params of every section, stage preambles, download/train
    ["doctor"],                                   # what a configuration needs here
    ["cli"],                                      # the command line
]
RANK = {pkg: i for i, layer in enumerate(LAYERS) for pkg in layer}


def package_of(module: str) -> str:
    """The top package of a dotted vitviz module name ('vitviz.core.settings' -> 'core')."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def upward_imports(pkg: str, imported: set[str]) -> list[str]:
    """The imports of a module of package `pkg` that go to a layer above it or to another package of its layer."""
    bad = []
    for name in sorted(imported):
        target = package_of(name)
        if target and target != pkg and target in RANK and RANK[target] >= RANK[pkg]:
            bad.append(name)
    return bad


def modules() -> list:
    return sorted(p for p in (SRC / "vitviz").rglob("*.py") if p.name != "__init__.py" or p.parent.name != "vitviz")


def test_every_package_has_a_layer():
    pkgs = {p.relative_to(SRC / "vitviz").parts[0].removesuffix(".py") for p in modules()}
    assert pkgs <= set(RANK), sorted(pkgs - set(RANK))


@pytest.mark.parametrize("path", modules(), ids=lambda p: p.relative_to(SRC / "vitviz").as_posix())
def test_imports_run_downwards(path):
    pkg = path.relative_to(SRC / "vitviz").parts[0].removesuffix(".py")
    assert not upward_imports(pkg, _imported_names(path)), f"{path.name} imports from above or beside its layer"


def test_a_planted_upward_import_is_found():
    """Known answer for the check: models importing activations (a layer up) and scoring importing atlas (its own
    layer) are flagged; data importing core is not."""
    assert upward_imports("models", {"vitviz.activations.sites", "vitviz.core.errors"}) == ["vitviz.activations.sites"]
    assert upward_imports("scoring", {"vitviz.atlas.export"}) == ["vitviz.atlas.export"]
    assert upward_imports("data", {"vitviz.core.settings"}) == []
