"""The `vitviz` command line."""
from __future__ import annotations

import argparse
import logging
from typing import get_args

from vitviz.core.runner import run
from vitviz.core.runtime import Precision

log = logging.getLogger("vitviz")


def _validate(args: argparse.Namespace) -> None:
    from vitviz.core.errors import ConfigError
    from vitviz.pipeline.validate import validate
    found = validate(args.params)
    for note in found.notes:
        log.warning("%s", note)
    if found.errors:
        raise ConfigError(found.errors, args.params)
    log.info("%s is valid: %d model(s): %s", args.params, len(found.params.models), ", ".join(found.params.models))


def _synth(args: argparse.Namespace) -> None:
    from vitviz.core.atomic import atomic_path
    from vitviz.pipeline.params import load_params
    from vitviz.data.prepare import prepare_dataset
    cfg = load_params(args.params).prepare_data.model_copy(update={"source": "synthetic"})
    with atomic_path(args.out) as tmp:
        prepare_dataset(cfg, tmp)
    log.info("synthetic ImageNet and its index written to %s", args.out)


def params_model_keys(params: str | None) -> list[str]:
    """The model keys of a params file, or none when it is absent or unreadable."""
    from vitviz.core.errors import ConfigError
    from vitviz.core.settings import read_yaml
    if not params:
        return []
    try:
        models = read_yaml(params).get("models")
    except ConfigError:
        return []
    return list(models) if isinstance(models, dict) else []


def open_model(name: str, data: str = "data", device: str = "cpu", timeout: float = 3.0, runtime=None,
               params: str | None = None):
    """A LoadedModel from a key of data/models (written by the download_models stage, with the SAEs of data/sae/<key>
    attached), a model folder, or a timm name[.tag]; a key of the `params` file that has no folder yet is an error
    naming the stage that makes it."""
    from pathlib import Path

    from vitviz.core.runtime import Runtime
    from vitviz.models.store import load_model
    for cand in (Path(data) / "models" / name, Path(name)):
        if (cand / "spec.json").exists():
            loaded = load_model(cand, device, runtime)
            from vitviz.sae.store import attach_trained_saes   # the SAEs of the train_sae stage, if any
            attach_trained_saes(loaded.model, Path(data) / "sae" / name, device)
            return loaded
    from vitviz.models.settings import ModelEntry
    from vitviz.core.errors import ModelSourceError
    from vitviz.models.fetch import fetch
    from vitviz.models.registry import architecture_error
    from vitviz.models.store import LoadedModel
    from vitviz.models.transforms import eval_transform
    from vitviz.core.errors import ModelMissingError
    from vitviz.pipeline.stage import make_model_hint
    if name in params_model_keys(params):
        raise ModelMissingError(f"--model {name}: {Path(data) / 'models' / name} does not exist yet; "
                                f"{make_model_hint(name)}")
    base, _, tag = name.partition(".")
    err = architecture_error("timm", base, tag or None, "timm")
    if err:
        raise ModelSourceError(f"--model {name}: not a key in {Path(data) / 'models'}, a model folder or a known "
                               f"timm model: {err}")
    model, spec = fetch(ModelEntry(source="timm", name=base, tag=tag or None), base, timeout=timeout)
    loaded = LoadedModel(model.eval().requires_grad_(False), spec, eval_transform(spec), runtime or Runtime())
    loaded.prepare(device)
    return loaded


VIS_FLAGS = ("steps", "copies", "lr", "tv_weight", "jitter", "seed")


def check_vis_flags(args: argparse.Namespace) -> dict:
    """The recipe flags given to `vitviz visualize`, validated by the params schema before any model is loaded."""
    import json

    from pydantic import ValidationError

    from vitviz.core.errors import ConfigError
    from vitviz.visualization.settings import OptimizeConfig
    flags = {k: getattr(args, k) for k in VIS_FLAGS if getattr(args, k) is not None}
    try:
        OptimizeConfig.model_validate_json(json.dumps(flags))
    except ValidationError as exc:
        lines = [f"--{'.'.join(map(str, e['loc'])).replace('_', '-')}: {e['msg']}" for e in exc.errors()
                 if e["loc"] and e["loc"][0] in VIS_FLAGS] or [str(exc).splitlines()[0]]
        raise ConfigError(lines, "vitviz visualize") from None
    return flags


def visualize_recipe(args: argparse.Namespace, loaded, flags: dict) -> tuple["VisSettings", int, str]:  # noqa: F821
    """The recipe and seed for `vitviz visualize`, and where they came from.

    A key in data/models takes params' optimize_features (with its per-model overrides) when the params file
    exists; a model given by name or folder takes the authors' recipe for its library. Flags override either.
    """
    from pathlib import Path

    from vitviz.core.settings import read_sections
    from vitviz.visualization.paper_recipe import paper_recipe
    from vitviz.visualization.settings import OptimizeConfig, model_recipe
    downloaded = (Path(args.data) / "models" / args.model / "spec.json").exists()
    if downloaded and Path(args.params).exists():
        cfg = read_sections(args.params, {"optimize_features": OptimizeConfig})["optimize_features"]
        base, seed, source = model_recipe(cfg, loaded.key)[0], cfg.seed, f"{args.params}: optimize_features"
    else:
        base, seed = paper_recipe(loaded.spec.library, loaded.spec.name), 0
        source = "the authors' recipe (vitviz.visualization.paper_recipe)"
    if flags:
        source += " with " + ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in flags.items())
    recipe = base.model_copy(update={k: v for k, v in flags.items() if k != "seed"})
    return recipe, flags.get("seed", seed), source


def _visualize(args: argparse.Namespace) -> None:
    import dataclasses
    from pathlib import Path

    from PIL import Image

    from vitviz.core.distributed import local_device
    from vitviz.core.runtime import Runtime
    from vitviz.core.settings import read_sections
    from vitviz.visualization.optimize import Target, visualize
    from vitviz.visualization.store import image_name
    flags = check_vis_flags(args)
    runtime = read_sections(args.params, {"speed": Runtime})["speed"] if Path(args.params).exists() else Runtime()
    device = local_device(args.device or "auto")
    if args.precision:
        runtime = dataclasses.replace(runtime, precision=args.precision)
    loaded = open_model(args.model, args.data, device, runtime=runtime, params=args.params)
    settings, seed, source = visualize_recipe(args, loaded, flags)
    print(f"recipe: {source}\n  steps {settings.steps}, copies {settings.copies}, lr {settings.lr}, betas "
          f"{tuple(settings.betas)}, tv_weight {settings.tv_weight}, jitter {settings.jitter}, noise_std "
          f"{settings.noise_std}, reduce {settings.reduce}, seed {seed}")   # the recipe used is part of the output
    results = visualize(loaded, [Target(args.site, f) for f in args.feature], settings, seed=seed, device=device)
    out = Path(args.output)
    for r in results:
        path = out if len(results) == 1 and out.suffix else out / image_name(r.site, r.feature)
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(r.image).save(path)
        log.info("%s feature %d: objective %.4f -> %.4f, written to %s", r.site, r.feature, r.objective_start,
                 r.objective_final, path)


def _doctor(args: argparse.Namespace) -> None:
    import sys

    from vitviz.pipeline.params import load_params
    from vitviz.doctor import format_table, run_doctor
    checks = run_doctor(load_params(args.params), args.timeout)
    print(format_table(checks))  # the table is the command's output
    if any(c.status == "missing" for c in checks):
        sys.exit(1)


def _schema(args: argparse.Namespace) -> None:
    import sys

    from vitviz.core.atomic import write_text
    from vitviz.pipeline.params import schema_text
    if args.output in (None, "-"):
        sys.stdout.write(schema_text())
        return
    write_text(args.output, schema_text())
    log.info("params JSON Schema written to %s", args.output)


PARAMS_HELP = "the params file (default: params.yaml)"


def parser() -> argparse.ArgumentParser:
    """The `vitviz` argument parser: every subcommand names its params file --params."""
    from vitviz import __version__
    ap = argparse.ArgumentParser(prog="vitviz", description="What do vision transformers learn? Check a params "
                                 "file, see what it needs, and visualise single features. The pipeline itself "
                                 "runs with `dvc repro`.")
    ap.add_argument("--version", action="version", version=f"vitviz {__version__}")
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    v = sub.add_parser("validate", help="check a params file (schema, model names, sites) and print every error; "
                       "exit 2 if any", description="Check a params file in one pass: the schema and the rules "
                       "between sections, model names and tags, and the sites, features and layers of each model.")
    v.add_argument("--params", default="params.yaml", help=PARAMS_HELP)
    v.set_defaults(fn=_validate)
    s = sub.add_parser("synth", help="write the synthetic ImageNet of a params file, with its index, to a folder")
    s.add_argument("out", help="the folder to write (replaced atomically)")
    s.add_argument("--params", default="params.yaml", help=PARAMS_HELP + "; its prepare_data section is used")
    s.set_defaults(fn=_synth)
    z = sub.add_parser("visualize", help="optimise an image that maximises a feature (the paper's recipe)")
    z.add_argument("--model", required=True, help="model key in data/models, a model folder, or a timm name[.tag]")
    z.add_argument("--site", required=True, help="e.g. blocks.3.ffn, blocks.0.attn.k, blocks.3.resid.sae")
    z.add_argument("--feature", required=True, type=int, nargs="+", help="one or more channel (or latent) indices")
    z.add_argument("-o", "--output", required=True, help="a .png for one feature, else a folder")
    z.add_argument("--params", default="params.yaml",
                   help="for a key in data/models: recipe from its optimize_features section if it exists; "
                        "a model given by name gets the paper's recipe")
    z.add_argument("--data", default="data", help="the folder of the stage outputs (models/ in it)")
    z.add_argument("--steps", type=int, help="optimisation steps (overrides the recipe)")
    z.add_argument("--copies", type=int, help="augmented copies per step (overrides the recipe)")
    z.add_argument("--lr", type=float, help="Adam learning rate (overrides the recipe)")
    z.add_argument("--tv-weight", dest="tv_weight", type=float, help="total-variation weight (overrides the recipe)")
    z.add_argument("--jitter", type=int, help="circular-shift bound in pixels (overrides the recipe)")
    z.add_argument("--seed", type=int, help="random seed (default: the params' seed, or 0)")
    z.add_argument("--device", help="cpu, cuda, cuda:N or auto (default: auto)")
    z.add_argument("--precision", choices=get_args(Precision), help="default: speed.precision of --params")
    z.set_defaults(fn=_visualize)
    d = sub.add_parser("doctor", help="check, without downloading, what a configuration needs; print what to do")
    d.add_argument("--params", default="params.yaml", help=PARAMS_HELP)
    d.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for the model hub (default: 3)")
    d.set_defaults(fn=_doctor)
    c = sub.add_parser("schema", help="print the JSON Schema of params.yaml (for editors and CI)")
    c.add_argument("-o", "--output", help="write it to this file instead of stdout")
    c.set_defaults(fn=_schema)
    return ap


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `vitviz` console script."""
    args = parser().parse_args(argv)
    run(lambda: args.fn(args))


if __name__ == "__main__":
    main()
