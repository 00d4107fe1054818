"""Small JSON facts about installed libraries (their model names, the sites of an architecture), kept on disk so
that `vitviz validate` need not import timm, open_clip or torchvision again until one of them changes.

An entry is addressed by a hash of everything it depends on (library versions, the settings of the model, the
source of the code that derived it); a missing, stale or unreadable entry is computed again, never trusted.
The folder is $VITVIZ_CACHE (the variable that also moves the cache of finished visualisations), else
$XDG_CACHE_HOME/vitviz, else ~/.cache/vitviz.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

log = logging.getLogger(__name__)


def cache_dir() -> Path:
    """The cache folder."""
    env = os.environ.get("VITVIZ_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vitviz"


def version(dist: str) -> str:
    """The installed version of distribution `dist` (read from its metadata, without importing it)."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "absent"


@lru_cache(maxsize=None)
def source_hash(*modules: str) -> str:
    """A hash of the source files of `modules` (dotted names), found without importing them."""
    h = hashlib.sha256()
    for name in modules:
        spec = importlib.util.find_spec(name)
        h.update(name.encode())
        h.update(Path(spec.origin).read_bytes() if spec and spec.origin else b"?")
    return h.hexdigest()[:16]


def cached(kind: str, key: dict[str, Any], compute: Callable[[], Any]) -> Any:
    """compute()'s JSON value, read from the cache when an entry of `kind` with this exact `key` exists."""
    folder = cache_dir()
    text = json.dumps(key, sort_keys=True, default=str)
    path = folder / kind / (hashlib.sha256(text.encode()).hexdigest()[:32] + ".json")
    try:
        entry = json.loads(path.read_text())
        if entry.get("key") == json.loads(text):
            return entry["value"]
    except (OSError, ValueError, KeyError, AttributeError):
        pass
    value = compute()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"key": json.loads(text), "value": value}))
        os.replace(tmp, path)
    except OSError as exc:   # a read-only home is no reason to fail a check
        log.debug("cache entry %s not written: %s", path, exc)
    return value
