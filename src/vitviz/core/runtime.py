"""How a model runs: precision, attention kernel, memory layout, DataLoader workers, pinned memory and where
JPEGs are decoded. Each switch is a fast path that can be turned off. Workers and pinned memory never change a
result; fused attention and channels-last change float rounding only; bf16 (and tf32 on a GPU) and device
decoding change numbers within the tolerances of the README (section "Speed"), held by tests/test_runtime.py."""
from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import ConfigDict, Field
from pydantic.dataclasses import dataclass

if TYPE_CHECKING:   # torch is imported where it runs, so that params (and `vitviz validate`) load without it
    import torch
    from torch import nn

Precision = Literal["fp32", "tf32", "bf16"]


@dataclass(frozen=True, config=ConfigDict(extra="forbid"))
class Runtime:
    """The fast paths of one process; also the `speed` section of params.yaml.

    precision: fp32 (fp32 everywhere, cuDNN convolutions included, which PyTorch would otherwise run in TF32),
        tf32 (TensorFloat-32 matmuls and convolutions on a GPU; fp32 on a CPU) or
        bf16 (autocast of matmuls and convolutions to bfloat16; activations and logits read back in fp32).
    fused_attention: timm attention through F.scaled_dot_product_attention (flash or memory-efficient kernels
        on a GPU) where timm supports it; false forces the explicit softmax(QK^T)V in every timm attention.
    channels_last: CNN weights (and the inputs `classify` gets) in NHWC, the layout tensor cores want;
        transformers are left as is.
    num_workers: DataLoader worker processes that decode and crop images beside the model.
    pin_memory: batches in page-locked memory, copied to a GPU without blocking the host.
    device_decode: JPEG bytes travel to the model's device and are decoded there (nvJPEG on a GPU) and
        cropped there by timm's own transform; other formats and CMYK JPEGs are decoded by PIL as usual.
    threads: intra-op threads of the process (core.threads): auto, or a number.
    """
    precision: Precision = Field(
        "fp32", description="fp32 exact; tf32 matmuls on a GPU; bf16 autocast (within the README's tolerance)")
    fused_attention: bool = Field(True, description="timm attention through F.scaled_dot_product_attention")
    channels_last: bool = Field(True, description="CNN weights and inputs in NHWC")
    num_workers: int = Field(0, ge=0, le=64, description="DataLoader worker processes per process (rank)")
    pin_memory: bool = Field(True, description="page-locked batches, copied to a GPU without blocking")
    device_decode: bool = Field(False, description="decode JPEGs on the model's device (nvJPEG on a GPU)")
    threads: Annotated[int, Field(ge=1, le=1024)] | Literal["auto"] = Field(
        "auto", description="intra-op threads per process: auto shares the cores among the vitviz processes "
        "running at the time (a queue with two workers gets half each); a number fixes it")

    def autocast(self, device: str | torch.device) -> contextlib.AbstractContextManager:
        """bf16 autocast on `device` when precision is bf16; otherwise a context that does nothing."""
        if self.precision != "bf16":
            return contextlib.nullcontext()
        import torch
        return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)

    def pins(self, device: str | torch.device) -> bool:
        """Whether batches bound for `device` go through pinned memory."""
        import torch
        return self.pin_memory and torch.device(device).type == "cuda"

    def prepare(self, model: nn.Module, device: str | torch.device, kind: str) -> nn.Module:
        """`model` (changed in place) on `device`, with this runtime's attention, layout and matmul precision.

        The TF32 switches are global to the process: the runtime prepared last sets them."""
        import torch
        set_fused_attention(model, self.fused_attention)
        model.to(device)
        if kind == "cnn":   # either way: a model prepared once with channels-last must go back when it is off
            model.to(memory_format=torch.channels_last if self.channels_last else torch.contiguous_format)
        tf32 = self.precision == "tf32"
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
        return model

    def layout(self, x: torch.Tensor, kind: str) -> torch.Tensor:
        """A batch of images in the memory layout the prepared model wants."""
        import torch
        if self.channels_last and kind == "cnn" and x.dim() == 4:
            return x.contiguous(memory_format=torch.channels_last)
        return x


def set_fused_attention(model: nn.Module, enabled: bool) -> int:
    """Switch the fused attention kernel off (or back to timm's choice) in every timm attention; the count."""
    n = 0
    for m in model.modules():
        if hasattr(m, "fused_attn"):
            if not hasattr(m, "_vitviz_fused_default"):
                m._vitviz_fused_default = bool(m.fused_attn)  # what timm chose for this module
            m.fused_attn = m._vitviz_fused_default and enabled
            n += 1
    return n
