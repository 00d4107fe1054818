"""Forward hooks that record the outputs of chosen modules, and stop the forward once they are all in."""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn


class StopForward(Exception):
    """Raised by a hook to end a forward pass early; caught by `Recorder.run`."""


def image_forward(model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """The call that runs the image path of a model: open_clip's visual tower, or timm's forward_features."""
    if type(model).__module__.startswith("open_clip") and hasattr(model, "visual"):
        return model.visual
    return getattr(model, "forward_features", model)


class Recorder:
    """Record the outputs of `modules` (paths) during a forward; stop after module `stop_after` if given.

    Use as a context manager, so hooks never outlive their use. Only the named modules are hooked, so
    no activation of a site nobody asked for is kept.
    """

    def __init__(self, model: nn.Module, modules: list[str], stop_after: str | None = None):
        self.model = model
        self.paths = list(dict.fromkeys(modules))
        self.stop_after = stop_after
        self.outputs: dict[str, list[torch.Tensor]] = {p: [] for p in self.paths}
        self._handles: list = []

    def __enter__(self) -> "Recorder":
        named = dict(self.model.named_modules())
        missing = [p for p in self.paths + ([self.stop_after] if self.stop_after else []) if p not in named]
        if missing:
            raise KeyError(f"no module {missing[0]!r} in {type(self.model).__name__}")
        for p in self.paths:
            self._handles.append(named[p].register_forward_hook(self._record(p)))
        if self.stop_after:
            self._handles.append(named[self.stop_after].register_forward_hook(self._stop))
        return self

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()
        self.clear()

    def _record(self, path: str):
        def hook(module, inputs, output):
            self.outputs[path].append(output)
        return hook

    @staticmethod
    def _stop(module, inputs, output):
        raise StopForward

    def clear(self) -> None:
        for v in self.outputs.values():
            v.clear()

    def run(self, forward: Callable[[torch.Tensor], object], x: torch.Tensor) -> dict[str, list[torch.Tensor]]:
        """Run one forward of `x` and return the recorded outputs of this forward."""
        self.clear()
        try:
            forward(x)
        except StopForward:
            pass
        return self.outputs


class Replace:
    """While in use, the output of module `module` replaced by `fn(output)` in every forward (e.g. an SAE's
    reconstruction spliced in); a tuple output has its first element replaced."""

    def __init__(self, model: nn.Module, module: str, fn: Callable[[torch.Tensor], torch.Tensor]):
        self.model, self.module, self.fn = model, module, fn
        self._handle = None

    def __enter__(self) -> "Replace":
        named = dict(self.model.named_modules())
        if self.module not in named:
            raise KeyError(f"no module {self.module!r} in {type(self.model).__name__}")
        self._handle = named[self.module].register_forward_hook(self._hook)
        return self

    def _hook(self, module, inputs, output):
        if isinstance(output, tuple):
            return (self.fn(output[0]), *output[1:])
        return self.fn(output)

    def __exit__(self, *exc) -> None:
        self._handle.remove()
