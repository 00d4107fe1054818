"""Stage lowpass_eval@<key>: top-1 against the low-pass cutoff (Fig. 16)."""
from vitviz.core.atomic import write_json
from vitviz.evaluation.lowpass import lowpass_eval
from vitviz.evaluation.settings import LowpassEvalConfig
from vitviz.pipeline.stage import model_stage
from vitviz.core.runner import main_process, run


def main() -> None:
    st = model_stage(__doc__, "{data}/lowpass_eval/{key}.json", "lowpass_eval", LowpassEvalConfig)
    args, cfg, device, loaded, index = st.args, st.cfg, st.device, st.loaded, st.index
    result = lowpass_eval(loaded, index, cfg.split, list(cfg.cutoffs), cfg.filter,
                          cfg.limit, cfg.batch_size, device, cfg.unit)
    if not main_process():  # under torchrun, rank 0 writes
        return
    write_json(args.out, {"model": args.key, "kind": loaded.spec.kind, **result})
    return {"key": args.key, "images": result["images"]}


if __name__ == "__main__":
    run(main, "lowpass_eval")
