"""Offline checks that a model name (and pretrained tag) exists in timm, open_clip or torchvision.

The lists come from the installed libraries and are kept in the disk cache per library version, so that a
check does not import the library again until it changes."""
from __future__ import annotations

import difflib
import functools
from typing import TYPE_CHECKING

from vitviz.core.disk_cache import cached, version

if TYPE_CHECKING:
    from vitviz.models.settings import ModelEntry

DISTRIBUTIONS = {"timm": "timm", "open_clip": "open_clip_torch", "torchvision": "torchvision"}


def library_key(library: str) -> dict[str, str]:
    """What the model lists of `library` depend on: its installed version (and torch's)."""
    return {"library": library, "version": version(DISTRIBUTIONS.get(library, library)), "torch": version("torch")}


@functools.lru_cache(maxsize=None)
def _names(library: str) -> tuple[str, ...]:
    if library not in DISTRIBUTIONS:
        raise ValueError(f"unknown library {library!r}")
    return tuple(cached("model-names", library_key(library), lambda: list(_list_names(library))))


def _list_names(library: str) -> tuple[str, ...]:
    if library == "timm":
        import timm
        return tuple(timm.list_models())
    if library == "open_clip":
        import open_clip
        return tuple(open_clip.list_models())
    if library == "torchvision":
        import torchvision
        return tuple(torchvision.models.list_models())
    raise ValueError(f"unknown library {library!r}")


def _tags(library: str, name: str) -> list[str]:
    return cached("model-tags", {**library_key(library), "name": name}, lambda: _list_tags(library, name))


def _list_tags(library: str, name: str) -> list[str]:
    if library == "timm":
        import timm
        return [n.split(".", 1)[1] for n in timm.list_pretrained(name) if "." in n and n.split(".")[0] == name]
    if library == "open_clip":
        import open_clip
        return list(open_clip.list_pretrained_tags_by_model(name))
    import torchvision
    try:
        return [w.name for w in torchvision.models.get_model_weights(name)]
    except (ValueError, KeyError):
        return []


def architecture_error(library: str, name: str, tag: str | None, source: str) -> str | None:
    """None when `name` (and `tag`, for pretrained sources) is known to `library`, else a one-line reason."""
    names = _names(library)
    base = name.split(".", 1)[0] if library == "timm" else name
    if base not in names:
        close = difflib.get_close_matches(base, names, n=3)
        hint = f"; close matches: {', '.join(close)}" if close else f"; see {library} model list"
        return f"unknown {library} model {name!r}{hint}"
    if library == "timm" and "." in name:
        return f"write the timm pretrained tag in 'tag', not in the name (name: {base}, tag: {name.split('.', 1)[1]})"
    if source in ("timm", "open_clip", "torchvision") and tag:
        tags = _tags(library, base)
        if tags and tag not in tags:
            return f"unknown pretrained tag {tag!r} for {library} {base!r}; allowed: {', '.join(tags)}"
    return None


def model_error(entry: ModelEntry) -> str | None:
    """`architecture_error` of a params model entry; None for a library this project does not build with."""
    if entry.lib not in ("timm", "open_clip", "torchvision"):
        return None
    return architecture_error(entry.lib, entry.name, entry.tag if entry.source != "train" else None, entry.source)
