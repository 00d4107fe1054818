"""Training of a sparse autoencoder, one batch of tokens at a time, alone or across torch.distributed ranks.

Each step: reconstruction loss plus the AuxK loss (the residual reconstructed by the aux_k most active dead
latents, Gao et al. 2024), gradients summed over ranks, the component of each atom's gradient along the atom
removed, global norm clipping, Adam with linear warm-up, atoms back to unit norm. The first step sets the
decoder bias to the mean of its (global) batch. Under torch.distributed every rank passes its own share of the
global batch; sums of losses, gradients, firing counts and (for batchtopk) the batch threshold are merged
over ranks, so R ranks given shares of each batch train the dictionary that one process given the whole batch
trains, up to float rounding. Nothing here reorders tokens: the caller feeds them in a seeded random order.
"""
from __future__ import annotations

import contextlib
import logging
import math

import torch
from torch import Tensor

from vitviz.core.distributed import Context, all_gather, all_sum, context
from vitviz.sae.errors import SAETrainingError
from vitviz.sae.model import SparseAutoencoder, topk_sparse

log = logging.getLogger(__name__)

ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 6.25e-10  # Gao et al. 2024: small enough for rarely firing latents
THRESHOLD_MOMENTUM = 0.99  # running batchtopk threshold used at inference


class SAETrainer:
    """Trains `sae` in place, one `step(tokens)` per batch; `ctx` defaults to the current process group.

    `bf16`: the encoder and decoder products run under bfloat16 autocast (tensor cores on a GPU); the weights, the
    optimiser, the losses and every sum stay in fp32."""

    def __init__(self, sae: SparseAutoencoder, ctx: Context | None = None, bf16: bool = False):
        self.sae = sae.train()
        self.bf16 = bf16
        self.settings = sae.settings
        self.ctx = ctx or context()
        self.device = sae.W_dec.device
        self.params = [sae.W_enc, sae.b_enc, sae.W_dec, sae.b_dec]
        self.optimizer = torch.optim.Adam(self.params, lr=self.settings.lr, betas=ADAM_BETAS, eps=ADAM_EPS)
        warm = self.settings.warmup_steps
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: min(1.0, (s + 1) / warm) if warm else 1.0)
        self.aux_k = min(self.settings.aux_latents(sae.input_dim), sae.width)
        self.steps = 0
        self.tokens = 0
        # training tokens since each latent last fired (global over ranks)
        self.since_fired = torch.zeros(sae.width, dtype=torch.long, device=self.device)

    @torch.enable_grad()     # also inside a pass run without gradients (the streaming pass)
    def step(self, tokens: Tensor) -> dict[str, float]:
        """One optimisation step on this rank's share (n, d) of a global batch; the step's global metrics.

        Raises SAETrainingError (on every rank) when the loss or the gradient is not finite; the SAE then keeps
        the weights of the last good step."""
        sae, s = self.sae, self.settings
        if tokens.shape[-1] != sae.input_dim:
            raise ValueError(f"tokens of {tokens.shape[-1]} dimensions for an SAE of input dim {sae.input_dim}; "
                             "feed the activations of the site it was made for")
        x = tokens.detach().to(self.device, torch.float32).reshape(-1, sae.input_dim)
        if self.steps == 0:
            self._init_decoder_bias(x)
        with self._autocast():
            pre = sae.encode_pre(x)
        if s.sparsity == "topk":   # k atoms per token: a sparse decode, not a product with the whole dictionary
            values, idx = topk_sparse(pre, sae.k)
            err = x - sae.decode_sparse(values.float(), idx)
            fired = torch.zeros(sae.width, dtype=torch.long, device=idx.device).scatter_add_(   # no boolean mask:
                0, idx.flatten(), (values > 0).flatten().long())                                # no host sync
            batch_threshold = None
        else:
            with self._autocast():
                z, batch_threshold = self._train_codes(pre)
                err = x - sae.decode(z).float()
            fired = (z > 0).sum(dim=0)
        sse = err.square().sum()
        dead = self.since_fired >= s.dead_tokens
        n_dead = int(dead.sum())
        aux_sse = torch.zeros((), device=self.device)
        if n_dead and s.aux_coef > 0:
            aux_values, aux_idx = topk_sparse(pre.masked_fill(~dead, float("-inf")), min(self.aux_k, n_dead))
            aux = torch.nn.functional.embedding_bag(aux_idx, sae.W_dec, per_sample_weights=aux_values.float(),
                                                    mode="sum")
            aux_sse = (err.detach() - aux).square().sum()
        head = torch.stack([torch.tensor(float(x.shape[0]), dtype=torch.float64, device=self.device),
                            sse.detach().double(), aux_sse.detach().double(), fired.sum().double()])
        stats = all_sum(torch.cat([head, x.double().sum(0), x.double().square().sum(0)]), self.ctx).cpu()
        fired = all_sum(fired, self.ctx)
        n, sse_g, aux_g, nnz = stats[:4].tolist()
        scale = 1.0 / (max(n, 1.0) * sae.input_dim)
        loss = (sse_g + s.aux_coef * aux_g) * scale
        if not math.isfinite(loss):
            self._fail("loss", loss)
        self.optimizer.zero_grad(set_to_none=False)
        (sse + s.aux_coef * aux_sse).backward()
        self._merge_grads(scale)
        sae.remove_parallel_grad_()
        grad_norm = float(torch.nn.utils.clip_grad_norm_(self.params, s.clip_grad))
        if not math.isfinite(grad_norm):
            self.optimizer.zero_grad(set_to_none=False)
            self._fail("gradient norm", grad_norm)
        lr = self.optimizer.param_groups[0]["lr"]
        self.optimizer.step()
        self.scheduler.step()
        sae.normalize_atoms_()
        if batch_threshold is not None:
            with torch.no_grad():
                first = self.steps == 0
                m = 0.0 if first else THRESHOLD_MOMENTUM
                sae.threshold.mul_(m).add_((1 - m) * batch_threshold)
        self.since_fired = torch.where(fired > 0, torch.zeros_like(self.since_fired), self.since_fired + int(n))
        self.steps += 1
        self.tokens += int(n)
        sum_x, sum_x2 = stats[4:4 + sae.input_dim], stats[4 + sae.input_dim:]
        sst = float((sum_x2 - sum_x.square() / max(n, 1.0)).sum())
        return {"step": self.steps, "tokens": self.tokens, "loss": loss, "mse": sse_g * scale,
                "aux_mse": aux_g * scale, "r2": 1.0 - sse_g / sst if sst > 0 else float("nan"),
                "l0": nnz / max(n, 1.0), "dead_fraction": float(dead.float().mean()), "lr": lr,
                "grad_norm": grad_norm}

    def _autocast(self) -> contextlib.AbstractContextManager:
        return torch.autocast(self.device.type, dtype=torch.bfloat16) if self.bf16 else contextlib.nullcontext()

    def state(self) -> dict:
        """Everything needed to resume training: SAE weights, optimiser, schedule and dead-latent counters."""
        return {"sae": {k: v.detach().clone() for k, v in self.sae.state_dict().items()},
                "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "steps": self.steps, "tokens": self.tokens, "since_fired": self.since_fired.clone()}

    def load_state(self, state: dict) -> None:
        """Resume from what state() returned."""
        self.sae.load_state_dict(state["sae"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.steps, self.tokens = int(state["steps"]), int(state["tokens"])
        self.since_fired = state["since_fired"].to(self.device)

    def _init_decoder_bias(self, x: Tensor) -> None:
        """b_dec = the mean of the global first batch (so the encoder first sees centred tokens)."""
        total = all_sum(torch.cat([x.double().sum(0), torch.tensor([x.shape[0]], dtype=torch.float64,
                                                                    device=x.device)]), self.ctx)
        n = float(total[-1])
        if n > 0:
            with torch.no_grad():
                self.sae.b_dec.copy_((total[:-1] / n).float())
        log.info("SAE %d x %d: decoder bias set to the mean of %d tokens", self.sae.width, self.sae.input_dim, n)

    def _train_codes(self, pre: Tensor) -> tuple[Tensor, float | None]:
        """BatchTopK: the codes of a training batch (the k x n largest over the global batch) and its threshold."""
        n = int(all_sum(torch.tensor([pre.shape[0]], device=pre.device), self.ctx).item())
        keep = self.sae.k * n
        vals = pre.detach().clamp(min=0).flatten()
        top = vals.topk(min(keep, vals.numel())).values
        top = torch.cat([top, top.new_full((keep - top.numel(),), -1.0)])  # the same length on every rank
        top = torch.cat(all_gather(top, self.ctx)).topk(keep).values
        thr = float(top[-1])
        thr_pos = float(top[top > 0].min()) if bool((top > 0).any()) else 0.0
        z = torch.where((pre >= thr) & (pre > 0), pre, torch.zeros_like(pre))
        return z, thr_pos

    def _merge_grads(self, scale: float) -> None:
        """Sum the gradients over ranks (one collective) and scale them to the gradient of the global mean loss."""
        grads = [p.grad for p in self.params]
        flat = all_sum(torch.cat([g.flatten() for g in grads]), self.ctx) * scale
        offset = 0
        for g in grads:
            g.copy_(flat[offset:offset + g.numel()].view_as(g))
            offset += g.numel()

    def _fail(self, what: str, value: float) -> None:
        msg = (f"SAE training diverged at step {self.steps + 1} ({what} is {value}); lower sae.lr "
               f"(now {self.settings.lr:g}) or raise sae.warmup_steps")
        log.error(msg)
        raise SAETrainingError(msg)
