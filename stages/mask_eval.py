"""Stage mask_eval@<key>: accuracy on full, foreground-only and background-only images (Tables 2 and 3)."""
from vitviz.core.atomic import write_json
from vitviz.evaluation.masking import mask_eval
from vitviz.evaluation.settings import MaskEvalConfig
from vitviz.pipeline.stage import model_stage
from vitviz.core.runner import main_process, run


def main() -> None:
    st = model_stage(__doc__, "{data}/mask_eval/{key}.json", "mask_eval", MaskEvalConfig)
    args, cfg, device, loaded, index = st.args, st.cfg, st.device, st.loaded, st.index
    result = mask_eval(loaded, index, cfg.split, cfg.fill, cfg.limit, cfg.batch_size, device,
                       cfg.without_true_box)
    if not main_process():  # under torchrun, rank 0 writes
        return
    write_json(args.out, {"model": args.key, "kind": loaded.spec.kind, **result})
    return {"key": args.key, "images": result["images"]}


if __name__ == "__main__":
    run(main, "mask_eval")
