"""Stage token_mixing@<key>: Table 1 probes, the isolating-CLS sweep and the per-patch head grid."""
from vitviz.core.atomic import atomic_path, write_json
from vitviz.pipeline.stage import model_stage
from vitviz.token_mixing.settings import TokenMixingConfig
from vitviz.core.runner import main_process, run
from vitviz.token_mixing.probes import run_probes


def main() -> dict | None:
    st = model_stage(__doc__, "{data}/token_mixing/{key}", "token_mixing", TokenMixingConfig)
    args, cfg, device, loaded, index = st.args, st.cfg, st.device, st.loaded, st.index
    probes = run_probes(loaded, index, cfg.split, list(cfg.layers), cfg.limit, cfg.batch_size, device)
    if not main_process():  # under torchrun, rank 0 writes
        return None
    with atomic_path(args.out) as tmp:
        tmp.mkdir(parents=True)
        write_json(tmp / "probes.json", {"model": args.key, **probes})
    return {"key": args.key, "images": probes.get("images")}


if __name__ == "__main__":
    run(main, "token_mixing")
