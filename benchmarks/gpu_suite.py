"""The GPU suite: every speed and GPU-correctness measurement of vitviz in one run, sized for one H200 lease.

Device command (from the repository root, with the pydantic wheels carried in .whl/):

    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:src:benchmarks && PYTHONUNBUFFERED=1 python3 benchmarks/gpu_suite.py --out $OUT 2>&1 | tee $OUT/log.txt

(run it with carry [".whl"] and timeout_s 420: the run stops itself by 320 s after its imports). Here, on a CPU: `OMP_NUM_THREADS=1 PYTHONPATH=src:benchmarks
python benchmarks/gpu_suite.py --tiny --out /tmp/gpu_tiny` runs every code path on tiny sizes in under 2 minutes;
`--selftest` checks the time guards and the sync classification alone (no model, a few seconds).

Sections (each side by side in one process; `TABLE` below holds every size and budget):
  s1_visualize   feature visualisation of a random timm ViT-B/16, the paper's recipe (8 copies, extrapolated to
                 400 steps): seconds per feature and features per minute in fp32, tf32 and bf16 at several
                 features per batch (FFN of one block), against a plain truncated forward+backward of the same
                 images at the same depth (efficiency), the measured matmul ceilings and FLOP counts (MFU and the
                 floor), three depths in bf16 to extrapolate all 36,864 FFN features, and a profile of the GPU's
                 busy fraction.
  s2_mining      all 36,864 FFN features mined over synthetic 375 px JPEGs against plain inference over the same
                 loader, and both with the images already on the device (bench_mining.measure), fp32 and bf16;
                 the loader alone too.
  s3_fastpaths   each `speed` switch on vs off through the real evaluation pass (bench_fastpaths.compare), and a
                 forward-only table of the model-side switches on device-resident images.
  s4_correctness bf16 vs fp32 (mined statistics, logits, visualisation objectives) against the README's
                 tolerances; nvJPEG (device_decode) vs PIL; a truncated JPEG through the device-decode pass;
                 host syncs inside the mining and optimisation loops (torch.cuda.set_sync_debug_mode).
  s5_sae         placeholder: SAE training throughput, only when vitviz.sae exists.

Output under --out (default $OUT, else gpu_results/): one JSON per section, summary.json and suite.log (7 files;
the device command's log.txt makes 8). Every section has a budget: a sub-measurement whose predicted time does
not fit what is left is skipped and recorded with the reason; a section that overruns its budget by half is
interrupted; one that fails is recorded with its traceback; the next section runs regardless. A global deadline
(`--deadline`) writes what there is and exits, so the run never hangs.
"""
from __future__ import annotations

import os

os.environ.setdefault("TQDM_DISABLE", "1")     # the library's progress bars would flood the log

import _thread  # noqa: E402
import argparse  # noqa: E402
import dataclasses  # noqa: E402
import gc  # noqa: E402
import importlib  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import math  # noqa: E402
import multiprocessing as mp  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402
from types import SimpleNamespace  # noqa: E402
from typing import Any, Callable  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

# ---------------------------------------------------------------------------------------------------------------
# Library internals and benchmark helpers: the ONE block to fix when modules move. A name that cannot be imported
# (a module or wheel missing on the GPU machine) becomes a stub that raises ImportError when used, so only the
# sections that need it fail (and say why), never the whole run.
IMPORT_ERRORS: dict[str, str] = {}


class _Missing:
    def __init__(self, name: str):
        self.name = name

    def __call__(self, *a, **kw):
        raise ImportError(f"{self.name}: {IMPORT_ERRORS.get(self.name)}")

    def __getattr__(self, item):
        raise ImportError(f"{self.name}: {IMPORT_ERRORS.get(self.name)}")


def _pick(name: str, *modules: str):
    errors = []
    for m in modules:
        try:
            return getattr(importlib.import_module(m), name)
        except (ImportError, AttributeError) as exc:
            errors.append(f"{m}: {type(exc).__name__}: {exc}")
    IMPORT_ERRORS[name] = "; ".join(errors)
    return _Missing(name)


# public API
load_model = _pick("load_model", "vitviz")
list_sites = _pick("list_sites", "vitviz")
Target = _pick("Target", "vitviz")
VisSettings = _pick("VisSettings", "vitviz")
visualize = _pick("visualize", "vitviz")
mine = _pick("mine", "vitviz")
evaluate = _pick("evaluate", "vitviz")
# internals
Runtime = _pick("Runtime", "vitviz.core.runtime")
setup_logging = _pick("setup_logging", "vitviz.core.runner")
image_forward = _pick("image_forward", "vitviz.activations.hooks")
Recorder = _pick("Recorder", "vitviz.activations.hooks")
batches = _pick("batches", "vitviz.activations.loader")
decode_images = _pick("decode_images", "vitviz.activations.device_decode")
read_encoded = _pick("read_encoded", "vitviz.activations.device_decode")
load_rgb = _pick("load_rgb", "vitviz.data.imagenet")
read_index = _pick("read_index", "vitviz.data.imagenet")
synthetic_wnid = _pick("wnid", "vitviz.data.synthetic")
# benchmark helpers (benchmarks/)
DEMO_VIT = _pick("DEMO_VIT", "common")
random_loaded = _pick("random_loaded", "common")
seconds = _pick("seconds", "common")
synthetic_index = _pick("synthetic_index", "common")
vis_seconds = _pick("vis_seconds", "bench_visualize_step")      # visualisation steps, start/end forwards excluded
plain_seconds = _pick("plain_seconds", "bench_visualize_step")  # plain truncated forward+backward
mining_measure = _pick("measure", "bench_mining")               # (plain, mined) seconds on device tensors
fastpath_compare = _pick("compare", "bench_fastpaths")          # (name, img/s off, img/s on) of evaluate()


def vis_defaults() -> dict:
    """The recipe VisSettings holds by default (what the benchmark helpers run, apart from what they set)."""
    return VisSettings().model_dump(exclude={"tv_features"})

# ---------------------------------------------------------------------------------------------------------------
# THE TABLE: every budget (seconds of wall time) and size, as (H200 run, --tiny run on a CPU).
VIT_FULL = ("vit_base_patch16_224", 224, {})
VIT_TINY = ("vit_tiny_patch16_224", 64, "DEMO_VIT")     # the demo ViT's shape: 6 blocks, dim 128, 64 px
TABLE: dict[str, dict[str, tuple]] = {
    "global": dict(
        deadline_s=(320, 110),        # hard stop of the whole run: results so far are written, then exit
        reserve_s=(8, 4),             # kept back from every section for the summary
        data_wait_s=(90, 40),         # longest wait for the background dataset writer
    ),
    "data": dict(                     # synthetic ImageNet look-alike written in the background during s1
        classes=(16, 4), per_class=(128, 10), image_size=(375, 80),   # 2,048 distinct JPEGs (2% CMYK/gray/PNG)
    ),
    "s1_visualize": dict(
        budget_s=(120, 40),
        model=(VIT_FULL, VIT_TINY),
        block=(10, 4),                # FFN features of this block (0-based)
        copies=(8, 8),
        batch_features=((8, 32, 64, 128), (2, 4)),
        precisions=(("bf16", "tf32", "fp32"), ("bf16", "tf32", "fp32")),   # in this order (the guard skips last)
        steps=(dict(bf16=16, tf32=8, fp32=4), dict(bf16=2, tf32=2, fp32=2)),   # timed steps per repeat
        repeats=(dict(bf16=3, tf32=1, fp32=1), dict(bf16=2, tf32=1, fp32=1)),
        depths=((1, 5, 10), (1, 2, 4)),   # bf16, at the best batch size, to extrapolate every FFN feature
        profile_steps=(3, 2),
        ceiling_n=(8192, 256), ceiling_reps=(10, 3),
        copy_mib=(1024, 16),
    ),
    "s2_mining": dict(
        budget_s=(60, 25),
        model=(VIT_FULL, VIT_TINY),
        rows=(4096, 80),              # loader passes: the distinct files, each listed rows/files times
        device_images=(2048, 32),     # images already on the device (bench_mining.measure)
        batch_size=(256, 16),
        k=(20, 5),
        workers=(8, 1),
        repeats=(2, 1), device_repeats=(2, 2),
        precisions=(("bf16", "fp32"), ("bf16", "fp32")),
    ),
    "s3_fastpaths": dict(
        budget_s=(55, 30),
        vit=(VIT_FULL, VIT_TINY),
        cnn=(("resnet50", 224, {}), ("resnet18", 64, {})),
        rows=(1024, 40),              # evaluation passes with workers (8 batches: one per worker)
        rows_serial=(512, 20),        # passes that decode in the main process (num_workers 0)
        batch_size=(128, 16),
        workers=(8, 1),
        repeats=(2, 1),
        forward_images=(512, 32), forward_repeats=(3, 2),   # forward-only table, images on the device
    ),
    "s4_correctness": dict(
        budget_s=(45, 30),
        model=(VIT_FULL, VIT_TINY),
        tol_rows=(512, 24), k=(5, 3), logit_images=(256, 16),
        vis_blocks=((1, 5, 10), (1, 4)), vis_features=(4, 2), vis_steps=(64, 20), vis_copies=(4, 4),
        vis_jitter=(8, 8),            # as compare_precision.py (the README's figures)
        decode_rows=(64, 16),
        sync_rows=(128, 24), sync_batch=(32, 8), sync_steps=(5, 5), sync_features=(4, 2),
        workers=(8, 1),
        rms_tol=(0.02, 0.02), vis_tol=(0.10, 0.10), decode_tol_255=(1.0, 1.0),
    ),
    "s5_sae": dict(
        budget_s=(30, 15),
        model=(VIT_FULL, VIT_TINY),
        block=(9, 4), images=(1024, 16), batch_size=(256, 8), expansion=(16, 2), k=(32, 4),
        batch_tokens=(4096, 64), train_images=(256, 8),
        variants=([("resid", "bf16", 4096), ("resid", "bf16", 16384), ("resid", "tf32", 16384),
                   ("resid", "fp32", 16384), ("ffn", "bf16", 16384)],
                  [("resid", "bf16", 64), ("ffn", "fp32", 64)]),
    ),
}
SECTIONS = ["s1_visualize", "s2_mining", "s3_fastpaths", "s4_correctness", "s5_sae"]
# Reference figures quoted in the reports (not measured here).
BRIEF_FLOOR = dict(gflop_per_image_step=2 * 17.6, image_steps=3200, tflops_bf16=790.0)  # the brief's formula
GOAL_FEATURES_PER_MIN = 100.0
GOAL_MINING_RATIO = 0.75
FFN_FEATURES_B16 = 12 * 3072

log = logging.getLogger("gpu_suite")


def sizes(section: str, tiny: bool) -> dict[str, Any]:
    """One column of TABLE: the H200 sizes, or the --tiny ones."""
    return {k: v[1 if tiny else 0] for k, v in TABLE[section].items()}


# ---------------------------------------------------------------------------------------------------------------
# time guards

class Guard:
    """A section's budget: `fits(predicted)` says whether a sub-measurement may start, and records it if not."""

    def __init__(self, budget_s: float, clock: Callable[[], float] = time.monotonic):
        self.budget = float(budget_s)
        self.clock = clock
        self.t0 = clock()
        self.skipped: list[dict] = []

    def elapsed(self) -> float:
        return self.clock() - self.t0

    def left(self) -> float:
        return self.budget - self.elapsed()

    def fits(self, predicted_s: float, what: str) -> bool:
        left = self.left()
        if predicted_s <= left:
            log.debug("guard: %s predicted %.1f s, %.1f s left", what, predicted_s, left)
            return True
        reason = f"predicted {predicted_s:.1f} s > {max(left, 0):.1f} s left of the {self.budget:.0f} s budget"
        self.skipped.append({"what": what, "reason": reason})
        log.warning("skipped %s: %s", what, reason)
        return False


class Watchdog:
    """Interrupts the main thread when a section passes its hard limit, and ends the process at the global
    deadline after writing what there is (`on_deadline`)."""

    def __init__(self, deadline_s: float, on_deadline: Callable[[], None]):
        self.t0 = time.monotonic()
        self.deadline = deadline_s
        self.fired: str | None = None       # the section whose hard limit passed
        self._section_timer: threading.Timer | None = None
        self._global = threading.Timer(deadline_s, self._die, args=(on_deadline,))
        self._global.daemon = True
        self._global.start()

    def left(self) -> float:
        return self.deadline - (time.monotonic() - self.t0)

    def arm(self, name: str, limit_s: float) -> None:
        self.disarm()
        self.fired = None
        t = threading.Timer(max(limit_s, 0.01), self._interrupt, args=(name,))
        t.daemon = True
        t.start()
        self._section_timer = t

    def disarm(self) -> None:
        if self._section_timer is not None:
            self._section_timer.cancel()
            self._section_timer = None

    def _interrupt(self, name: str) -> None:
        self.fired = name
        log.error("%s passed its hard limit: interrupting it", name)
        _thread.interrupt_main()

    def _die(self, on_deadline: Callable[[], None]) -> None:
        log.error("global deadline of %.0f s reached: writing what there is and exiting", self.deadline)
        try:
            on_deadline()
        finally:
            for h in logging.getLogger().handlers + log.handlers:
                try:
                    h.flush()
                except Exception:  # noqa: BLE001
                    pass
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(3)

    def stop(self) -> None:
        self.disarm()
        self._global.cancel()


def run_section(name: str, fn: Callable[["Suite", Guard], dict], suite: "Suite", budget_s: float,
                hard_factor: float = 1.5) -> dict:
    """Run one section under its budget; whatever happens, a result dict with status and timing comes back."""
    budget = min(budget_s, max(suite.watchdog.left() - suite.reserve, 0.0)) if suite.watchdog else budget_s
    guard = Guard(budget)
    res: dict[str, Any] = {"section": name, "budget_s": round(budget, 1), "table_budget_s": budget_s}
    if budget <= 0.1:
        res.update(status="skipped", reason=f"no time left before the global deadline ({budget:.0f} s)")
        return res
    log.info("=== %s (budget %.0f s, hard limit %.0f s)", name, budget, budget * hard_factor)
    wd = suite.watchdog
    t0 = time.monotonic()
    try:
        if wd:
            wd.arm(name, budget * hard_factor)
        try:
            body = fn(suite, guard)
            res.update(body or {})
            res.setdefault("status", "partial" if guard.skipped or res.get("errors") else "ok")
        finally:
            if wd:
                wd.disarm()
    except KeyboardInterrupt:
        if wd is None or wd.fired != name:
            raise                                  # a real Ctrl-C
        res.update(status="aborted", reason=f"passed its hard limit of {budget * hard_factor:.0f} s",
                   partial=suite.partial.get(name))
        log.error("%s aborted at its hard limit", name)
    except Exception as exc:  # noqa: BLE001 - one failing section must not kill the rest
        res.update(status="error", error=f"{type(exc).__name__}: {exc}"[:600],
                   traceback=traceback.format_exc()[-4000:], partial=suite.partial.get(name))
        log.error("%s failed: %s", name, res["error"])
    if wd and wd.fired == name and res.get("status") != "aborted":
        try:                                       # the interrupt fired as the section ended: let it land here
            time.sleep(0.1)
        except KeyboardInterrupt:
            pass
    res["elapsed_s"] = round(time.monotonic() - t0, 1)
    if guard.skipped:
        res["skipped"] = guard.skipped
    suite.partial.pop(name, None)
    free_memory()
    return res


def attempt(out: dict, what: str, fn: Callable[[], Any]) -> Any:
    """fn(), or None with the error and its traceback appended to out["errors"]: one failing sub-measurement
    does not end its section."""
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001
        out.setdefault("errors", []).append({"what": what, "error": f"{type(exc).__name__}: {exc}"[:600],
                                             "traceback": traceback.format_exc()[-2500:]})
        log.error("%s failed: %s: %s", what, type(exc).__name__, str(exc)[:300])
    free_memory()
    return None


def free_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


# ---------------------------------------------------------------------------------------------------------------
# small helpers

def r(x: float | None, digits: int = 4) -> float | None:
    """x to `digits` significant digits (None and non-finite pass through as None)."""
    if x is None or not isinstance(x, (int, float)) or not math.isfinite(x):
        return None
    return float(f"{x:.{digits}g}")


def median(xs: list[float]) -> float:
    return float(statistics.median(xs))


def rms_rel(a: torch.Tensor, b: torch.Tensor) -> float:
    """RMS of (a - b) over the RMS of a, over the entries finite in both (as tests/test_runtime.py)."""
    a, b = a.double().cpu(), b.double().cpu()
    ok = torch.isfinite(a) & torch.isfinite(b)
    a, b = a[ok], b[ok]
    return float((a - b).pow(2).mean().sqrt() / a.pow(2).mean().sqrt())


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed_reps(fn: Callable[[], object], device: torch.device, reps: int, warmup: int = 1) -> list[float]:
    """Seconds of each of `reps` calls after `warmup` calls: CUDA events on a GPU, the host clock on a CPU."""
    for _ in range(warmup):
        fn()
    sync(device)
    out = []
    for _ in range(reps):
        if device.type == "cuda":
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            fn()
            b.record()
            b.synchronize()
            out.append(a.elapsed_time(b) / 1000.0)
        else:
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
    return out


def peak_gib(device: torch.device) -> float | None:
    return r(torch.cuda.max_memory_allocated(device) / 2**30, 3) if device.type == "cuda" else None


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def is_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


def with_runtime(lm, **kw):
    """The same model under another Runtime (not yet prepared)."""
    return dataclasses.replace(lm, runtime=Runtime(**kw))


def ffn_sites(lm) -> list:
    return [s for s in list_sites(lm.model).values() if s.kind == "ffn"]


def nvidia_smi() -> dict | None:
    """Clocks, power, temperature and driver of GPU 0, read-only (None where nvidia-smi is missing)."""
    q = "name,driver_version,clocks.sm,clocks.max.sm,clocks.mem,power.draw,power.limit,temperature.gpu," \
        "utilization.gpu,memory.used,memory.total"
    try:
        out = subprocess.run(["nvidia-smi", f"--query-gpu={q}", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0 or not out.stdout.strip():
        return None
    return dict(zip(q.split(","), [v.strip() for v in out.stdout.strip().splitlines()[0].split(",")]))


def describe_device(device: torch.device) -> dict:
    import timm
    import torchvision
    d = {"device": device.type, "python": platform.python_version(), "torch": torch.__version__,
         "cuda": torch.version.cuda, "timm": timm.__version__, "torchvision": torchvision.__version__,
         "cpus": os.cpu_count()}
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        d.update(name=p.name, capability=f"{p.major}.{p.minor}", sms=p.multi_processor_count,
                 memory_gib=round(p.total_memory / 2**30, 1), nvidia_smi=nvidia_smi())
    else:
        d.update(name=platform.processor() or "cpu", threads=torch.get_num_threads())
    return d


# ---------------------------------------------------------------------------------------------------------------
# host-sync probe

SYNC_TEXT = "synchroniz"     # torch: "called a synchronizing CUDA operation"
_OURS = ("/vitviz/", "/benchmarks/")


def _frame(f: traceback.FrameSummary) -> str:
    parts = Path(f.filename).parts
    short = "/".join(parts[-2:]) if len(parts) >= 2 else f.filename
    return f"{short}:{f.lineno} {f.name}"


def _where(stack: list[traceback.FrameSummary]) -> dict:
    """The innermost frame, and the innermost frame of vitviz or benchmarks, of a stack (outermost first)."""
    ours = [f for f in stack if any(o in f.filename.replace("\\", "/") for o in _OURS)
            and not f.filename.endswith("gpu_suite.py")]
    return {"where": _frame(stack[-1]) if stack else None, "library_frame": _frame(ours[-1]) if ours else None,
            "library_stack": [_frame(f) for f in ours[-4:]]}


class SyncProbe:
    """Every host sync that torch's sync debug mode reports while `fn` runs, each tagged with the number of
    forwards of `module` started so far (a pre-hook counts them), and where in the code it happened.

    With `pre` forwards before the loop and `iters` iterations of one forward each, a sync tagged
    pre+1 .. pre+iters-1 happened after one iteration's forward and before the last one's: certainly inside the
    loop. Tags pre and pre+iters are ambiguous (first iteration before its forward / setup; last iteration after
    its forward / after the loop); the counts per place tell them apart (a per-iteration sync repeats).

    mode "warn" records every sync of the whole call. mode "error" is armed at the loop's first forward and
    disarmed at the forward after its last (if any), so that setup syncs before the loop do not stop the run
    before the loop is reached: the first sync from there raises, and is reported with its place.
    """

    def __init__(self, module: torch.nn.Module, pre: int, iters: int):
        self.module, self.pre, self.iters = module, pre, iters
        self.forwards = 0
        self.events: list[dict] = []
        self._orig_show = None
        self._arm: tuple[str, str, bool] | None = None    # (mode, previous mode, cuda) while an error run is on

    def _count(self, module, inputs) -> None:
        self.forwards += 1
        if self._arm is not None:
            mode, prev, cuda = self._arm
            if self.forwards == self.pre + 1:
                self._set(mode, cuda)
            elif self.forwards == self.pre + self.iters + 1:
                self._set(prev, cuda)

    @staticmethod
    def _get(cuda: bool):
        return torch.cuda.get_sync_debug_mode() if cuda else 0

    @staticmethod
    def _set(mode, cuda: bool) -> None:
        if cuda:
            torch.cuda.set_sync_debug_mode(mode)

    def _show(self, message, category, filename, lineno, file=None, line=None):
        text = str(message)
        if SYNC_TEXT not in text:
            return self._orig_show(message, category, filename, lineno, file, line)
        ev = {"after_forwards": self.forwards, "message": text.splitlines()[0][:160]}
        ev.update(_where(traceback.extract_stack()[:-1]))
        self.events.append(ev)

    def in_loop(self, tag: int) -> bool:
        return self.pre + 1 <= tag <= self.pre + self.iters - 1

    def run(self, fn: Callable[[], object], mode: str, cuda: bool) -> dict:
        """Run fn with the sync debug mode `mode` ("warn" or "error"), restoring the previous mode after."""
        self.forwards, self.events = 0, []
        handle = self.module.register_forward_pre_hook(self._count)
        prev = self._get(cuda)
        raised = None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("always")
                self._orig_show = warnings.showwarning
                warnings.showwarning = self._show
                if mode == "error":
                    self._arm = (mode, prev, cuda)
                else:
                    self._set(mode, cuda)
                try:
                    fn()
                except RuntimeError as exc:
                    if SYNC_TEXT not in str(exc):
                        raise
                    tb = traceback.extract_tb(exc.__traceback__)
                    raised = {"after_forwards": self.forwards, "message": str(exc).splitlines()[0][:160],
                              **_where(list(tb))}
                    raised["in_loop"] = self.in_loop(raised["after_forwards"])
                finally:
                    self._arm = None
                    self._set(prev, cuda)
        finally:
            handle.remove()
        return self.report(mode, raised, cuda)

    def report(self, mode: str, raised: dict | None, cuda: bool) -> dict:
        places: dict[str, dict] = {}
        for ev in self.events:
            key = ev["library_frame"] or ev["where"] or "?"
            p = places.setdefault(key, {"count": 0, "in_loop": 0, "tags": [], "where": ev["where"],
                                        "library_stack": ev["library_stack"], "message": ev["message"]})
            p["count"] += 1
            p["in_loop"] += int(self.in_loop(ev["after_forwards"]))
            if len(p["tags"]) < 12:
                p["tags"].append(ev["after_forwards"])
        in_loop = sum(p["in_loop"] for p in places.values())
        lo, hi = self.pre + 1, self.pre + self.iters - 1
        out = {"mode": mode, "checked": cuda, "forwards": self.forwards, "loop_window": [lo, hi]}
        if mode == "error":
            out["armed_forwards"] = [lo, self.pre + self.iters + 1]
            out["first_sync"] = raised
            if raised is None:
                out["verdict"] = "no sync inside the loop"
            else:
                t, at = raised["after_forwards"], raised["library_frame"] or raised["where"]
                out["verdict"] = (f"sync inside the loop at {at}" if raised["in_loop"] else
                                  f"no sync in the first {self.iters - 1} iterations; the first came after the "
                                  f"last iteration's forward, at {at}" if t == hi + 1 else
                                  f"no sync inside the loop; the first came after it, at {at}")
            out["syncs_in_loop"] = int(bool(raised and raised["in_loop"]))
        else:
            out.update(syncs=len(self.events), syncs_in_loop=in_loop, places=places,
                       verdict="clean loop" if in_loop == 0 else f"{in_loop} syncs inside the loop")
        if not cuda:
            out["note"] = "no CUDA: the mode was not set (harness exercised only)"
        return out


# ---------------------------------------------------------------------------------------------------------------
# the suite: device, models, dataset

def _write_dataset(out_dir: str, image_size: int, per_class: int, classes: int) -> None:
    """Runs in a spawned process: the synthetic dataset (common.synthetic_index) written under out_dir."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    logging.basicConfig(level=logging.WARNING)
    synthetic_index(Path(out_dir), image_size, per_class, classes)


class Suite:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.tiny = args.tiny
        self.out = Path(args.out)
        self.device = torch.device(args.device)
        self.cuda = self.device.type == "cuda"
        self.g = sizes("global", self.tiny)
        self.reserve = self.g["reserve_s"]
        self.watchdog: Watchdog | None = None
        self.results: dict[str, dict] = {}
        self.partial: dict[str, dict] = {}     # a section's results so far (kept when it is interrupted)
        self.tmp = Path(tempfile.mkdtemp(prefix="gpu_suite_"))
        self._models: dict[tuple, Any] = {}
        self._data_proc = None
        self._index = None
        self.info = describe_device(self.device)
        self.t_start = time.monotonic()

    # dataset: written in the background while s1 runs on the GPU
    def start_dataset(self) -> None:
        d = sizes("data", self.tiny)
        self.data_sizes = d
        ctx = mp.get_context("spawn")
        self._data_t0 = time.monotonic()
        self._data_proc = ctx.Process(target=_write_dataset, daemon=True,
                                      args=(str(self.tmp / "dataset"), d["image_size"], d["per_class"],
                                            d["classes"]))
        self._data_proc.start()

    def index(self):
        """The dataset index (waits for the background writer, at most data_wait_s)."""
        if self._index is None:
            p = self._data_proc
            if p is None:
                raise RuntimeError("dataset writer not started")
            p.join(timeout=self.g["data_wait_s"])
            if p.is_alive():
                raise RuntimeError(f"dataset not written within {self.g['data_wait_s']} s of waiting")
            if p.exitcode != 0:
                raise RuntimeError(f"dataset writer failed (exit code {p.exitcode})")
            self._index = read_index(self.tmp / "dataset")
            self.data_sizes["written_s"] = round(time.monotonic() - self._data_t0, 1)
            self.data_sizes["files"] = len(self._index.split("val"))
        return self._index

    def val_index(self, rows: int):
        """The index with `rows` val rows: the first ones, or every file listed several times (same decode cost,
        files already in the page cache either way)."""
        import pandas as pd
        idx = self.index()
        df = idx.split("val")
        reps = -(-rows // len(df))
        new = pd.concat([df] * reps, ignore_index=True).iloc[:rows].reset_index(drop=True)
        return dataclasses.replace(idx, splits={**idx.splits, "val": new})

    def wnids(self) -> list[str]:
        return [synthetic_wnid(k) for k in range(sizes("data", self.tiny)["classes"])]

    def model(self, spec: tuple):
        """A random-weight timm model (built once, fp32 Runtime, on the device), classes = the dataset's wnids."""
        name, size, kw = spec
        key = (name, size)
        if key not in self._models:
            kw = DEMO_VIT if kw == "DEMO_VIT" else kw
            t0 = time.perf_counter()
            lm = random_loaded(name, size, self.wnids(), runtime=Runtime(), **kw)
            lm.prepare(self.device)
            self._models[key] = lm
            log.info("built %s at %d px in %.1f s", name, size, time.perf_counter() - t0)
        return self._models[key]

    def prepared(self, lm, **runtime):
        """`lm` under Runtime(**runtime), prepared (TF32 flags, attention kernel, layout). A CNN's weights are put
        back in the contiguous layout first when channels_last is off (Runtime.prepare never undoes NHWC)."""
        out = with_runtime(lm, **runtime)
        if lm.spec.kind == "cnn" and not out.runtime.channels_last:
            lm.model.to(memory_format=torch.contiguous_format)
        out.prepare(self.device)
        return out

    def label(self) -> dict:
        return {"device": self.info.get("name"), "device_type": self.device.type}

    def write(self, name: str, obj: dict) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / f"{name}.json").write_text(json.dumps(obj, indent=1, default=str) + "\n")


# ---------------------------------------------------------------------------------------------------------------
# s1: feature visualisation

def matmul_ceilings(device: torch.device, n: int, reps: int, copy_mib: int) -> dict:
    """Measured ceilings: n^3 matmuls on random data (bf16, tf32, fp32) in TFLOP/s, and a device copy's
    bandwidth in TB/s (bytes read + written), each the median of `reps` after warm-up."""
    out: dict[str, Any] = {"n": n, "reps": reps}
    prev = torch.backends.cuda.matmul.allow_tf32
    try:
        for name, dtype, tf32 in (("bf16", torch.bfloat16, False), ("tf32", torch.float32, True),
                                  ("fp32", torch.float32, False)):
            torch.backends.cuda.matmul.allow_tf32 = tf32
            a = torch.randn(n, n, device=device, dtype=dtype)
            b = torch.randn(n, n, device=device, dtype=dtype)
            ts = timed_reps(lambda: a @ b, device, reps, warmup=2)
            out[f"{name}_tflops"] = r(2 * n ** 3 / median(ts) / 1e12)
            del a, b
        x = torch.randn(copy_mib * 2**18, device=device)
        y = torch.empty_like(x)
        ts = timed_reps(lambda: y.copy_(x), device, reps, warmup=2)
        out["copy_tbps"] = r(2 * x.numel() * 4 / median(ts) / 1e12)
        out["copy_mib"] = copy_mib
    finally:
        torch.backends.cuda.matmul.allow_tf32 = prev
    return out


def flops_per_image_step(lm, site, device) -> float:
    """FLOPs of one image through the plain truncated forward+backward at `site` (torch's FlopCounterMode;
    matmuls, convolutions and fused attention where it has a formula for the kernel)."""
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as fc:
        plain_seconds(lm, site, 1, 1, device)
    return float(fc.get_total_flops())


def vis_row(lm, site, features: int, copies: int, steps: int, repeats: int, device) -> dict:
    """One configuration: visualisation steps vs plain truncated fwd+bwd, interleaved, median of repeats."""
    row: dict[str, Any] = {"block": site.layer, "site": site.name, "batch_features": features, "copies": copies,
                           "images_per_step": features * copies, "steps_timed": steps, "repeats": repeats}
    try:
        vis_seconds(lm, site, features, 1, copies, device)          # warm-up: kernels, handles, allocator
        plain_seconds(lm, site, features * copies, 1, device)
        reset_peak(device)
        tv, tp = [], []
        for _ in range(repeats):
            tv.append(vis_seconds(lm, site, features, steps, copies, device))
            tp.append(plain_seconds(lm, site, features * copies, steps, device))
    except Exception as exc:  # noqa: BLE001
        if not is_oom(exc):
            raise
        row["error"] = "out of memory"
    if "error" in row:
        free_memory()          # outside the handler, so the traceback's frames no longer hold the tensors
        return row
    v, p = median(tv), median(tp)
    per_feature = v / steps * 400 / features
    row.update(vis_s_per_step=r(v / steps), plain_s_per_step=r(p / steps),
               vis_s_per_step_all=[r(t / steps) for t in tv], plain_s_per_step_all=[r(t / steps) for t in tp],
               efficiency=r(p / v, 3), s_per_feature_400=r(per_feature), features_per_min=r(60 / per_feature),
               peak_gib=peak_gib(device))
    return row


def s1_visualize(suite: Suite, g: Guard) -> dict:
    c = sizes("s1_visualize", suite.tiny)
    dev = suite.device
    out: dict[str, Any] = {"label": suite.label(), "sizes": {k: v for k, v in c.items() if k != "budget_s"},
                           "recipe": {"timed_by": "bench_visualize_step.vis_seconds (start/end clean forwards "
                                                  "excluded) and plain_seconds", "extrapolated_to_steps": 400,
                                      "copies": c["copies"], "vis_settings_defaults": vis_defaults()},
                           "rows": [], "depths": []}
    suite.partial["s1_visualize"] = out
    base = suite.model(c["model"])
    depth = max(s.layer for s in ffn_sites(base)) + 1
    out["ceilings"] = ceil = matmul_ceilings(dev, c["ceiling_n"], c["ceiling_reps"], c["copy_mib"])
    fp32_lm = suite.prepared(base, precision="fp32")
    sites = list_sites(fp32_lm.model)
    blocks = sorted(set(c["depths"]) | {c["block"]})
    flops = {b: flops_per_image_step(fp32_lm, sites[f"blocks.{b}.ffn"], dev) for b in blocks}
    out["flops"] = {"per_image_step_gflop": {str(b): r(f / 1e9) for b, f in flops.items()},
                    "note": "plain truncated forward+backward (input gradients only) of one image, FlopCounterMode"}
    brief = BRIEF_FLOOR
    out["floor"] = {
        "brief_formula_tflop_per_feature_full_depth": r(brief["gflop_per_image_step"] * brief["image_steps"] / 1e3),
        "brief_formula_s_per_feature_at_block": {str(b): r(brief["gflop_per_image_step"] * brief["image_steps"]
                                                           * (b + 1) / depth / brief["tflops_bf16"] / 1e3)
                                                 for b in flops},
        "measured_tflop_per_feature": {str(b): r(f * c["copies"] * 400 / 1e12) for b, f in flops.items()},
        "measured_s_per_feature_at_790_tflops": {str(b): r(f * c["copies"] * 400 / 790e12) for b, f in flops.items()},
        "measured_features_per_min_at_790_tflops": {str(b): r(60 / (f * c["copies"] * 400 / 790e12))
                                                    for b, f in flops.items()},
        "note": "the brief's 17.6 is ViT-B/16's GMACs (multiply-adds): one forward is ~35 GFLOP, so forward+"
                "backward is ~70 GFLOP per image-step, twice the brief's formula; see measured_tflop_per_feature",
    }
    rate = {"bf16": ceil.get("bf16_tflops"), "tf32": ceil.get("tf32_tflops"), "fp32": ceil.get("fp32_tflops")}
    per_img_step: dict[str, float] = {}       # seconds per image-step (vis + plain) seen so far, per precision

    def predict(precision: str, images: int, steps: int, repeats: int, flop: float) -> float:
        """Seconds of one row: warm-ups (~2 steps each side) and repeats x (vis + plain), plus start/end
        forwards, from the rate seen so far (or the measured matmul ceiling at 40% for the first row)."""
        s = per_img_step.get(precision)
        if s is None:
            tf = (rate.get(precision) or 1.0) * 1e12 * 0.4
            s = flop / tf * 2
        return s * images * (repeats * steps + 3) * 1.15 + 0.5

    def run(lm, site, precision, features, steps, repeats, what):
        images = features * c["copies"]
        if not g.fits(predict(precision, images, steps, repeats, flops[site.layer]), what):
            return None
        row = attempt(out, what, lambda: vis_row(lm, site, features, c["copies"], steps, repeats, dev))
        if row is None:
            return None
        row["precision"] = precision
        if "error" not in row:
            per_img_step[precision] = (row["vis_s_per_step"] + row["plain_s_per_step"]) / images
            f = flops[site.layer]
            tf = rate.get(precision)
            row["mfu_vs_matmul_ceiling"] = r(f * images / row["vis_s_per_step"] / (tf * 1e12), 3) if tf else None
            row["floor_s_per_feature_400"] = r(f * c["copies"] * 400 / (tf * 1e12), 3) if tf else None
        log.info("s1 %s", json.dumps(row))
        return row

    for precision in c["precisions"]:
        lm = suite.prepared(base, precision=precision)
        site = list_sites(lm.model)[f"blocks.{c['block']}.ffn"]
        for f in c["batch_features"]:
            row = run(lm, site, precision, f, c["steps"][precision], c["repeats"][precision],
                      f"{precision} block {c['block']} batch_features {f}")
            if row:
                out["rows"].append(row)
        if precision == "bf16":
            ok = [x for x in out["rows"] if x["precision"] == "bf16" and x.get("features_per_min")]
            if ok:   # depths right after the bf16 grid: they feed the headline extrapolation
                best = max(ok, key=lambda x: x["features_per_min"])
                out["best_bf16"] = {"batch_features": best["batch_features"],
                                    "features_per_min": best["features_per_min"]}
                for b in c["depths"]:
                    if b == c["block"]:
                        out["depths"].append(best)
                        continue
                    d_site = list_sites(lm.model)[f"blocks.{b}.ffn"]
                    row = run(lm, d_site, "bf16", best["batch_features"], c["steps"]["bf16"], 1,
                              f"bf16 block {b} batch_features {best['batch_features']}")
                    if row:
                        out["depths"].append(row)
    out["extrapolation"] = extrapolate(out["depths"], depth, FFN_FEATURES_B16 if not suite.tiny else None,
                                       base, c["block"])
    bf = [x for x in out["rows"] if x["precision"] == "bf16" and x.get("features_per_min")]
    if bf:
        best = max(x["features_per_min"] for x in bf)
        out["goal"] = {"what": f">= {GOAL_FEATURES_PER_MIN:.0f} features/min at block {c['block']} in bf16",
                       "best_features_per_min": best, "met": best >= GOAL_FEATURES_PER_MIN}
    # where the time goes at the smallest and the best batch size: the GPU's busy fraction (profiler)
    out["profile"] = []
    if bf:
        lm = suite.prepared(base, precision="bf16")
        site = list_sites(lm.model)[f"blocks.{c['block']}.ffn"]
        sizes_ = sorted({min(c["batch_features"]), out.get("best_bf16", {}).get("batch_features",
                                                                                   min(c["batch_features"]))})
        for f in sizes_:
            est = predict("bf16", f * c["copies"], c["profile_steps"], 1, flops[c["block"]]) * 2 + 2
            if g.fits(est, f"profile bf16 batch_features {f}"):
                prof = attempt(out, f"profile bf16 batch_features {f}",
                               lambda: profile_vis(lm, site, f, c["copies"], c["profile_steps"], dev))
                if prof:
                    out["profile"].append(prof)
    return out


def extrapolate(depths: list[dict], n_blocks: int, total_features: int | None, lm, block: int) -> dict:
    """Seconds per feature at each block from the measured depths (least squares in blocks run = l + 1), and
    the time to visualise every FFN feature of the model at 400 steps on this device."""
    pts = [(d["block"] + 1, d["s_per_feature_400"]) for d in depths if d.get("s_per_feature_400")]
    if len(pts) < 2:
        return {"note": "fewer than two depths measured"}
    x = np.array([p[0] for p in pts], float)
    y = np.array([p[1] for p in pts], float)
    slope, icpt = np.polyfit(x, y, 1)
    channels = {s.layer: s.channels for s in ffn_sites(lm)}
    per_block = {lyr: max(icpt + slope * (lyr + 1), 0.0) for lyr in range(n_blocks)}
    total_s = sum(per_block[lyr] * channels[lyr] for lyr in range(n_blocks))
    n = sum(channels.values())
    out = {"fit_s_per_feature": f"{icpt:.4g} + {slope:.4g} x (block + 1)",
           "points": [{"blocks_run": int(a), "s_per_feature_400": r(b)} for a, b in pts],
           "features": n, "hours_all_ffn_features": r(total_s / 3600, 3),
           "mean_s_per_feature": r(total_s / n),
           "note": f"one device, 400 steps x 8 copies, bf16, the best batch size at block {block}; linear in the "
                   "blocks run between and beyond the measured depths; the authors' code runs "
                   "one feature per process (reported: days on an RTX 4090; up to 90 s per feature on an RTX "
                   "2080 Ti)"}
    if total_features and n != total_features:
        out["warning"] = f"model has {n} FFN features, expected {total_features}"
    return out


def profile_vis(lm, site, features: int, copies: int, steps: int, device) -> dict:
    """A torch.profiler trace of `steps` visualisation steps (plus the start/end forwards): the kernels' total
    time over the wall time is the GPU's busy fraction; the top ops by device and by CPU time."""
    from torch.profiler import ProfilerActivity, profile
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    vis_seconds(lm, site, features, 1, copies, device)
    with profile(activities=acts) as prof:
        wall = seconds(lambda: vis_seconds(lm, site, features, steps, copies, device), device)
    ka = prof.key_averages()

    def dev_t(e) -> float:
        return float(getattr(e, "self_device_time_total", getattr(e, "self_cuda_time_total", 0.0)) or 0.0)
    busy = sum(dev_t(e) for e in ka) / 1e6
    top_dev = sorted(ka, key=dev_t, reverse=True)[:8]
    top_cpu = sorted(ka, key=lambda e: e.self_cpu_time_total, reverse=True)[:8]
    return {"precision": lm.runtime.precision, "batch_features": features, "copies": copies, "steps": steps,
            "wall_s_profiled": r(wall), "device_busy_s": r(busy),
            "busy_fraction": r(busy / wall, 3) if device.type == "cuda" else None,
            "top_device_ms": [[e.key[:60], r(dev_t(e) / 1e3, 3), e.count] for e in top_dev if dev_t(e) > 0],
            "top_cpu_ms": [[e.key[:60], r(e.self_cpu_time_total / 1e3, 3), e.count] for e in top_cpu],
            "note": "profiled run (the profiler adds CPU overhead): a busy fraction well under 1 means the host "
                    "cannot launch work as fast as the GPU does it"}


# ---------------------------------------------------------------------------------------------------------------
# s2: mining

@torch.no_grad()
def plain_over_loader(lm, index, bs: int, device, forward: bool = True) -> int:
    """Plain inference (forward_features, no hooks) over every val row through the library's loader; with
    forward=False the loader alone (decode, crop, copy, normalise)."""
    fwd = image_forward(lm.model)
    n = 0
    for b in batches(lm, index, "val", range(len(index.split("val"))), bs, device):
        if len(b):
            if forward:
                with lm.autocast(device):
                    fwd(b.x)
            n += len(b)
    return n


def s2_mining(suite: Suite, g: Guard) -> dict:
    c = sizes("s2_mining", suite.tiny)
    dev = suite.device
    out: dict[str, Any] = {"label": suite.label(), "sizes": {k: v for k, v in c.items() if k != "budget_s"},
                           "loader": [], "on_device": []}
    suite.partial["s2_mining"] = out
    base = suite.model(c["model"])
    sites = ffn_sites(base)
    out["features"] = sum(s.channels for s in sites)
    idx = suite.val_index(c["rows"])
    n = len(idx.split("val"))
    out["sizes"].update(distinct_files=suite.data_sizes.get("files"), image_size=suite.data_sizes["image_size"])
    bs, k = c["batch_size"], c["k"]
    state: dict[str, Any] = {"loader_spent": None, "x_dev": None}

    def loader_passes(lm, precision: str) -> float | None:
        """Loader alone, plain inference and mining over the same loader, interleaved; seconds per image of
        the slowest (for the on-device prediction)."""
        row: dict[str, Any] = {"precision": precision, "images": n, "batch_size": bs, "workers": c["workers"],
                               "k": k, "runs": {"loader_only": [], "plain": [], "mining": []}}
        t0 = time.monotonic()
        warm = suite.val_index(min(n, 2 * bs * max(c["workers"], 1)))
        plain_over_loader(lm, warm, bs, dev)                                   # warm-up: kernels, workers
        mine(lm, sites, warm, "val", k=k, batch_size=bs, device=dev)
        for _ in range(c["repeats"]):      # interleaved, so all three see the same machine
            row["runs"]["loader_only"].append(seconds(lambda: plain_over_loader(lm, idx, bs, dev, False), dev))
            row["runs"]["plain"].append(seconds(lambda: plain_over_loader(lm, idx, bs, dev), dev))
            reset_peak(dev)
            res = {}
            row["runs"]["mining"].append(seconds(lambda: res.update(m=mine(lm, sites, idx, "val", k=k,
                                                                            batch_size=bs, device=dev)), dev))
            row["mining_peak_gib"] = peak_gib(dev)
            row["mined_images"], row["skipped"] = res["m"].images, res["m"].skipped
        state["loader_spent"] = time.monotonic() - t0
        t = {key: median(v) for key, v in row["runs"].items()}
        row.update({f"{key}_img_s": r(n / v) for key, v in t.items()})
        row["mining_over_plain"] = r(t["plain"] / t["mining"], 3)
        row["runs"] = {key: [r(x) for x in v] for key, v in row["runs"].items()}
        out["loader"].append(row)
        log.info("s2 loader %s", json.dumps(row))
        return max(t.values()) / n

    def on_device(lm, precision: str, per_image: float | None) -> None:
        """bench_mining.measure: plain inference vs mining of every FFN feature, the images already on the device."""
        if state["x_dev"] is None:   # the same images, decoded once, kept on the device as normalised fp32
            m = min(c["device_images"], n)
            state["x_dev"] = torch.cat([b.x for b in batches(lm, idx, "val", range(m), bs, dev)])
        x_dev = state["x_dev"]
        # plain + mining, (repeats + warm-up), no slower per image than the loader-bound passes
        est = (per_image or (1 / 1000 if suite.cuda else 1 / 100)) * len(x_dev) * 2 * (c["device_repeats"] + 1) + 1
        if not g.fits(est, f"on-device plain vs mining {precision}"):
            return
        mining_measure(lm, x_dev[: 2 * bs], SimpleNamespace(batch_size=bs, k=k, repeats=1), dev)   # warm-up
        reset_peak(dev)
        plain, mined = mining_measure(lm, x_dev, SimpleNamespace(batch_size=bs, k=k, repeats=c["device_repeats"]),
                                      dev)
        drow = {"precision": precision, "images": len(x_dev), "batch_size": bs, "k": k,
                "statistic": f"best of {c['device_repeats']} (bench_mining.measure)",
                "plain_img_s": r(len(x_dev) / plain), "mining_img_s": r(len(x_dev) / mined),
                "mining_over_plain": r(plain / mined, 3), "peak_gib": peak_gib(dev)}
        out["on_device"].append(drow)
        log.info("s2 on device %s", json.dumps(drow))

    for precision in c["precisions"]:
        lm = suite.prepared(base, precision=precision, num_workers=c["workers"], pin_memory=True)
        if state["loader_spent"] is None:   # 3 passes x repeats at ~1,500 img/s (H200 host), ~150 (tiny, CPU)
            est = 3 * c["repeats"] * (n / (1500 if suite.cuda else 150) + 1.0)
        else:                               # fp32 may be model-bound where bf16 was loader-bound: twice as long
            est = state["loader_spent"] * 2.0
        per_image = None
        if g.fits(est, f"loader passes {precision}"):
            per_image = attempt(out, f"loader passes {precision}", lambda: loader_passes(lm, precision))
        attempt(out, f"on-device plain vs mining {precision}", lambda: on_device(lm, precision, per_image))
    state.clear()
    out["goal"] = {"what": f"mining / plain inference throughput >= {GOAL_MINING_RATIO}",
                   "loader": {x["precision"]: x["mining_over_plain"] for x in out["loader"]},
                   "on_device": {x["precision"]: x["mining_over_plain"] for x in out["on_device"]}}
    vals = [v for part in ("loader", "on_device") for v in out["goal"][part].values() if v is not None]
    out["goal"]["met"] = bool(vals) and min(vals) >= GOAL_MINING_RATIO
    return out


# ---------------------------------------------------------------------------------------------------------------
# s3: fast paths

def s3_fastpaths(suite: Suite, g: Guard) -> dict:
    c = sizes("s3_fastpaths", suite.tiny)
    dev, cuda = suite.device, suite.cuda
    W = c["workers"]
    out: dict[str, Any] = {"label": suite.label(), "sizes": {k: v for k, v in c.items() if k != "budget_s"},
                           "evaluation": [], "forward_only": []}
    suite.partial["s3_fastpaths"] = out
    vit, cnn = suite.model(c["vit"]), suite.model(c["cnn"])
    idx, idx_serial = suite.val_index(c["rows"]), suite.val_index(c["rows_serial"])
    none = dict(precision="fp32", fused_attention=False, channels_last=False, num_workers=0, pin_memory=False,
                device_decode=False)
    base = dict(none, num_workers=W, pin_memory=True)       # model switches need the loader out of the way
    bf = dict(base, precision="bf16")
    every = dict(precision="bf16", fused_attention=True, channels_last=True, num_workers=W, pin_memory=True,
                 device_decode=cuda)
    rows = [  # (name, model, index, off, on, what the base is)
        ("precision bf16 vs fp32", vit, idx, base, dict(base, precision="bf16")),
        ("precision tf32 vs fp32", vit, idx, base, dict(base, precision="tf32")),
        ("fused_attention on vs off", vit, idx, base, dict(base, fused_attention=True)),
        ("channels_last on vs off (CNN, fp32)", cnn, idx, base, dict(base, channels_last=True)),
        ("channels_last on vs off (CNN, bf16)", cnn, idx, bf, dict(bf, channels_last=True)),
        ("device_decode on vs off (bf16)", vit, idx, bf, dict(bf, device_decode=True)),
        (f"pin_memory on vs off (bf16, {W} workers)", vit, idx, dict(bf, pin_memory=False), bf),
        (f"num_workers {W} vs 0 (bf16)", vit, idx_serial, dict(bf, num_workers=0), bf),
        ("all fast paths vs none (ViT)", vit, idx_serial, none, every),
    ]
    if not cuda and not suite.tiny:   # nothing to see on a CPU (--tiny runs them anyway, to test the paths)
        rows = [x for x in rows if "tf32" not in x[0] and "pin_memory" not in x[0]]
    # first, forward only with the images on the device: what each model-side switch does when the loader is out
    # of the way; it also warms up every model configuration the evaluation rows below use (same batch size)
    fwd_rows = [("ViT fp32, explicit attention", vit, dict(none)),
                ("ViT fp32, fused attention", vit, dict(none, fused_attention=True)),
                ("ViT tf32, fused attention", vit, dict(none, fused_attention=True, precision="tf32")),
                ("ViT bf16, explicit attention", vit, dict(none, precision="bf16")),
                ("ViT bf16, fused attention", vit, dict(none, fused_attention=True, precision="bf16")),
                ("CNN fp32, NCHW", cnn, dict(none)),
                ("CNN fp32, channels-last", cnn, dict(none, channels_last=True)),
                ("CNN bf16, NCHW", cnn, dict(none, precision="bf16")),
                ("CNN bf16, channels-last", cnn, dict(none, precision="bf16", channels_last=True))]
    if not cuda and not suite.tiny:
        fwd_rows = [x for x in fwd_rows if "tf32" not in x[0]]
    xs: dict[int, torch.Tensor] = {}
    per_img: dict[str, float] = {}
    for name, model, rt in fwd_rows:
        m = c["forward_images"]
        size = model.spec.input_size[1]
        guess = per_img.get(model.spec.name, 1 / 2000 if cuda else 1 / 100)
        if not g.fits(guess * m * (c["forward_repeats"] + 1) * 1.3 + 0.5, f"forward only: {name}"):
            continue

        def fwd_row(name=name, model=model, rt=rt, m=m, size=size) -> None:
            if size not in xs:
                xs[size] = torch.rand(m, 3, size, size, device=dev) * 4 - 2    # normalised-image range
            x = xs[size]
            lm = suite.prepared(model, **rt)
            bs = c["batch_size"]

            @torch.no_grad()
            def fwd():
                for i in range(0, m, bs):
                    lm.classify(x[i:i + bs])
            ts = timed_reps(fwd, dev, c["forward_repeats"], warmup=1)
            per_img[model.spec.name] = max(per_img.get(model.spec.name, 0), median(ts) / m)
            out["forward_only"].append({"what": name, "model": model.spec.name, "images": m, "batch_size": bs,
                                        "runtime": rt, "img_s": r(m / median(ts)),
                                        "img_s_all": [r(m / t) for t in ts]})
        attempt(out, f"forward only: {name}", fwd_row)
    if cnn.spec.kind == "cnn":
        cnn.model.to(memory_format=torch.contiguous_format)
    del xs
    seen_s: list[float] = []     # seconds per image of the passes so far

    for name, model, index, off, on in rows:
        n = len(index.split("val"))
        per = max(seen_s) if seen_s else (1 / 300 if suite.cuda else 1 / 50)
        serial = off["num_workers"] == 0 or on["num_workers"] == 0
        est = (n * (1 / 250 if cuda else 1 / 40) + n * per + 1.5) * c["repeats"] if serial else \
            (2 * n * per + 2.0) * c["repeats"]
        if not g.fits(est, name):
            continue

        def eval_row(name=name, model=model, index=index, off=off, on=on, n=n, serial=serial) -> None:
            t0 = time.monotonic()
            offs, ons = [], []
            try:
                for _ in range(c["repeats"]):   # one repeat per call: the CNN is back to NCHW before each "off"
                    lm_off = suite.prepared(model, **off)
                    _, a, b = fastpath_compare(name, lm_off, index, Runtime(**off), Runtime(**on),
                                               SimpleNamespace(repeats=1, batch_size=c["batch_size"]), dev)
                    offs.append(a)
                    ons.append(b)
            finally:
                if model.spec.kind == "cnn":
                    model.model.to(memory_format=torch.contiguous_format)
            o, f = max(offs), max(ons)          # best of the repeats, as bench_fastpaths
            row = {"switch": name, "model": model.spec.name, "images": n, "batch_size": c["batch_size"],
                   "off": dict(off), "on": dict(on), "off_img_s": r(o), "on_img_s": r(f), "speedup": r(f / o, 3),
                   "off_all": [r(x) for x in offs], "on_all": [r(x) for x in ons]}
            if not serial:
                seen_s.append(1 / min(offs + ons))
            out["evaluation"].append(row)
            log.info("s3 %s: %.1f -> %.1f img/s (%.2fx) in %.1f s", name, o, f, f / o, time.monotonic() - t0)
        attempt(out, name, eval_row)
    out["evaluation_note"] = ("evaluate() over the synthetic 375 px JPEGs; base runtime for the model switches: "
                              f"fp32, fused attention off, channels-last off, {W} workers, pinned memory; "
                              "bench_fastpaths.compare with one repeat per call, the best of the calls; every "
                              "model configuration warmed up by the forward-only table first")

    return out


# ---------------------------------------------------------------------------------------------------------------
# s4: correctness on the device

def truncated_copy(index, row: int, fraction: float, name: str) -> Path:
    """A copy of val row `row`'s file cut to `fraction` of its bytes, next to the dataset (not under --out)."""
    src = index.image_path(index.split("val")["path"].iloc[row])
    data = Path(src).read_bytes()
    dst = index.root / name
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


def s4_correctness(suite: Suite, g: Guard) -> dict:
    c = sizes("s4_correctness", suite.tiny)
    dev, cuda = suite.device, suite.cuda
    out: dict[str, Any] = {"label": suite.label(), "sizes": {k: v for k, v in c.items() if k != "budget_s"}}
    suite.partial["s4_correctness"] = out
    base = suite.model(c["model"])
    sites = ffn_sites(base)
    W = c["workers"]
    depth = max(s.layer for s in sites) + 1

    def step(name: str, est: float, fn: Callable[[], dict]) -> None:
        if not g.fits(est, name):
            return
        t0 = time.monotonic()
        try:
            out[name] = fn()
        except Exception as exc:  # noqa: BLE001 - record and go on to the next check
            out[name] = {"error": f"{type(exc).__name__}: {exc}"[:600], "traceback": traceback.format_exc()[-3000:]}
            free_memory()
        out[name]["seconds"] = r(time.monotonic() - t0, 3)
        log.info("s4 %s: %s", name, json.dumps(out[name], default=str)[:600])

    # -- host syncs inside the loops (torch.cuda.set_sync_debug_mode), warn (all places) and error (first one)
    def sync_mining(device_decode: bool = False) -> dict:
        idx = suite.val_index(c["sync_rows"])
        lm = suite.prepared(base, precision="bf16", num_workers=W, pin_memory=True, device_decode=device_decode)
        nb = -(-c["sync_rows"] // c["sync_batch"])
        mine(lm, sites, idx, "val", k=c["k"], batch_size=c["sync_batch"], device=dev)   # warm-up
        sync(dev)
        probe = SyncProbe(lm.model.patch_embed if hasattr(lm.model, "patch_embed") else lm.model, 0, nb)
        res = {"batches": nb, "images": c["sync_rows"], "runtime": dataclasses.asdict(lm.runtime)}
        for mode in (("warn", "error") if not device_decode else ("warn",)):
            res[mode] = probe.run(lambda: mine(lm, sites, idx, "val", k=c["k"], batch_size=c["sync_batch"],
                                               device=dev), mode, cuda)
        return res

    def sync_visualize() -> dict:
        lm = suite.prepared(base, precision="bf16")
        b = min(depth - 1, 10)
        targets = [Target(f"blocks.{b}.ffn", i) for i in range(c["sync_features"])]
        cfg = VisSettings(steps=c["sync_steps"], batch_features=c["sync_features"], copies=8)
        visualize(lm, targets, VisSettings(steps=1, batch_features=c["sync_features"], copies=8), device=dev)
        sync(dev)
        pre = 2 if cfg.reduce == "sum" else 1          # clean forwards before the loop (start objective)
        probe = SyncProbe(lm.model.patch_embed if hasattr(lm.model, "patch_embed") else lm.model, pre,
                          c["sync_steps"])
        res = {"steps": c["sync_steps"], "batch_features": c["sync_features"], "block": b}
        for mode in ("warn", "error"):
            res[mode] = probe.run(lambda: visualize(lm, targets, cfg, device=dev), mode, cuda)
        return res

    def sync_evaluate() -> dict:
        idx = suite.val_index(c["sync_rows"])
        lm = suite.prepared(base, precision="bf16", num_workers=W, pin_memory=True)
        nb = -(-c["sync_rows"] // c["sync_batch"])
        probe = SyncProbe(lm.model.patch_embed if hasattr(lm.model, "patch_embed") else lm.model, 0, nb)
        evaluate(lm, idx, "val", batch_size=c["sync_batch"], device=dev)
        return {"batches": nb, "warn": probe.run(lambda: evaluate(lm, idx, "val", batch_size=c["sync_batch"],
                                                                  device=dev), "warn", cuda)}

    step("sync_mining", 6 if cuda else 8, sync_mining)
    step("sync_visualize_5_steps", 6, sync_visualize)
    step("sync_evaluate", 4, sync_evaluate)
    step("sync_mining_device_decode", 5, lambda: sync_mining(device_decode=True))

    # -- bf16 against fp32, within the README's tolerances
    def tol_mining() -> dict:
        idx = suite.val_index(c["tol_rows"])
        res = {}
        for p in ("fp32", "bf16"):
            lm = suite.prepared(base, precision=p, num_workers=W, pin_memory=True)
            res[p] = mine(lm, sites, idx, "val", k=c["k"], batch_size=64, device=dev)
        a, b = res["fp32"], res["bf16"]
        err = rms_rel(a.values, b.values)
        same_top1 = float((a.indices[0] == b.indices[0]).float().mean())
        return {"images": a.images, "features": a.values.shape[1], "k": c["k"], "rms_rel": r(err),
                "tolerance": c["rms_tol"], "pass": 0 < err <= c["rms_tol"],
                "top1_same_fraction": r(same_top1), "note": "0 < error: bf16 really ran"}

    def tol_logits() -> dict:
        idx = suite.val_index(c["logit_images"])
        lm = suite.prepared(base, precision="fp32", num_workers=W, pin_memory=True)
        x = torch.cat([b.x for b in batches(lm, idx, "val", range(c["logit_images"]), 64, dev)])
        res = {}
        with torch.no_grad():
            ref = lm.classify(x).double()
            for p in ("bf16", "tf32"):
                if p == "tf32" and not cuda and not suite.tiny:
                    continue
                y = suite.prepared(base, precision=p).classify(x)
                e = rms_rel(ref, y)
                res[p] = {"rms_rel": r(e), "dtype": str(y.dtype)}
            suite.prepared(base, precision="fp32")
        res["bf16"]["pass"] = 0 < res["bf16"]["rms_rel"] <= c["rms_tol"] and res["bf16"]["dtype"] == "torch.float32"
        res.update(images=len(x), tolerance=c["rms_tol"])
        return res

    def tol_visualize() -> dict:
        targets = [Target(f"blocks.{b}.ffn", 7 + 11 * i) for b in c["vis_blocks"] for i in range(c["vis_features"])]
        cfg = VisSettings(steps=c["vis_steps"], batch_features=c["vis_features"], copies=c["vis_copies"],
                           jitter=c["vis_jitter"])
        va = visualize(suite.prepared(base, precision="fp32"), targets, cfg, device=dev)
        vb = visualize(suite.prepared(base, precision="bf16"), targets, cfg, device=dev)
        rows = []
        for t, a, b in zip(targets, va, vb):
            gain = a.objective_final - a.objective_start
            rel = abs(b.objective_final - a.objective_final) / max(abs(gain), 1e-12)
            rows.append({"site": t.site, "feature": t.feature, "fp32_start": r(a.objective_start),
                         "fp32_final": r(a.objective_final), "bf16_final": r(b.objective_final),
                         "rel_to_gain": r(rel, 3), "gain_positive": gain > 0,
                         "images_differ": bool(not np.array_equal(a.image, b.image))})
        rels = [x["rel_to_gain"] for x in rows]
        return {"steps": c["vis_steps"], "copies": c["vis_copies"], "jitter": c["vis_jitter"],
                "tolerance": c["vis_tol"],
                "median_rel": r(median(rels), 3), "max_rel": r(max(rels), 3),
                "pass": all(x["rel_to_gain"] is not None and x["rel_to_gain"] <= c["vis_tol"] for x in rows)
                and all(x["images_differ"] for x in rows),
                "note": "rel = |bf16 final - fp32 final| / |fp32 final - fp32 start| of the clean objective; with "
                        "random weights the clean objective can fall while the augmented one rises "
                        "(gain_positive false), which does not void the comparison; images_differ: bf16 ran",
                "targets": rows}

    step("bf16_mined_statistics", 10 if cuda else 6, tol_mining)
    step("bf16_logits", 4, tol_logits)
    step("bf16_visualisation", 15 if cuda else 8, tol_visualize)

    # -- nvJPEG (device_decode) against PIL on the same files
    def decode_vs_pil() -> dict:
        idx = suite.val_index(c["decode_rows"])
        df = idx.split("val")
        paths = [idx.image_path(p) for p in df["path"]]
        payloads = [read_encoded(p) for p in paths]
        jpeg = [i for i, p in enumerate(payloads) if p.dim() == 1]
        decoded = decode_images([payloads[i] for i in jpeg], dev)
        diffs, maxes, failed = [], [], 0
        for i, img in zip(jpeg, decoded):
            if img is None:
                failed += 1
                continue
            ref = torch.from_numpy(np.array(load_rgb(paths[i]))).permute(2, 0, 1)
            if tuple(img.shape) != tuple(ref.shape):
                failed += 1
                continue
            d = (img.cpu().int() - ref.int()).abs()
            diffs.append(float(d.float().mean()))
            maxes.append(int(d.max()))
        res = {"files": len(paths), "jpeg_payloads": len(jpeg), "pil_payloads": len(paths) - len(jpeg),
               "decode_failed": failed, "decoder": "nvJPEG (torchvision decode_jpeg on cuda)" if cuda else
               "libjpeg (torchvision decode_jpeg on cpu)",
               "mean_abs_diff_255": r(float(np.mean(diffs)), 3) if diffs else None,
               "worst_image_mean_abs_diff_255": r(max(diffs), 3) if diffs else None,
               "max_abs_diff_255": max(maxes) if maxes else None}
        # the whole crop path: device_decode on vs off, same rows, [0, 1] crops
        runs = {}
        for dd in (False, True):
            lm = suite.prepared(base, precision="fp32", num_workers=W, pin_memory=True, device_decode=dd)
            got = list(batches(lm, idx, "val", range(len(df)), 16, dev, unit=True))
            runs[dd] = (torch.cat([b.x for b in got]), torch.cat([b.rows for b in got]), sum(b.skipped for b in got))
        (xa, ra, sa), (xb, rb, sb) = runs[False], runs[True]
        same_rows = torch.equal(ra, rb)
        crop_mad = float((xa - xb).abs().mean()) * 255 if same_rows and xa.shape == xb.shape else None
        res["crop_path"] = {"rows_same": same_rows, "skipped_pil": sa, "skipped_device": sb,
                            "mean_abs_diff_255": r(crop_mad, 3), "tolerance_255": c["decode_tol_255"],
                            "pass": crop_mad is not None and crop_mad <= c["decode_tol_255"]}
        return res

    step("device_decode_vs_pil", 6, decode_vs_pil)

    # -- a truncated JPEG through device_decode: skipped and counted, never a crash (last: nvJPEG may misbehave)
    def truncated() -> dict:
        idx = suite.index()
        df = idx.split("val")
        row = next(i for i, p in enumerate(df["path"]) if read_encoded(idx.image_path(p)).dim() == 1)
        bad = truncated_copy(idx, row, 0.5, "truncated_half.JPEG")
        good = idx.image_path(df["path"].iloc[row])
        res: dict[str, Any] = {"file": "a JPEG cut to half its bytes"}
        try:
            d = decode_images([read_encoded(good), read_encoded(bad), read_encoded(good)], dev)
            res["decode_images"] = {"returned": ["None" if t is None else list(t.shape) for t in d]}
            if d[1] is not None and d[0] is not None and d[1].shape == d[0].shape:
                res["decode_images"]["mean_abs_diff_vs_intact_255"] = r(float((d[1].float() - d[0].float())
                                                                                .abs().mean()), 3)
        except Exception as exc:  # noqa: BLE001
            res["decode_images"] = {"raised": f"{type(exc).__name__}: {exc}"[:400]}
        import pandas as pd
        rows = df.iloc[: c["decode_rows"]].copy()
        bad_row = rows.iloc[[0]].copy()
        bad_row["path"] = bad.name
        tdf = pd.concat([rows.iloc[:3], bad_row, rows.iloc[3:]], ignore_index=True)
        tidx = dataclasses.replace(idx, splits={**idx.splits, "val": tdf})
        res["rows"] = len(tdf)
        for label, dd in (("pil", False), ("device_decode", True)):
            lm = suite.prepared(base, precision="bf16", num_workers=W, pin_memory=True, device_decode=dd)
            try:
                e = evaluate(lm, tidx, "val", batch_size=16, device=dev)
                res[f"evaluate_{label}"] = {"images": e.get("images"), "skipped": e.get("skipped")}
            except Exception as exc:  # noqa: BLE001
                res[f"evaluate_{label}"] = {"raised": f"{type(exc).__name__}: {exc}"[:400]}
            try:
                m = mine(lm, sites[:1], tidx, "val", k=2, batch_size=16, device=dev)
                res[f"mine_{label}"] = {"images": m.images, "skipped": m.skipped}
            except Exception as exc:  # noqa: BLE001
                res[f"mine_{label}"] = {"raised": f"{type(exc).__name__}: {exc}"[:400]}
        dd = [res.get("evaluate_device_decode", {}), res.get("mine_device_decode", {})]
        res["pass"] = all(x.get("skipped") == 1 and x.get("images") == len(tdf) - 1 for x in dd)
        try:   # is the device still usable after it?
            res["device_ok_after"] = float(torch.ones(4, device=dev).sum().item()) == 4.0
        except Exception as exc:  # noqa: BLE001
            res["device_ok_after"] = f"{type(exc).__name__}: {exc}"[:300]
        return res

    step("truncated_jpeg", 8, truncated)
    checks = {k: v.get("pass") for k, v in out.items() if isinstance(v, dict) and "pass" in v}
    checks["crop_path"] = out.get("device_decode_vs_pil", {}).get("crop_path", {}).get("pass")
    out["checks"] = checks
    return out


# ---------------------------------------------------------------------------------------------------------------
# s5: SAE training throughput (placeholder)

def s5_sae(suite: Suite, g: Guard) -> dict:
    if importlib.util.find_spec("vitviz.sae") is None:
        return {"status": "skipped", "reason": "skipped: no vitviz.sae"}
    c = sizes("s5_sae", suite.tiny)
    dev = suite.device
    sae = importlib.import_module("vitviz.sae")
    out: dict[str, Any] = {"label": suite.label(), "sizes": {k: v for k, v in c.items() if k != "budget_s"},
                           "vitviz_sae_names": sorted(n for n in dir(sae) if not n.startswith("_"))[:40]}
    # the baseline half: plain bf16 inference up to block `block`, tokens per second, images on the device
    lm = suite.prepared(suite.model(c["model"]), precision="bf16")
    site = list_sites(lm.model)[f"blocks.{c['block']}.ffn"]
    m, bs = c["images"], c["batch_size"]
    x = torch.rand(m, 3, lm.spec.input_size[1], lm.spec.input_size[2], device=dev) * 4 - 2
    fwd = image_forward(lm.model)
    tokens = {}

    @torch.no_grad()
    def run():
        with Recorder(lm.model, [site.module], stop_after=site.block) as rec:
            for i in range(0, m, bs):
                with lm.autocast(dev):
                    o = rec.run(fwd, x[i:i + bs])
                tokens["n"] = site.patch_tokens(o[site.module], len(x[i:i + bs])).shape[1]
    ts = timed_reps(run, dev, 3, warmup=1)
    out["plain_inference_tokens_s"] = r(m * tokens["n"] / median(ts))
    # the same forwards, their patch tokens streamed straight into SAE training (the train_sae stage's work),
    # with the SAE's products in fp32, tf32 and bf16 autocast; a profile of bf16 steps names the top kernels
    mt = c["train_images"]

    def trainer_for(d, precision, batch_tokens):
        cfg = sae.SAESettings(expansion=c["expansion"], k=c["k"], batch_tokens=batch_tokens, tokens=10**9,
                              lr=4e-4, warmup_steps=10, dead_tokens=10**6)
        return sae.SAETrainer(sae.SparseAutoencoder(d, cfg).to(dev), bf16=precision == "bf16")

    def train_fn(trainer, where):
        d, n_tok = trainer.sae.input_dim, trainer.settings.batch_tokens

        def train():
            with Recorder(lm.model, [where.module], stop_after=where.block) as rec:
                for i in range(0, mt, bs):
                    with torch.no_grad(), lm.autocast(dev):
                        o = rec.run(fwd, x[i:i + bs])
                    tok = where.patch_tokens(o[where.module], len(x[i:i + bs])).reshape(-1, d)
                    for chunk in tok.split(n_tok):
                        trainer.step(chunk)
        return train
    # the residual stream after block `block` (768-d for ViT-B/16: the usual SAE site) and the FFN site (3072-d)
    resid = type(site)(f"blocks.{c['block']}.resid", "resid", c["block"], site.block, site.block,
                       lm.model.embed_dim if hasattr(lm.model, "embed_dim") else site.channels // 4, site.prefix)
    out["sae"] = {"expansion": c["expansion"], "k": c["k"], "images": mt, "forward": "bf16 autocast"}
    out["variants"] = {}
    for where, precision, n_tok in c["variants"]:
        st = resid if where == "resid" else site
        name = f"{where} {st.channels}->{st.channels * c['expansion']} {precision} batch {n_tok}"
        if not g.fits(3.0, f"SAE training {name}"):
            continue
        tf32 = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
        try:
            tt = timed_reps(train_fn(trainer_for(st.channels, precision, n_tok), st), dev, 1, warmup=1)
        finally:
            torch.backends.cuda.matmul.allow_tf32 = tf32
        out["variants"][name] = {"tokens_s": r(mt * tokens["n"] / median(tt)),
                                 "ratio_to_inference": r((mt * tokens["n"] / median(tt))
                                                         / (m * tokens["n"] / median(ts)))}
    best = max(out["variants"].items(), key=lambda kv: kv[1]["tokens_s"], default=(None, None))
    if best[0] is not None:
        out["sae_training_tokens_s"] = best[1]["tokens_s"]
        out["ratio_training_to_inference"] = best[1]["ratio_to_inference"]
        out["best_precision"] = best[0]
    if dev.type == "cuda" and g.fits(3.0, "SAE profile"):
        from torch.profiler import ProfilerActivity, profile
        trainer = trainer_for(resid.channels, "bf16", 16384)
        chunk = torch.randn(16384, resid.channels, device=dev)
        for _ in range(3):
            trainer.step(chunk)
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            for _ in range(5):
                trainer.step(chunk)
            torch.cuda.synchronize()
        table = prof.key_averages().table(sort_by="cuda_time_total", row_limit=12)
        out["profile_bf16_5_steps"] = table.splitlines()[:20]
    out["status"] = "ok"
    return out


# ---------------------------------------------------------------------------------------------------------------
# summary

def headline(results: dict[str, dict]) -> list[str]:
    """The short table printed last (a section whose numbers cannot be formatted says so and the rest go on)."""
    lines: list[str] = []
    for name, fn in (("s1_visualize", _head_s1), ("s2_mining", _head_s2), ("s3_fastpaths", _head_s3),
                     ("s4_correctness", _head_s4), ("s5_sae", _head_s5)):
        try:
            fn(results.get(name, {}), lines)
        except Exception as exc:  # noqa: BLE001
            lines.append(f"  ({name}: table line failed: {type(exc).__name__}: {exc}; see {name}.json)")
    for name, res in results.items():
        if res.get("status") in ("error", "aborted"):
            lines.append(f"!! {name}: {res['status']}: {res.get('error') or res.get('reason')}")
        for s in res.get("skipped", []) if isinstance(res.get("skipped"), list) else []:
            lines.append(f"   {name} skipped {s['what']}: {s['reason']}")
        for e in res.get("errors", []) if isinstance(res.get("errors"), list) else []:
            lines.append(f"!! {name}: {e['what']}: {e['error'].splitlines()[0][:150]}")
        for k, v in res.items():                  # s4's checks record their own errors
            if isinstance(v, dict) and isinstance(v.get("error"), str) and k not in ("label", "sizes"):
                lines.append(f"!! {name}: {k}: {str(v['error']).splitlines()[0][:150]}")
    if IMPORT_ERRORS:
        lines.append(f"!! import errors: {', '.join(IMPORT_ERRORS)} (summary.json)")
    return lines


def _head_s1(s1: dict, lines: list[str]) -> None:
    lines.append(f"s1_visualize   [{s1.get('status')}, {s1.get('elapsed_s')} s]")
    for row in s1.get("rows", []):
        if "error" in row:
            lines.append(f"  {row['precision']:5s} F={row['batch_features']:<4d} {row['error']}")
            continue
        lines.append(f"  {row['precision']:5s} block {row['block']:<2d} F={row['batch_features']:<4d}"
                     f"{row['features_per_min']:>9.1f} feat/min {row['s_per_feature_400']:>8.3f} s/feat  "
                     f"eff {row['efficiency']:.2f}  mfu {row.get('mfu_vs_matmul_ceiling')}")
    for row in s1.get("depths", []):
        if row.get("features_per_min"):
            lines.append(f"  depth: bf16 block {row['block']:<2d} F={row['batch_features']:<4d}"
                         f"{row['features_per_min']:>9.1f} feat/min  eff {row['efficiency']:.2f}")
    ex = s1.get("extrapolation", {})
    if ex.get("hours_all_ffn_features") is not None:
        lines.append(f"  all {ex['features']} FFN features at 400 steps: {ex['hours_all_ffn_features']} h")
    if "goal" in s1:
        lines.append(f"  goal {s1['goal']['what']}: {'MET' if s1['goal']['met'] else 'NOT met'} "
                     f"({s1['goal']['best_features_per_min']})")
    for p in s1.get("profile", []):
        lines.append(f"  profile F={p['batch_features']}: GPU busy fraction {p['busy_fraction']}")


def _head_s2(s2: dict, lines: list[str]) -> None:
    lines.append(f"s2_mining      [{s2.get('status')}, {s2.get('elapsed_s')} s]")
    for row in s2.get("loader", []):
        lines.append(f"  loader    {row['precision']:5s} loader {row['loader_only_img_s']:>8.0f} plain "
                     f"{row['plain_img_s']:>8.0f} mining {row['mining_img_s']:>8.0f} img/s  ratio "
                     f"{row['mining_over_plain']}")
    for row in s2.get("on_device", []):
        lines.append(f"  on device {row['precision']:5s}                 plain {row['plain_img_s']:>8.0f} mining "
                     f"{row['mining_img_s']:>8.0f} img/s  ratio {row['mining_over_plain']}")
    if "goal" in s2:
        lines.append(f"  goal {s2['goal']['what']}: {'MET' if s2['goal']['met'] else 'NOT met'}")


def _head_s3(s3: dict, lines: list[str]) -> None:
    lines.append(f"s3_fastpaths   [{s3.get('status')}, {s3.get('elapsed_s')} s]")
    for row in s3.get("evaluation", []):
        lines.append(f"  {row['switch']:42s} {row['off_img_s']:>8.0f} -> {row['on_img_s']:>8.0f} img/s "
                     f"{row['speedup']:.2f}x")
    for row in s3.get("forward_only", []):
        lines.append(f"  fwd only: {row['what']:32s} {row['img_s']:>9.0f} img/s")


def _head_s4(s4: dict, lines: list[str]) -> None:
    lines.append(f"s4_correctness [{s4.get('status')}, {s4.get('elapsed_s')} s]")
    for k, v in (s4.get("checks") or {}).items():
        lines.append(f"  {k:28s} pass={v}")
    for k in ("sync_mining", "sync_visualize_5_steps", "sync_evaluate", "sync_mining_device_decode"):
        v = s4.get(k)
        if isinstance(v, dict):
            verdicts = [f"{m}: {v[m].get('verdict')}" + (f" ({v[m].get('syncs')} syncs in all)" if m == "warn" else "")
                        for m in ("warn", "error") if isinstance(v.get(m), dict)]
            lines.append(f"  {k:28s} " + ("; ".join(verdicts) or v.get("error", "")[:80]))
    d = s4.get("device_decode_vs_pil")
    if isinstance(d, dict) and "mean_abs_diff_255" in d:
        lines.append(f"  decode MAD {d['mean_abs_diff_255']}/255 (max {d['max_abs_diff_255']}), crop path "
                     f"{d.get('crop_path', {}).get('mean_abs_diff_255')}/255")
    t = s4.get("truncated_jpeg")
    if isinstance(t, dict):
        lines.append(f"  truncated JPEG: decode_images {t.get('decode_images')}; evaluate(dd) "
                     f"{t.get('evaluate_device_decode')}; mine(dd) {t.get('mine_device_decode')}")


def _head_s5(s5: dict, lines: list[str]) -> None:
    lines.append(f"s5_sae         [{s5.get('status')}] {s5.get('reason', '')}"
                 + (f" plain {s5['plain_inference_tokens_s']} tokens/s" if s5.get("plain_inference_tokens_s") else "")
                 + (f", SAE training {s5['sae_training_tokens_s']} tokens/s (ratio {s5['ratio_training_to_inference']})"
                    if s5.get("sae_training_tokens_s") else ""))


def write_summary(suite: Suite, final: bool) -> None:
    results = dict(suite.results)
    for name, part in list(suite.partial.items()):   # a section still running when the deadline hit
        results.setdefault(name, {"section": name, "status": "aborted", "reason": "global deadline",
                                  **{k: v for k, v in part.items() if k != "section"}})
    summary = {"final": final, "wall_s": round(time.monotonic() - suite.t_start, 1), "tiny": suite.tiny,
               "device": suite.info, "data": getattr(suite, "data_sizes", None),
               "import_errors": IMPORT_ERRORS or None,
               "sections": {n: {"status": v.get("status"), "elapsed_s": v.get("elapsed_s"),
                                "reason": v.get("reason") or v.get("error")} for n, v in results.items()},
               "table": headline(results),
               "imported_packages": sorted({m.split(".")[0] for m in sys.modules
                                            if not m.startswith("_") and "." not in m})}
    if suite.cuda:
        summary["nvidia_smi_end"] = nvidia_smi()
    suite.write("summary", summary)
    for name, res in results.items():
        if name not in suite.results:
            suite.write(name, res)
    print("\n".join(["", "=" * 100, f"gpu_suite on {suite.info.get('name')} ({suite.device.type}), "
                     f"{summary['wall_s']} s" + ("" if final else " [stopped at the global deadline]")]
                    + summary["table"] + ["=" * 100]), flush=True)


# ---------------------------------------------------------------------------------------------------------------
# self-test of the guards and the sync classification (no model)

def selftest() -> None:
    logging.basicConfig(level=logging.WARNING)
    # Guard with a fake clock
    now = [0.0]
    g = Guard(10, clock=lambda: now[0])
    assert g.fits(9.5, "a") and not g.fits(10.5, "b") and g.skipped[-1]["what"] == "b"
    now[0] = 6.0
    assert g.left() == 4.0 and not g.fits(5, "c") and g.fits(3.9, "d") and len(g.skipped) == 2
    # run_section: a failing section, an overrunning section (interrupted), and the next one still runs
    args = argparse.Namespace(tiny=True, out=tempfile.mkdtemp(), device="cpu")
    suite = Suite(args)
    suite.watchdog = Watchdog(60, lambda: None)

    def fails(s, gd):
        raise ValueError("boom")

    def overruns(s, gd):
        s.partial["overruns"] = {"got": 1}
        t0 = time.monotonic()
        while time.monotonic() - t0 < 10:
            time.sleep(0.01)
        return {}

    def fine(s, gd):
        assert gd.fits(0.1, "x") and not gd.fits(100, "y")
        return {"value": 1}
    a = run_section("fails", fails, suite, 5)
    assert a["status"] == "error" and "boom" in a["error"] and "Traceback" in a["traceback"], a
    t0 = time.monotonic()
    b = run_section("overruns", overruns, suite, 0.4 + suite.reserve - suite.reserve, hard_factor=1.5)
    assert b["status"] == "aborted" and time.monotonic() - t0 < 3 and b["partial"] == {"got": 1}, b
    c = run_section("fine", fine, suite, 5)
    assert c["status"] == "partial" and c["value"] == 1 and c["skipped"][0]["what"] == "y", c
    suite.watchdog.stop()
    # a real Ctrl-C is not swallowed
    suite.watchdog = Watchdog(60, lambda: None)

    def ctrl_c(s, gd):
        raise KeyboardInterrupt
    try:
        run_section("ctrl_c", ctrl_c, suite, 5)
        raise AssertionError("KeyboardInterrupt swallowed")
    except KeyboardInterrupt:
        pass
    suite.watchdog.stop()
    # sync classification: a fake loop of 5 iterations, one forward each, after 1 forward of setup
    net = torch.nn.Sequential(torch.nn.Linear(2, 2))
    probe = SyncProbe(net[0], pre=1, iters=5)

    def loop():
        warnings.warn("called a synchronizing CUDA operation")        # setup: tag 0
        net(torch.ones(1, 2))
        for i in range(5):
            net(torch.ones(1, 2))
            if i in (1, 2):
                warnings.warn("called a synchronizing CUDA operation")  # tags 3, 4: inside
        net(torch.ones(1, 2))
        warnings.warn("called a synchronizing CUDA operation")        # after the final forward: tag 7
        warnings.warn("an unrelated warning")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        rep = probe.run(loop, "warn", cuda=False)
    assert rep["syncs"] == 4 and rep["syncs_in_loop"] == 2 and rep["loop_window"] == [2, 5], rep
    assert any("unrelated" in str(w.message) for w in seen)
    tags = sorted(t for p in rep["places"].values() for t in p["tags"])
    assert tags == [0, 3, 4, 7], tags

    def loop_error():
        net(torch.ones(1, 2))
        net(torch.ones(1, 2))
        net(torch.ones(1, 2))
        raise RuntimeError("called a synchronizing CUDA operation")
    rep = probe.run(loop_error, "error", cuda=False)
    assert rep["first_sync"]["after_forwards"] == 3 and rep["first_sync"]["in_loop"], rep
    assert rep["verdict"].startswith("sync inside the loop at"), rep

    def loop_after():
        for _ in range(1 + 5 + 1):
            net(torch.ones(1, 2))
        raise RuntimeError("called a synchronizing CUDA operation")
    rep = probe.run(loop_after, "error", cuda=False)
    assert rep["verdict"].startswith("no sync inside the loop; the first came after it"), rep
    # arming: "error" is set at the loop's first forward and the previous mode restored after its last
    calls = []
    probe._set = lambda mode, cuda: calls.append((probe.forwards, mode))
    probe._get = lambda cuda: 0
    rep = probe.run(lambda: [net(torch.ones(1, 2)) for _ in range(7)], "error", cuda=True)
    assert calls == [(2, "error"), (7, 0), (7, 0)] and rep["verdict"] == "no sync inside the loop", (calls, rep)
    # the global deadline: a child that spins is stopped, and writes its summary first
    code = ("import sys, time; sys.argv=['x']; import gpu_suite as s; "
            "w = s.Watchdog(0.5, lambda: open(sys.argv[0] + '.done', 'w').write('1')); "
            "time.sleep(20)")
    d = Path(tempfile.mkdtemp())
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, "-c", code.replace("sys.argv[0]", repr(str(d / "x")))],
                       env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)), timeout=60,
                       capture_output=True, text=True)
    assert p.returncode == 3 and (d / "x.done").exists() and time.monotonic() - t0 < 30, (p.returncode, p.stderr)
    print("selftest ok: guards, section errors and aborts, Ctrl-C, sync classification, global deadline")


# ---------------------------------------------------------------------------------------------------------------

FUNCS = {"s1_visualize": s1_visualize, "s2_mining": s2_mining, "s3_fastpaths": s3_fastpaths,
         "s4_correctness": s4_correctness, "s5_sae": s5_sae}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.environ.get("OUT") or "gpu_results")
    ap.add_argument("--tiny", action="store_true", help="tiny models and sizes on the CPU (tests every path)")
    ap.add_argument("--device", default=None, help="default: cuda when there is one (cpu with --tiny)")
    ap.add_argument("--sections", default=",".join(SECTIONS), help="comma-separated subset, in this order")
    ap.add_argument("--deadline", type=float, default=None, help="global hard stop in s (default: TABLE)")
    ap.add_argument("--selftest", action="store_true", help="check the guards and the sync probe, then exit")
    args = ap.parse_args()
    if args.selftest:
        selftest()
        return
    if args.device is None:
        args.device = "cpu" if args.tiny or not torch.cuda.is_available() else "cuda:0"
    if args.device == "cuda":
        args.device = "cuda:0"                   # torch.cuda.set_device needs an index
    if args.device.startswith("cuda"):
        torch.cuda.set_device(torch.device(args.device))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    setup_logging(logging.WARNING)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    fh = logging.FileHandler(out / "suite.log", mode="w")
    fh.setFormatter(fmt)
    fh.setLevel(logging.DEBUG)
    logging.getLogger().addHandler(fh)
    log.setLevel(logging.DEBUG)
    for h in logging.getLogger().handlers:
        if h is not fh:
            h.setLevel(logging.INFO)
    suite = Suite(args)
    deadline = args.deadline or suite.g["deadline_s"]
    log.info("gpu_suite: %s, out %s, deadline %.0f s, tiny %s", json.dumps(suite.info, default=str), out,
             deadline, args.tiny)
    if IMPORT_ERRORS:
        log.error("import errors (the sections that need these fail): %s", json.dumps(IMPORT_ERRORS))
    try:
        suite.start_dataset()
    except Exception as exc:  # noqa: BLE001 - the sections that need the data fail and say so
        log.error("dataset writer did not start: %s", exc)
    suite.watchdog = Watchdog(deadline, lambda: write_summary(suite, final=False))
    for name in [s for s in args.sections.split(",") if s]:
        res = run_section(name, FUNCS[name], suite, sizes(name, args.tiny)["budget_s"])
        res.setdefault("label", suite.label())
        suite.results[name] = res
        suite.write(name, res)
        log.info("%s: %s in %.1f s", name, res.get("status"), res.get("elapsed_s") or 0)
    suite.watchdog.stop()
    write_summary(suite, final=True)
    if suite._data_proc is not None and suite._data_proc.is_alive():
        suite._data_proc.terminate()
        suite._data_proc.join(timeout=5)
    import shutil
    shutil.rmtree(suite.tmp, ignore_errors=True)   # the synthetic dataset (never under --out)


if __name__ == "__main__":
    main()
