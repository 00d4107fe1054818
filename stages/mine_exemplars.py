"""Stage mine_exemplars@<key>: top-k and bottom-k exemplars, histograms, activation densities and a random sample's
statistics of every feature, activation maps, spatial locality, direct logit effects and (open_clip models) CLIP
concept labels."""
from vitviz.core.atomic import atomic_path
from vitviz.core.runner import main_process, run
from vitviz.exemplars.concepts import concept_labels, load_vocabulary
from vitviz.exemplars.locality import locality_table
from vitviz.exemplars.logit_effects import head_classes, logit_effects
from vitviz.exemplars.mining import activation_maps, mine, mining_sites
from vitviz.exemplars.settings import MineConfig
from vitviz.exemplars.store import write_exemplars
from vitviz.pipeline.stage import model_stage
from vitviz.sae.store import attach_trained_saes
from vitviz.activations.sites import list_sites


def main() -> dict | None:
    st = model_stage(__doc__, "{data}/exemplars/{key}", "mine_exemplars", MineConfig)
    args, cfg, device, loaded, index = st.args, st.cfg, st.device, st.loaded, st.index
    attach_trained_saes(loaded.model, f"{args.data}/sae/{args.key}", device)     # their latents are sites too
    sites = mining_sites(loaded.model, list(cfg.kinds))
    result = mine(loaded, sites, index, cfg.split, cfg.k, cfg.stat, cfg.limit, cfg.batch_size, device, cfg.bins,
                  cfg.sample)
    spec = loaded.spec      # the direct logit effects need the weights, which are loaded here (the atlas loads none)
    effects, note = logit_effects(loaded.model, sites, list_sites(loaded.model))
    classes = head_classes(spec.class_wnids, spec.class_names, spec.num_classes, index.wnids, index.short_names)
    maps = activation_maps(loaded, result, index, cfg.maps_top, cfg.batch_size, device) if cfg.maps_top else {}
    locality = locality_table(maps, {s.name: s.layer for s in sites}, cfg.locality_fraction)
    concepts = None
    if cfg.concepts.enabled and loaded.spec.library == "open_clip":
        c = cfg.concepts
        concepts = concept_labels(loaded, result, index, load_vocabulary(c.vocabulary), c.template, c.top,
                                  cfg.batch_size, maps, c.region)
    if not main_process():  # under torchrun, rank 0 writes
        return None
    with atomic_path(args.out) as tmp:
        write_exemplars(result, maps, locality, tmp, {"model": args.key, "maps_top": cfg.maps_top,
                                                      "locality_fraction": cfg.locality_fraction,
                                                      "sample": cfg.sample}, concepts, (effects, classes, note))
    return {"key": args.key, "features": int(result.values.shape[1]), "images": result.images}


if __name__ == "__main__":
    run(main, "mine_exemplars")
