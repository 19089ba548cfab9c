"""Regularisers the Trainer applies: L2 and inverted dropout.

L2, the course's `compute_cost_with_regularization`: J + (lambda / 2m) sum over l of ||W[l]||_F^2, and
dW[l] += (lambda / m) W[l] in backward. `l2_cost` is the one statement of the cost's term: every cost
nnctl computes (a batch's, an epoch's summed one, the reference's) takes it from here.

Inverted dropout, as the course's `forward_propagation_with_dropout`: after a hidden layer's
activation, D[l] = (rand(n[l], m) < keep_prob[l]); A[l] = A[l] * D[l] / keep_prob[l]; backward
multiplies dA[l] by the same D[l] / keep_prob[l]. Never on the input X, never on the output layer.

Masks come from one of two sources (MASKS):
- "fresh": a Generator seeded from the run's seed; new masks every forward pass. Its state is
  checkpointed, so a resumed run draws the masks an uninterrupted one would have.
- "course": `np.random.seed(1)` at every forward pass, as the notebook does, then one
  `np.random.rand(n[l], m)` per hidden layer in order: the masks repeat every iteration (and every
  mini-batch of one size), so they are drawn once per batch size and kept.
"""

from __future__ import annotations

import numpy as np

COURSE_DROPOUT_SEED = 1  # the notebook's np.random.seed(1) inside forward_propagation_with_dropout
MASKS = ("fresh", "course")


def l2_cost(l2: float, squares: float, scale: float) -> float:
    """The L2 term of a cost: scale * (lambda / 2) * squares, with `squares` = sum over l of ||W[l]||_F^2.
    scale = 1/m for the mean cost (the course's lambda / 2m); the loss's divisor for a batch's cost summed
    over its examples (m times the mean's term), which an epoch adds up and divides by m at the end."""
    return scale * l2 / 2 * squares


def keep_probs_per_layer(keep_prob: float | list[float] | tuple[float, ...], depth: int) -> list:
    """keep_prob[l] for l = 1..L: the spec's value (one for all hidden layers, or one per hidden
    layer); the output layer always keeps 1."""
    hidden = list(keep_prob) if isinstance(keep_prob, (list, tuple)) else [keep_prob] * (depth - 1)
    return [float(k) for k in hidden] + [1.0]


class Dropout:
    """Masks for the hidden layers whose keep probability is below 1."""

    def __init__(self, keep_probs: list, masks: str = "fresh", seed: int = 0) -> None:
        if masks not in MASKS:
            raise ValueError(f"unknown dropout masks {masks!r}; valid: {', '.join(MASKS)}")
        self.keep = [None] + list(keep_probs)  # keep[l], l = 1..L
        self.layers = [l for l in range(1, len(self.keep)) if self.keep[l] < 1.0]
        self.masks = masks
        self.rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(2,))) if masks == "fresh" else None
        self._drawn: dict = {}  # course: batch size -> {l: D[l]}

    @property
    def active(self) -> bool:
        return bool(self.layers)

    def draw(self, D: dict, uniform: dict) -> None:
        """This forward pass's masks, written into D[l] (0/1 in the training dtype) for each
        dropout layer; `uniform[l]` is float64 scratch of the same shape."""
        if self.masks == "fresh":
            assert self.rng is not None  # fresh masks have their generator
            for l in self.layers:
                self.rng.random(out=uniform[l])
                np.less(uniform[l], self.keep[l], out=D[l])
            return
        m = next(iter(D.values())).shape[1]
        if m not in self._drawn:
            rs = np.random.RandomState(COURSE_DROPOUT_SEED)
            self._drawn[m] = {l: (rs.rand(*D[l].shape) < self.keep[l]) for l in self.layers}
        for l in self.layers:
            np.copyto(D[l], self._drawn[m][l])

    def state(self) -> dict:
        """The generator's state (JSON); the course's masks need none."""
        return {"bit_generator": self.rng.bit_generator.state} if self.rng is not None else {}

    def load_state(self, state: dict) -> None:
        if self.rng is not None and state and "bit_generator" in state:
            self.rng.bit_generator.state = state["bit_generator"]
