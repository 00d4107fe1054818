"""Stage appendix_f@<key>: blacking out active patches of sampled FFN features' exemplars (Appendix F)."""
from vitviz.core.atomic import atomic_path, write_json
from vitviz.pipeline.stage import model_stage
from vitviz.token_mixing.settings import AppendixFConfig
from vitviz.core.runner import main_process, run
from vitviz.exemplars.store import read_exemplars
from vitviz.stats.curves import FLAT_TOLERANCE, MIN_CURVES, N_BOOT
from vitviz.stats.intervals import LEVEL
from vitviz.token_mixing.appendix_f import appendix_f_for_model


def main() -> dict | None:
    st = model_stage(__doc__, "{data}/appendix_f/{key}", "appendix_f", AppendixFConfig)
    args, cfg, device, loaded, index = st.args, st.cfg, st.device, st.loaded, st.index
    curves, summary, used, skipped = appendix_f_for_model(
        loaded, index, read_exemplars(f"{args.data}/exemplars/{args.key}"), cfg.threshold, list(cfg.fractions),
        cfg.repeats, cfg.exemplars, cfg.seed, cfg.features_per_layer, device)
    if not main_process():  # under torchrun, rank 0 writes
        return None
    with atomic_path(args.out) as tmp:
        tmp.mkdir(parents=True)
        curves.to_csv(tmp / "appendix_f.csv", index=False)
        used.to_csv(tmp / "features.csv", index=False)
        write_json(tmp / "appendix_f.json", {"model": args.key, "threshold": cfg.threshold,
                                             "features_per_layer": cfg.features_per_layer,
                                             "flat_tolerance": FLAT_TOLERANCE, "min_curves": MIN_CURVES,
                                             "band": {"resamples": N_BOOT, "level": LEVEL, "unit": "feature"},
                                             "skipped_no_active": skipped, "layers": summary})
    return {"key": args.key, "curves": len(curves), "features": len(used)}


if __name__ == "__main__":
    run(main, "appendix_f")
