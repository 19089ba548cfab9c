"""Batch normalisation as the Trainer does it, in place, one step object per normalised layer.

The course's week 3 (and PyTorch's BatchNorm1d in training mode), for Z[l] = W[l] A[l-1] (n[l], m):
mu = (1/m) sum Z, sigma^2 = (1/m) sum (Z - mu)^2 (biased), Z^ = (Z - mu) / sqrt(sigma^2 + epsilon),
Z~ = gamma Z^ + beta. The Trainer adds beta where a plain layer adds b (beta sits in b's slot of
the parameter vector and its gradient is db's, (1/m) sum dZ~); this step does the rest. The running
averages (state, not trained) follow each batch: running = momentum running + (1 - momentum) batch,
the variance unbiased (m / (m - 1)), as PyTorch keeps it. nnctl.core.network.batch_norm_forward and tests/oracle.py's
batch_norm_backward are the readable reference the tests hold this to.
"""

from __future__ import annotations

import numpy as np

_sum = np.add.reduce


class BatchNormStep:
    """gamma[l], its gradient (views of the Trainer's vectors) and the running averages (the
    params dict's arrays, updated in place); Z^ and a scratch array per batch size."""

    def __init__(self, gamma: np.ndarray, dgamma: np.ndarray, running_mean: np.ndarray, running_var: np.ndarray, momentum: float, epsilon: float) -> None:
        self.gamma, self.dgamma = gamma, dgamma
        self.running_mean, self.running_var = running_mean, running_var
        self.momentum, self.epsilon = momentum, epsilon
        n = gamma.shape[0]
        self.mu, self.var, self.inv_std = (np.empty((n, 1), gamma.dtype) for _ in range(3))
        self.buffers: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # m -> (Z^, scratch), both (n[l], m)

    def _buffers(self, m: int) -> tuple[np.ndarray, np.ndarray]:
        if m not in self.buffers:
            self.buffers[m] = (np.empty((self.gamma.shape[0], m), self.gamma.dtype), np.empty((self.gamma.shape[0], m), self.gamma.dtype))
        return self.buffers[m]

    def nbytes(self, m: int) -> int:
        return 2 * self.gamma.shape[0] * m * self.gamma.itemsize

    def forward(self, Z: np.ndarray) -> None:
        """Z (n[l], m) := gamma Z^ over this batch; keeps Z^ and 1/sqrt(sigma^2 + epsilon) for backward."""
        m = Z.shape[1]
        Zhat, scratch = self._buffers(m)
        _sum(Z, axis=1, keepdims=True, out=self.mu)
        self.mu /= m
        Z -= self.mu  # (n[l], m), mu broadcast over the columns
        np.multiply(Z, Z, out=scratch)
        _sum(scratch, axis=1, keepdims=True, out=self.var)
        self.var /= m  # biased: the batch's own variance
        np.add(self.var, self.epsilon, out=self.inv_std)
        np.sqrt(self.inv_std, out=self.inv_std)
        np.reciprocal(self.inv_std, out=self.inv_std)
        np.multiply(Z, self.inv_std, out=Zhat)
        np.multiply(Zhat, self.gamma, out=Z)
        b = self.momentum
        self.running_mean *= b
        self.running_mean += (1 - b) * self.mu
        self.running_var *= b
        self.running_var += (1 - b) * m / (m - 1) * self.var

    def backward(self, dZ: np.ndarray, dbeta: np.ndarray) -> float:
        """dZ~ (n[l], m) := dZ = gamma / sqrt(sigma^2 + epsilon) (dZ~ - dbeta - Z^ dgamma), with
        dgamma = (1/m) sum dZ~ Z^ into its view; `dbeta` = (1/m) sum dZ~, already computed.
        Returns the sum of dgamma, for the finiteness check."""
        m = dZ.shape[1]
        Zhat, scratch = self._buffers(m)
        np.multiply(dZ, Zhat, out=scratch)
        _sum(scratch, axis=1, keepdims=True, out=self.dgamma)
        self.dgamma /= m
        np.multiply(Zhat, self.dgamma, out=scratch)
        dZ -= dbeta
        dZ -= scratch
        np.multiply(self.gamma, self.inv_std, out=self.mu)  # mu is free until the next forward
        dZ *= self.mu
        return float(_sum(self.dgamma, axis=None))
