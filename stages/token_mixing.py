"""Stage token_mixing@<key>: Table 1 probes, the isolating-CLS sweep, the per-patch head grid, and Appendix F."""
from vitviz.core.atomic import atomic_path, write_json
from vitviz.exemplars.store import read_exemplars
from vitviz.visualization.store import read_features
from vitviz.core.runner import main_process, model_stage, run
from vitviz.token_mixing.appendix_f import appendix_f_for_model
from vitviz.token_mixing.probes import cls_probe_error, run_probes


def main() -> None:
    args, cfg, device, loaded, index = model_stage(__doc__, "{data}/token_mixing/{key}", "token_mixing")
    probes = run_probes(loaded, index, cfg.split, list(cfg.layers), cfg.limit, cfg.batch_size, device)
    af = cfg.appendix_f
    appendix = None
    if af.enabled and cls_probe_error(loaded.model) is None:
        appendix = appendix_f_for_model(loaded, index, read_features(f"{args.data}/features/{args.key}")[0],
                                        read_exemplars(f"{args.data}/exemplars/{args.key}"), af.threshold,
                                        list(af.fractions), af.repeats, af.exemplars, af.seed, device)
    if not main_process():  # under torchrun, rank 0 writes
        return
    with atomic_path(args.out) as tmp:
        tmp.mkdir(parents=True)
        write_json(tmp / "probes.json", {"model": args.key, **probes})
        if appendix is not None:
            curves, summary, skipped = appendix
            curves.to_csv(tmp / "appendix_f.csv", index=False)
            write_json(tmp / "appendix_f.json", {"threshold": af.threshold, "skipped_no_active": skipped,
                                                 "layers": summary})


if __name__ == "__main__":
    run(main)
