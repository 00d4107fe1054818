"""Stage mine_exemplars@<key>: top-k exemplars of every feature, their activation maps, and spatial locality."""
from vitviz.atomic import atomic_path
from vitviz.concepts import concept_labels, load_vocabulary
from vitviz.config import load_params
from vitviz.exemplar_store import write_exemplars
from vitviz.imagenet import read_index
from vitviz.locality import locality_table
from vitviz.mining import activation_maps, mine
from vitviz.runner import model_stage_args, run
from vitviz.selection import candidate_sites
from vitviz.visualize import pick_device
from vitviz.zoo import load_model


def main() -> None:
    args = model_stage_args(__doc__, "{data}/exemplars/{key}")
    cfg = load_params(args.params).mine_exemplars
    device = pick_device(cfg.device)
    loaded = load_model(f"{args.data}/models/{args.key}", device)
    index = read_index(f"{args.data}/dataset")
    sites = candidate_sites(loaded, list(cfg.kinds), None)
    result = mine(loaded, sites, index, cfg.split, cfg.k, cfg.stat, cfg.limit, cfg.batch_size, cfg.num_workers,
                  device)
    maps = activation_maps(loaded, result, index, cfg.maps_top, cfg.batch_size, device) if cfg.maps_top else {}
    locality = locality_table(maps, {s.name: s.layer for s in sites}, cfg.locality_fraction)
    concepts = None
    if cfg.concepts.enabled and loaded.spec.library == "open_clip":
        c = cfg.concepts
        concepts = concept_labels(loaded, result, index, load_vocabulary(c.vocabulary), c.template, c.top,
                                  cfg.batch_size)
    with atomic_path(args.out) as tmp:
        write_exemplars(result, maps, locality, tmp, {"model": args.key, "maps_top": cfg.maps_top,
                                                      "locality_fraction": cfg.locality_fraction}, concepts)


if __name__ == "__main__":
    run(main)
