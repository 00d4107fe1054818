"""SAE training and scoring as accumulators of the streaming pass: tokens go from the model's forward straight into
the trainer (no activation cache on disk), and held-out tokens into the scores' sums."""
from __future__ import annotations

from vitviz.activations.sites import Site
from vitviz.activations.stream import Activations
from vitviz.core.distributed import Context
from vitviz.sae.metrics import SAEScores, ScoreSums
from vitviz.sae.trainer import SAETrainer


def site_tokens(acts: Activations, site: Site, kind: str):
    """The tokens (n, d) an SAE of `site` reads from one batch: patch tokens, or all (prefix tokens too)."""
    return acts.raw_tokens(site, prefix=kind == "all").reshape(-1, site.channels)


class FitSAE:
    """Train an SAE on `site`, one optimisation step per batch of images, until `tokens` tokens are seen (then the
    batches that follow are not used); `history` keeps the metrics of every `log_every`-th step."""

    def __init__(self, site: Site, trainer: SAETrainer, tokens: int, log_every: int = 10):
        self.sites, self.site, self.trainer = [site], site, trainer
        self.tokens, self.log_every = tokens, log_every
        self.history: list[dict] = []

    def update(self, acts: Activations) -> None:
        if self.trainer.tokens >= self.tokens:
            return
        metrics = self.trainer.step(site_tokens(acts, self.site, self.trainer.settings.tokens_kind))
        if metrics["step"] % self.log_every == 0 or metrics["step"] == 1:
            self.history.append({"site": self.site.name, **metrics})

    def finish(self, ctx: Context) -> None:
        pass


class ScoreSAE:
    """The scores of an SAE (R^2, L0, dead and dense fractions) on the tokens of a held-out pass."""

    def __init__(self, site: Site, sums: ScoreSums, tokens_kind: str):
        self.sites, self.site, self.sums, self.kind = [site], site, sums, tokens_kind
        self.scores: SAEScores | None = None

    def update(self, acts: Activations) -> None:
        self.sums.add(site_tokens(acts, self.site, self.kind))

    def finish(self, ctx: Context) -> None:
        self.scores = self.sums.result(ctx)
