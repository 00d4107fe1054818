"""Stage train_sae@<key>: sparse autoencoders on sites of one model (ours), trained on a split streamed through
the model, scored on a held-out split, into data/sae/<key>."""
import pandas as pd

from vitviz.core.atomic import atomic_path, write_json
from vitviz.core.runner import main_process, run
from vitviz.pipeline.stage import model_stage
from vitviz.pipeline.train_sae import train_saes
from vitviz.sae.settings import SAEConfig
from vitviz.sae.store import save_sae


def main() -> dict | None:
    st = model_stage(__doc__, "{data}/sae/{key}", "sae", SAEConfig)
    args, cfg, loaded = st.args, st.cfg, st.loaded
    trained = train_saes(loaded, st.index, cfg, st.device)
    if not main_process():  # under torchrun, rank 0 writes
        return None
    provenance = {"model": args.key, "weights_sha256": loaded.spec.provenance.get("weights_sha256"),
                  "split": cfg.split, "eval_split": cfg.eval_split}
    with atomic_path(args.out) as tmp:
        tmp.mkdir(parents=True)
        for t in trained:
            save_sae(tmp / t.site.name, t.sae, t.site.name, {**provenance, **t.metrics})
        pd.DataFrame([h for t in trained for h in t.history]).to_csv(tmp / "history.csv", index=False)
        write_json(tmp / "metrics.json", {"model": args.key, "sites": {t.site.name: t.metrics for t in trained}})
    return {"key": args.key, "sites": len(trained), "tokens": sum(t.metrics["train_tokens"] for t in trained)}


if __name__ == "__main__":
    run(main, "train_sae")
