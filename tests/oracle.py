"""The reference backpropagation: the course's own loops over layers, written to be read, not to be fast.

nnctl trains with nnctl.core.training.Trainer (buffers, in-place updates, one parameter vector); the
tests hold it to these functions, which follow the course's formulas line by line:

    dZ[L] = A[L] - Y (sigmoid + cross-entropy, softmax + categorical cross-entropy)
    dW[l] = (1/m) dZ[l] A[l-1]^T,  db[l] = (1/m) sum dZ[l],  dA[l-1] = W[l]^T dZ[l]

They lived in nnctl.core.network until issue 21 moved them here: nothing in nnctl used them.
"""

from __future__ import annotations

from typing import Sequence


from nnctl.core.activations import ACTIVATIONS
from nnctl.core.backend import Array
from nnctl.core.layers import BATCH_NORM_EPSILON, normalised_layers
from nnctl.core.network import LOSSES, batch_norm_forward, layer_count


def output_dZ(ZL: Array, AL: Array, Y: Array, activation: str, loss: str) -> Array:
    """dZ[L]. With a sigmoid output and cross-entropy it is exactly A[L] - Y, never via dA[L]."""
    return LOSSES[loss].dZ(AL - Y, AL.copy(), activation)  # dZ consumes its copy of A


def batch_norm_backward(dZt: Array, Zhat: Array, inv_std: Array, gamma: Array) -> tuple[Array, Array, Array]:
    """(dZ, dgamma, dbeta) from dZ~ (n[l], m), in the units backward's dZ has (m times the
    derivative of the mean cost): dbeta = (1/m) sum dZ~, dgamma = (1/m) sum dZ~ Z^ and, since
    mu and sigma^2 depend on every column,
    dZ = gamma / sqrt(sigma^2 + epsilon) (dZ~ - dbeta - Z^ dgamma)."""
    m = dZt.shape[1]
    dbeta = dZt.sum(axis=1, keepdims=True) / m
    dgamma = (dZt * Zhat).sum(axis=1, keepdims=True) / m
    return gamma * inv_std * (dZt - dbeta - Zhat * dgamma), dgamma, dbeta


def update_running_averages(params: dict[str, Array], stats: dict[int, tuple[Array, Array]], momentum: float, m: int) -> dict[str, Array]:
    """running = beta running + (1 - beta) batch, in place, for each layer's batch (mu, sigma^2)
    in `stats`; the variance made unbiased (m / (m - 1)) first, as PyTorch's BatchNorm1d does."""
    for l, (mu, var) in stats.items():
        params[f"running_mean{l}"] *= momentum
        params[f"running_mean{l}"] += (1 - momentum) * mu
        params[f"running_var{l}"] *= momentum
        params[f"running_var{l}"] += (1 - momentum) * var * (m / (m - 1))
    return params


def backward(
    Y: Array,
    params: dict[str, Array],
    Zs: Sequence,
    As: Sequence[Array],
    activations: Sequence[str],
    loss: str,
    l2: float = 0.0,
    dropout: dict[int, tuple[Array, float]] | None = None,
    epsilon: float = BATCH_NORM_EPSILON,
) -> dict[str, Array]:
    """Backward propagation; returns grads {"dW1", "db1", ...} of the mean cost.

    dW[l] = (1/m) dZ[l] A[l-1]^T + (lambda/m) W[l]     # (n[l], n[l-1]); lambda = `l2`
    db[l] = (1/m) sum over columns of dZ[l]
    dA[l-1] = W[l]^T dZ[l] (times D[l-1] / keep_prob with dropout), then dZ[l-1] = dA[l-1] * g'(Z[l-1]).
    A batch-normalised layer (training mode: the batch's statistics, recomputed from A[l-1]) gives
    dgamma[l], dbeta[l] and passes dZ[l] = d(W[l] A[l-1]) on (batch_norm_backward).
    """
    L = layer_count(params)
    normalised = normalised_layers(params)
    m = Y.shape[1]
    dropout = dropout or {}
    grads = {}
    dZ = output_dZ(Zs[L], As[L], Y, activations[L - 1], loss)
    for l in range(L, 0, -1):
        if l in normalised:
            Z = params[f"W{l}"] @ As[l - 1]
            _, Zhat, inv_std, _, _ = batch_norm_forward(Z, params[f"gamma{l}"], params[f"beta{l}"], epsilon)
            dZ, grads[f"dgamma{l}"], grads[f"dbeta{l}"] = batch_norm_backward(dZ, Zhat, inv_std, params[f"gamma{l}"])
        grads[f"dW{l}"] = (dZ @ As[l - 1].T) / m
        if l2:
            grads[f"dW{l}"] += l2 / m * params[f"W{l}"]
        if l not in normalised:
            grads[f"db{l}"] = dZ.sum(axis=1, keepdims=True) / m
        if l > 1:
            dA_prev = params[f"W{l}"].T @ dZ  # (n[l-1], m)
            g = ACTIVATIONS[activations[l - 2]]
            if l - 1 in dropout:
                D, keep = dropout[l - 1]
                dA_prev = dA_prev * D / keep
                A_prev = g.forward(Zs[l - 1].copy())  # g'(Z) from the activation before its mask
            else:
                A_prev = As[l - 1].copy()
            dZ = g.backward(dA_prev, A_prev)
    return grads


def update_parameters(params: dict[str, Array], grads: dict[str, Array], learning_rate: float) -> dict[str, Array]:
    """W := W - alpha dW, in place (gradient descent; see nnctl.core.optimizers for the others).
    Arrays without a gradient (batch norm's running averages) are state, left as they are."""
    for key, value in params.items():
        if "d" + key in grads:
            value -= learning_rate * grads["d" + key]
    return params
