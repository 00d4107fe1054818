"""The atlas's layers: one per block and kind, mined or visualised."""
from __future__ import annotations

from vitviz.activations.kinds import KIND_LABELS, KINDS
from vitviz.exemplars.store import Exemplars


def layer_list(ex: Exemplars, vis: dict[tuple[str, int], dict]) -> list[dict]:
    """Every mined site (all its channels), then every visualised site that was not mined (`only` its visualised
    features), in block then kind order, each with its id and its kind's label."""
    out = [{"site": s.site, "layer": int(s.layer), "kind": s.kind, "channels": int(s.channels), "mined": True}
           for s in ex.sites.itertuples()]
    mined = {l["site"] for l in out}
    extra: dict[str, dict] = {}
    for (site, f), v in vis.items():
        if site not in mined:
            extra.setdefault(site, {"site": site, "layer": v["layer"], "kind": v["kind"], "channels": None,
                                    "mined": False, "only": []})["only"].append(f)
    for e in extra.values():
        e["only"].sort()
    order = {k: i for i, k in enumerate(KINDS)}
    layers = sorted(out + list(extra.values()),
                    key=lambda l: (l["layer"], order.get(l["kind"], len(order)), l["site"]))
    for l in layers:
        l["id"], l["label"] = f"L{l['layer']}_{l['kind']}", KIND_LABELS.get(l["kind"], l["kind"])
    return layers


def features_of(layer: dict) -> list[int]:
    """The features of a layer that have a page."""
    return list(range(layer["channels"])) if layer["mined"] else layer["only"]
