"""Stage appendix_f@<key>: blacking out active patches of the visualised features' exemplars (Appendix F)."""
from vitviz.core.atomic import atomic_path, write_json
from vitviz.core.model_stage import model_stage
from vitviz.core.runner import main_process, run
from vitviz.exemplars.store import read_exemplars
from vitviz.token_mixing.appendix_f import appendix_f_for_model
from vitviz.visualization.store import read_features


def main() -> dict | None:
    args, cfg, device, loaded, index = model_stage(__doc__, "{data}/appendix_f/{key}", "appendix_f")
    curves, summary, skipped = appendix_f_for_model(
        loaded, index, read_features(f"{args.data}/features/{args.key}")[0],
        read_exemplars(f"{args.data}/exemplars/{args.key}"), cfg.threshold, list(cfg.fractions), cfg.repeats,
        cfg.exemplars, cfg.seed, device)
    if not main_process():  # under torchrun, rank 0 writes
        return None
    with atomic_path(args.out) as tmp:
        tmp.mkdir(parents=True)
        curves.to_csv(tmp / "appendix_f.csv", index=False)
        write_json(tmp / "appendix_f.json", {"model": args.key, "threshold": cfg.threshold,
                                             "skipped_no_active": skipped, "layers": summary})
    return {"key": args.key, "curves": len(curves)}


if __name__ == "__main__":
    run(main, "appendix_f")
