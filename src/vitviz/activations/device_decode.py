"""JPEG decoding on the model's device (nvJPEG on a GPU, torchvision's libjpeg on a CPU), the crop done there by
timm's own eval transform. Files that are not RGB or grayscale JPEGs (PNG bytes named .JPEG, CMYK) are decoded
by PIL in the DataLoader worker, as in the default path, and travel decoded."""
from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Callable

import torch
from PIL import Image

from vitviz.data.imagenet import ImageDecodeError, load_rgb
from vitviz.models.spec import ModelSpec

log = logging.getLogger(__name__)


def device_decodable(spec: ModelSpec) -> bool:
    """Whether the spec's crop can run on device tensors (timm's 'border' mode pads with PIL-only fills)."""
    return spec.crop_mode != "border"


JPEG_END = b"\xff\xd9"   # the end-of-image marker a complete JPEG ends with


def read_encoded(path: str | Path) -> torch.Tensor:
    """The file's bytes (1-D uint8) for a complete RGB or grayscale JPEG; any other image decoded by PIL, (3, H, W)
    uint8. A JPEG that does not end with its end-of-image marker (truncated, or with bytes after it) goes through
    PIL too, which skips it as the default path does (nvJPEG would decode the part that is there)."""
    try:
        data = Path(path).read_bytes()
        with Image.open(io.BytesIO(data)) as im:   # reads the header only
            fmt, mode = im.format, im.mode
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageDecodeError(f"{path}: cannot decode image ({exc})") from exc
    if fmt == "JPEG" and mode in ("RGB", "L") and data.endswith(JPEG_END):
        return torch.frombuffer(bytearray(data), dtype=torch.uint8)
    from torchvision.transforms.functional import pil_to_tensor
    return pil_to_tensor(load_rgb(path))


def decode_images(payloads: list[torch.Tensor], device: str | torch.device) -> list[torch.Tensor | None]:
    """(3, H, W) uint8 images on `device`: JPEG bytes decoded there in one batched call, decoded ones copied.

    A JPEG that the device's decoder rejects is None (logged), so the caller can skip and count it.
    """
    from torchvision.io import ImageReadMode, decode_jpeg
    device = torch.device(device)
    out: list[torch.Tensor | None] = [None if p.dim() == 1 else p.to(device, non_blocking=True) for p in payloads]
    jpeg = [i for i, p in enumerate(payloads) if p.dim() == 1]
    if not jpeg:
        return out
    if device.type == "cuda":
        # torchvision's CUDA decoder writes on its own stream into memory allocated on ours; memory freed by
        # queued work could be handed to it while still in use (pytorch/vision#9606): let our stream drain first.
        torch.cuda.current_stream(device).synchronize()
    try:
        decoded = decode_jpeg([payloads[i] for i in jpeg], mode=ImageReadMode.RGB, device=device)
    except RuntimeError:  # one bad file fails the whole batched call: decode one by one
        decoded = []
        for i in jpeg:
            try:
                decoded.append(decode_jpeg(payloads[i], mode=ImageReadMode.RGB, device=device))
            except RuntimeError as exc:
                log.warning("skipped: undecodable JPEG (%s)", str(exc).splitlines()[0])
                decoded.append(None)
    for i, img in zip(jpeg, decoded):
        out[i] = img
    return out


def decode_batch(payloads: list[torch.Tensor], device: str | torch.device, transform: Callable,
                 variants: Callable | None, rows: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Crops (N x V, 3, H, W) uint8 on `device` of the decodable payloads, and a bool mask of which those were.

    `variants(image (H, W, 3), row)` makes V views of each decoded image before the crop, as in the worker path.
    """
    images = decode_images(payloads, device)
    crops = []
    for img, row in zip(images, rows):
        if img is None:
            continue
        views = [img] if variants is None else [v.permute(2, 0, 1) for v in variants(img.permute(1, 2, 0), row)]
        crops += [transform(v) for v in views]
    keep = torch.tensor([img is not None for img in images], dtype=torch.bool)
    if not crops:
        return torch.empty(0, 3, 1, 1, dtype=torch.uint8, device=device), keep
    return torch.stack(crops), keep
