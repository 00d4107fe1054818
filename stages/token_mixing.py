"""Stage token_mixing@<key>: Table 1 probes, the isolating-CLS sweep, the per-patch head grid, and Appendix F."""
from vitviz.atomic import atomic_path
from vitviz.config import load_params
from vitviz.exemplar_store import read_exemplars
from vitviz.feature_store import read_features
from vitviz.imagenet import load_rgb, read_index
from vitviz.runner import model_stage_args, run
from vitviz.sites import list_sites
from vitviz.spatial_info import appendix_f, linearity
from vitviz.token_mixing import cls_probe_error, run_probes
from vitviz.visualize import pick_device
from vitviz.zoo import eval_transform, load_model


def main() -> None:
    args = model_stage_args(__doc__, "{data}/token_mixing/{key}")
    cfg = load_params(args.params).token_mixing
    device = pick_device(cfg.device)
    loaded = load_model(f"{args.data}/models/{args.key}", device)
    index = read_index(f"{args.data}/dataset")
    probes = run_probes(loaded, index, cfg.split, list(cfg.layers), cfg.limit, cfg.batch_size, device)
    af = cfg.appendix_f
    curves, summary, skipped = None, None, 0
    if af.enabled and cls_probe_error(loaded.model) is None:
        feats, _ = read_features(f"{args.data}/features/{args.key}")
        ex = read_exemplars(f"{args.data}/exemplars/{args.key}")
        feats = feats[feats["kind"] == "ffn"]
        targets = [(r.site, int(r.feature), ex.top(r.site, int(r.feature))[0][:af.exemplars]) for r in feats.itertuples()]
        raw = eval_transform(loaded.spec, normalize=False)
        df = index.split(ex.meta["split"])
        crops_of = lambda row: raw(load_rgb(index.image_path(df["path"].iloc[row]))).to(device)  # noqa: E731
        curves, skipped = appendix_f(loaded, list_sites(loaded.model), targets, crops_of, af.threshold,
                                     list(af.fractions), af.repeats, af.seed)
        if len(curves):
            summary = [{"layer": int(layer), "features": int(g["feature"].nunique()),
                        "r2_count": linearity(g, "count_ratio"), "r2_sum": linearity(g, "sum_ratio")}
                       for layer, g in curves.groupby("layer")]
    with atomic_path(args.out) as tmp:
        tmp.mkdir(parents=True)
        import json
        (tmp / "probes.json").write_text(json.dumps({"model": args.key, **probes}, indent=2) + "\n")
        if curves is not None:
            curves.to_csv(tmp / "appendix_f.csv", index=False)
            (tmp / "appendix_f.json").write_text(json.dumps({"threshold": af.threshold, "skipped_no_active": skipped,
                                                            "layers": summary or []}, indent=2) + "\n")


if __name__ == "__main__":
    run(main)
