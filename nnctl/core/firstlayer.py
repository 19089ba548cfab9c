"""How the first layer is computed: two strategies, and which settings each is exact for.

Primal: the course's products, Z[1] = W[1] X + b[1] and dW[1] = (1/m) dZ[1] X^T.
Dual: while every update of W[1] is a fixed linear combination of the examples, W[1] stays
W[1]_0 + C X^T with C of shape (n[1], m). With the Gram matrix G = X^T X (m, m) and P = W[1]_0 X
computed once, Z[1] = P + C G + b[1], and the gradient with respect to C that gives the same step
is dZ[1] / m: one (n[1], m)(m, m) product per iteration instead of two over n_x, far less work
when m < n_x (the course's cats: m = 209, n_x = 12288).

That holds for full-batch gradient descent and for momentum (its velocity is a linear combination
of past gradients, so it lives in C's space too; tests/test_dual.py shows equality with the primal
path), with any learning-rate schedule. It does not hold with mini-batches (each step sees other
columns) or with RMSprop and Adam (their element-wise division is not linear in the examples).

Regularisers. L2 is not exact here: its step W[1] -= alpha (lambda/m) W[1] shrinks W[1]_0 as well,
which C X^T cannot express, so a spec with train.l2 > 0 takes the primal path. Dropout is exact:
it multiplies hidden activations A[l] (l >= 1) by masks, never the input X, so dW[1] is still
(1/m) dZ[1] X^T, a combination of the examples, only with another dZ[1] (tests/test_dual.py
checks dropout runs on both paths agree).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from nnctl.core.backend import Array, namespace

if TYPE_CHECKING:
    from nnctl.data.stream import StreamedX

PRIMAL, DUAL, AUTO = "primal", "dual", "auto"


def gram(X: np.ndarray, block: int = 4096) -> np.ndarray:
    """G = X^T X (m, m), by blocks of rows: one product of numpy's over a large m (its symmetric
    special case) has been seen to crash with m = 20,000."""
    m = X.shape[1]
    G = np.empty((m, m), dtype=X.dtype)
    for i in range(0, m, block):
        np.matmul(X[:, i : i + block].T, X, out=G[i : i + block])
    return G


class PrimalFirstLayer:
    name = PRIMAL

    def __init__(self, W1: Array, X: Array | StreamedX, state: dict | None = None) -> None:
        self.W1 = W1
        self.dW1: Array | None = None

    def rebind(self, W1: Array, dW1: Array) -> None:
        """The arrays (views of the Trainer's vectors) that hold W[1] and dW[1] from now on."""
        self.W1, self.dW1 = W1, dW1

    @staticmethod
    def not_exact_for(optimizer_linear: bool, full_batch: bool, l2: bool = False) -> str | None:
        return None  # the course's own arithmetic

    def forward(self, A0: Array, Z: Array) -> None:
        namespace(Z).matmul(self.W1, A0, out=Z)

    def gradient(self, dZ1: Array, A0: Array, m: int) -> Array:
        """dW[1] = (1/m) dZ[1] A[0]^T."""
        assert self.dW1 is not None  # rebind gave it
        namespace(dZ1).matmul(dZ1, A0.T, out=self.dW1)
        if m != 1:  # 1: dZ[1] came divided by m already (a device's fused output layer)
            self.dW1 /= m
        return self.dW1

    def finite_probe(self, dZ1: Array) -> Array:
        """The array whose sum is finite exactly when dW[1] is."""
        # finite dZ[1] (and finite A[0]) make a finite dW[1]: check whichever array is smaller
        assert self.dW1 is not None  # rebind gave it
        return dZ1 if dZ1.size < self.dW1.size else self.dW1

    @property
    def trained(self) -> Array:
        return self.W1

    @property
    def trained_name(self) -> str:
        return "W1"

    def materialize(self, W1: Array, X: Array | StreamedX) -> None:
        pass

    def state(self) -> dict:
        return {}

    @staticmethod
    def extra_bytes(n1: int, n_x: int, m: int, itemsize: int) -> dict:
        return {}

    @staticmethod
    def saved_elements(n1: int, n_x: int, m: int) -> int:
        """Numbers a checkpoint holds besides the parameters."""
        return 0


class DualFirstLayer:
    name = DUAL

    def __init__(self, W1: Array, X: Array | StreamedX, state: dict | None = None) -> None:
        assert not hasattr(X, "next_batch")  # full batch only: X is in memory, never streamed
        state = state or {}
        n1, m = W1.shape[0], X.shape[1]
        self.W1_0 = state["W1_0"] if "W1_0" in state else W1.copy()
        self.C = state["C"] if "C" in state else np.zeros((n1, m), W1.dtype)  # W1 = W1_0 + C X^T
        self.G = gram(X)  # (m, m), computed once
        self.P = self.W1_0 @ X  # (n[1], m), computed once
        self.dC: Array | None = None

    def rebind(self, C: Array, dC: Array) -> None:
        """The arrays (views of the Trainer's vectors) that hold C and its gradient from now on."""
        self.C, self.dC = C, dC

    @staticmethod
    def not_exact_for(optimizer_linear: bool, full_batch: bool, l2: bool = False) -> str | None:
        """Why the dual path would not give the primal path's results, or None where it does."""
        if l2:
            return "L2 regularisation: its decay shrinks W1_0 too, which W1_0 + C X^T cannot follow"
        if not full_batch:
            return "mini-batches: each step sees other examples, so W1 is not W1_0 + C X^T with one C over all of X"
        if not optimizer_linear:
            return "the optimizer's element-wise division by its moments is not linear in the examples"
        return None

    def forward(self, A0: Array, Z: Array) -> None:
        np.matmul(self.C, self.G, out=Z)  # C G  (n[1], m)
        Z += self.P

    def gradient(self, dZ1: Array, A0: Array, m: int) -> Array:
        """dZ[1] / m, the step on C that is the step dW[1] on W[1]."""
        return np.divide(dZ1, m, out=self.dC)

    def finite_probe(self, dZ1: Array) -> Array:
        return dZ1

    @property
    def trained(self) -> Array:
        return self.C

    @property
    def trained_name(self) -> str:
        return "C"

    def materialize(self, W1: Array, X: Array | StreamedX) -> None:
        """W[1] = W[1]_0 + C X^T, into W1."""
        assert not hasattr(X, "next_batch")  # full batch only: X is in memory, never streamed
        np.matmul(self.C, X.T, out=W1)
        W1 += self.W1_0

    def state(self) -> dict:
        """What a checkpoint needs to continue bit for bit: W1_0 and C."""
        return {"W1_0": self.W1_0, "C": self.C}

    @staticmethod
    def extra_bytes(n1: int, n_x: int, m: int, itemsize: int) -> dict:
        return {"dual path (G, P, C, W1_0)": (m * m + 2 * n1 * m + n1 * n_x) * itemsize}

    @staticmethod
    def saved_elements(n1: int, n_x: int, m: int) -> int:
        return n1 * (n_x + m)  # W1_0 and C


FIRST_LAYERS: dict[str, type[PrimalFirstLayer] | type[DualFirstLayer]] = {PRIMAL: PrimalFirstLayer, DUAL: DualFirstLayer}


def choose_first_layer(
    requested: str, n_x: int, m: int, itemsize: int, memory_budget: float, optimizer_linear: bool = True, full_batch: bool = True, l2: bool = False
) -> tuple[str, str]:
    """(path, reason): the dual path when it is exact for these settings, less work (m < n_x) and
    G = X^T X fits the memory budget; `reason` says why the path was chosen, for metrics.json."""
    if requested != AUTO:
        return requested, f"train.first_layer: {requested}"
    why_not = DualFirstLayer.not_exact_for(optimizer_linear, full_batch, l2)
    if why_not:
        return PRIMAL, f"primal: the dual path is not exact here ({why_not})"
    if m >= n_x:
        return PRIMAL, f"primal: m = {m} is not smaller than n_x = {n_x}, so the dual path is no less work"
    if m * m * itemsize > memory_budget:
        return PRIMAL, f"primal: the Gram matrix ({m} x {m}) would not fit a quarter of the available memory"
    return DUAL, f"dual: m = {m} < n_x = {n_x} and full-batch updates that are linear in the examples"
