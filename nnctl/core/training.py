"""The training math and its loop: buffers allocated once, backward then the optimizer's step.

`Trainer` is the one backprop: forward(), backward() -> finite, step() (the optimizer's), on the
current batch, with every array allocated once (per batch size: the full batch, or the mini-batch
and the smaller last one). The pure functions of nnctl.core.network are the readable reference the
tests hold it to. The first layer is a strategy (nnctl.core.firstlayer): primal or dual.

`gradient_descent` is the loop over epochs and mini-batches. It only emits events (costs, ticks,
epoch ends, "stop?"); listeners record, draw, save checkpoints or ask to stop. Costs are the course's: an epoch's cost is the
sum of the per-batch costs, each taken before that batch's update, divided by m. A classifier's
training accuracy is recorded the same way (as Keras does): the right answers of each batch's forward
pass, the one training computed (dropout on, batch norm on the batch's statistics), added up over the
epoch and divided by m; nothing is run again for it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

import numpy as np
import numpy.typing as npt

from nnctl.core.activations import ACTIVATIONS
from nnctl.core.backend import Array, NumpyBackend, namespace
from nnctl.core.batchnorm import BatchNormStep
from nnctl.core.status import Status
from nnctl.core.firstlayer import FIRST_LAYERS, choose_first_layer, gram  # noqa: F401 (re-exported)
from nnctl.core.layers import BATCH_NORM_EPSILON, BATCH_NORM_MOMENTUM, kind_of, normalised_layers
from nnctl.core.network import LOSSES, top_class_rank
from nnctl.core.optimizers import Optimizer
from nnctl.core.regularization import l2_cost

if TYPE_CHECKING:
    from nnctl.core.regularization import Dropout
    from nnctl.data.stream import StreamedX
    from nnctl.core.validation import ValidationMonitor

COURSE_SHUFFLE_SEED = 10  # the course's `seed = 10`, incremented before each epoch


class Listener:
    """Training events, Keras-callback style: the loop emits them, listeners record, draw, save
    checkpoints or ask to stop. Every method does nothing here (the `--quiet` reporter).

    `unit` names what `total` and the numbers passed count: "iteration" for full-batch training
    (one iteration per epoch), "epoch" with mini-batches.
    """

    unit = "iteration"

    def on_start(self, total: int, start: int) -> None: ...

    def on_cost(self, iteration: int, cost: float) -> None:
        """A recorded cost: the last event of a record (its accuracies come just before)."""

    def on_train_accuracy(self, iteration: int, accuracy: float) -> None:
        """A classifier's training accuracy (%) of the recorded epoch, counted from its batches as
        they were trained; just before `on_validation` and `on_cost` of the same record. NaN where
        it was not counted (a run resumed in that epoch from a checkpoint of an older nnctl)."""

    def on_tick(self, iteration: int) -> None:
        """Progress, about 200 times a run."""

    def on_epoch_end(self, result: "TrainingResult") -> None:
        """After every epoch."""

    def stop_requested(self) -> bool:
        """Asked after every iteration; True ends the run as interrupted (resumable)."""
        return False

    def on_validation(self, iteration: int, cost: float, accuracy: float | None) -> None:
        """The validation set's cost (and accuracy, None for a regression), just before `on_cost`
        of the same record."""

    def on_end(self, iteration: int) -> None: ...


Reporter = Listener  # the progress display's name for it


class StopWhen(Listener):
    """Stop when `ask()` says so (Ctrl-C, SIGTERM)."""

    def __init__(self, ask: Callable[[], object]) -> None:
        self.ask = ask

    def stop_requested(self) -> bool:
        return bool(self.ask())


class StopAtEpoch(Listener):
    """Stop at the end of epoch `epochs` (a budget of successive halving): the run is kept,
    interrupted, with its checkpoint, and a resume continues it."""

    def __init__(self, epochs: int) -> None:
        self.epochs, self.reached = epochs, False

    def on_epoch_end(self, result: TrainingResult) -> None:
        self.reached = result.position.epoch >= self.epochs

    def stop_requested(self) -> bool:
        return self.reached


class CheckpointEvery(Listener):
    """`save(result)` every `every` epochs, except after the last (params.h5 then holds the state)."""

    def __init__(self, every: int, total: int, save: Callable[[TrainingResult], object]) -> None:
        self.every, self.total, self.save = every, total, save

    def on_epoch_end(self, result: TrainingResult) -> None:
        epoch = result.position.epoch
        if epoch % self.every == 0 and epoch < self.total:
            self.save(result)


# ---------------------------------------------------------------- the examples, batch by batch


class StoredOrder:
    """shuffle: none — the examples in the order they are stored, every epoch."""

    def __init__(self, seed: int) -> None:
        pass

    def draw(self, order: np.ndarray, epoch: int) -> None:
        pass

    def state(self) -> dict:
        return {}

    def load_state(self, state: dict) -> None:
        pass


class GeneratorOrder(StoredOrder):
    """shuffle: generator — a new order every epoch from a Generator seeded from the spec's seed
    (its own stream, not the initialisation's); its state goes into checkpoints."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))

    def draw(self, order: np.ndarray, epoch: int) -> None:
        self.rng.shuffle(order)

    def state(self) -> dict:
        return {"bit_generator": self.rng.bit_generator.state}

    def load_state(self, state: dict) -> None:
        if "bit_generator" in state:
            self.rng.bit_generator.state = state["bit_generator"]


class CourseOrder(StoredOrder):
    """shuffle: course — the notebook's random_mini_batches: `seed` starts at 10 and is incremented
    before each epoch, then `np.random.seed(seed); np.random.permutation(m)`. Nothing to save:
    the order follows from the epoch."""

    def __init__(self, seed: int) -> None:
        self.legacy = np.random.RandomState(COURSE_SHUFFLE_SEED)

    def draw(self, order: np.ndarray, epoch: int) -> None:
        # reseeding one RandomState gives RandomState(seed)'s stream, 20 times faster than a new one
        self.legacy.seed(COURSE_SHUFFLE_SEED + 1 + epoch)
        self.legacy.shuffle(order)


SHUFFLES = {"generator": GeneratorOrder, "course": CourseOrder, "none": StoredOrder}


class Batches:
    """Which examples each step sees. Full batch (`batch_size` None or >= m): all of X, in order.
    Mini-batches of `batch_size`, the last one smaller, in an order drawn every epoch by one of
    SHUFFLES."""

    def __init__(self, m: int, batch_size: int | None = None, shuffle: str = "generator", seed: int = 0) -> None:
        self.m = m
        self.full = batch_size is None or batch_size >= m
        self.size = m if self.full or batch_size is None else batch_size
        self.count = -(-m // self.size)  # batches per epoch
        self.shuffler = SHUFFLES["none" if self.full else shuffle](seed)
        self.order = np.arange(m)  # this epoch's order of the examples, drawn in place
        self._identity = np.arange(m)

    @property
    def sizes(self) -> tuple:
        return tuple(sorted({self.size, self.m - (self.count - 1) * self.size}))

    def start_epoch(self, epoch: int) -> None:
        """Draw this epoch's order: `permutation(m)`, written as what it is, a shuffle of 0..m-1."""
        np.copyto(self.order, self._identity)
        self.shuffler.draw(self.order, epoch)

    def indices(self, k: int) -> np.ndarray:
        """The examples of batch k (a view of this epoch's order)."""
        return self.order[k * self.size : (k + 1) * self.size]

    def state(self) -> dict:
        """The shuffler's state (JSON) after this epoch's draw; the order itself goes with it."""
        return self.shuffler.state()

    def load_state(self, state: dict, order: np.ndarray | None) -> None:
        self.shuffler.load_state(state)
        if order is not None:
            if order.shape != (self.m,) or not np.array_equal(np.sort(order), self._identity):
                raise ValueError("the checkpoint's order of the examples is not a permutation of them")
            self.order[:] = order


class _Buffers:
    """A[l], Z[L] and dZ[l] for one batch size; X and Y gathered into them (or the full ones).

    A mini-batch's X is laid out as the data is (`rows`: one example contiguous, as X loaded from
    a file is, X (n_x, m) being the transpose of the stored (m, n_x)), so that gathering a batch
    copies whole examples and never a strided column. Every array is the backend's (`be`: on a
    device, device memory); `staged` adds page-locked host copies of X and Y, gathered on the host
    and copied over, for data that stays on the host."""

    D: dict[int, Array]  # l -> D[l], the dropout layers' masks
    uniform: dict[int, np.ndarray]  # l -> float64 scratch of D[l]'s shape, on the host
    hD: dict[int, Array]  # l -> D[l] on the host (D[l] itself off a device)

    def __init__(
        self,
        n: list[int],
        m: int,
        dtype: npt.DTypeLike,
        X: Array | None = None,
        Y: Array | None = None,
        n_y: int = 1,
        rows: bool = False,
        be: NumpyBackend | None = None,
        staged: bool = False,
    ) -> None:
        be = be or NumpyBackend()
        self.m, self.be = m, be
        order = "F" if rows else "C"
        self.X = X if X is not None else be.empty((n[0], m), dtype, order=order)
        self.Y = Y if Y is not None else be.empty((n_y, m), dtype)
        self.hX = be.host_empty((n[0], m), dtype, order=order) if staged else None
        self.hY = be.host_empty((n_y, m), dtype) if staged else None
        L = len(n) - 1
        self.A = [self.X] + [be.empty((n[l], m), dtype) for l in range(1, L + 1)]  # A[l] (n[l], m)
        self.ZL = be.empty((n[L], m), dtype)  # Z[L] kept for the cost
        self.dZ = [None] + [be.empty((n[l], m), dtype) for l in range(1, L + 1)]
        self.fwd = list(self.A)  # what layer l + 1 reads: A[l], or A[l] * D[l] / keep_prob with dropout
        self.D, self.uniform, self.hD = {}, {}, {}
        # scratch of the output layer and the cost (two (n[L], m), one (2, m)): a step allocates nothing
        self.work = (be.empty((n[L], m), dtype), be.empty((n[L], m), dtype), be.empty((2, m), dtype))

    def add_dropout(self, layers: Iterable[int]) -> None:
        """A mask D[l] and a dropped copy of A[l] for each dropout layer: A[l] itself stays the
        activation's output, which g'(Z[l]) is computed from. Masks are drawn on the host (the
        same generator, the same masks on any device) and copied over."""
        be = self.be
        for l in layers:
            shape, dtype = self.A[l].shape, self.A[l].dtype
            self.D[l] = be.empty(shape, dtype)
            self.uniform[l] = np.empty(shape, np.float64)
            self.hD[l] = np.empty(shape, dtype) if be.device else self.D[l]
            self.fwd[l] = be.empty(shape, dtype)

    def nbytes(self) -> int:
        extra = sum(a.nbytes for d in (self.D, self.uniform) for a in d.values()) + sum(self.fwd[l].nbytes for l in self.D)
        return sum(a.nbytes for a in self.A[1:] + self.dZ[1:]) + self.ZL.nbytes + extra


# ---------------------------------------------------------------- the network's training state


class Trainer:
    """One network's training state; `params` is updated in place.

    `params`' arrays are replaced by views of the Trainer's parameter vector (the dict itself is
    kept). On the dual path params["W1"] is only brought up to date by `materialize()`.
    `optimizer` defaults to gradient descent at `learning_rate`.

    Regularisers: `l2` (lambda) adds lambda/(2m) sum ||W[l]||^2 to the cost and (lambda/m) W[l] to
    each dW[l], m the examples of the batch (as the course and scikit-learn do); `dropout` (a
    nnctl.core.regularization.Dropout) masks hidden activations in forward and their gradients in backward.
    Batch norm: the layers whose params hold gamma{l} (nnctl.core.layers), each through a BatchNormStep;
    beta[l] takes b[l]'s place in the vector and in forward/backward, gamma[l] follows it.
    """

    # lists indexed by layer as the course numbers them, 1..L (entry 0 is None): no list type says both
    W: list
    b: list
    dW: list
    db: list
    fused: list
    back: list
    Xs: Array | StreamedX  # X where the math runs (on a device: copied over when resident)
    Ys: Array

    def __init__(
        self,
        params: dict[str, Array],
        X: Array | StreamedX,
        Y: Array,
        activations: Sequence[str],
        loss: str,
        learning_rate: float | None = None,
        path: str = "primal",
        dual_state: dict | None = None,
        *,
        optimizer: Optimizer | None = None,
        batch_size: int | None = None,
        l2: float = 0.0,
        dropout: Dropout | None = None,
        batch_norm_momentum: float = BATCH_NORM_MOMENTUM,
        batch_norm_epsilon: float = BATCH_NORM_EPSILON,
        backend: NumpyBackend | None = None,
    ) -> None:
        self.params, self.X, self.Y = params, X, Y
        # where the math runs (nnctl.core.backend): NumPy, or a device; `xp` is its array namespace
        self.be = be = backend or NumpyBackend()
        self.xp = be.xp
        self.loss_name, self.loss = loss, LOSSES[loss]
        self.output = activations[-1]
        self.acts = [ACTIVATIONS[a] for a in activations]
        self.L = L = len(activations)
        n_x, m = X.shape
        self.m = m
        normalised = normalised_layers(params)
        self.W = [None] + [params[f"W{l}"] for l in range(1, L + 1)]
        shift: list = [None] + [f"beta{l}" if l in normalised else f"b{l}" for l in range(1, L + 1)]  # what is added to Z[l]
        self.b = [None] + [params[shift[l]] for l in range(1, L + 1)]
        self.n = n = [n_x] + [W.shape[0] for W in self.W[1:]]
        self.dtype = X.dtype
        self.stream: StreamedX | None = X if hasattr(X, "next_batch") else None  # type: ignore[assignment]  # mypy narrows no true hasattr() to StreamedX; examples read from disk (nnctl.data.stream)
        # examples contiguous (X loaded from a file is the transpose of the stored rows): gather rows
        self.rows = bool(X.flags.f_contiguous and not X.flags.c_contiguous)
        mini = batch_size is not None and batch_size < m
        if path != "primal" and be.device:
            raise ValueError(f"the {path} first layer runs on the CPU only; use first_layer: primal with device {be.name}")
        # on a device: the examples copied over once when they fit (always for the full batch),
        # else gathered batch by batch on the host into page-locked buffers and copied
        self.resident = not be.device or (self.stream is None and (not mini or be.fits(X.nbytes + Y.nbytes)))
        self.Xs, self.Ys = (be.asarray(X), be.asarray(Y)) if be.device and self.resident else (X, Y)
        self._order = None  # this epoch's order of the examples on the device
        staged = be.device and not self.resident
        self.buffers = {}
        if mini:
            # mini-batches only: no buffers of all m examples (as large as the data itself)
            for size in sorted({batch_size, m - (-(-m // batch_size) - 1) * batch_size}, reverse=True):
                self.buffers[size] = _Buffers(n, size, X.dtype, n_y=Y.shape[0], rows=self.rows, be=be, staged=staged)
            self.cur = self.buffers[batch_size]
        else:
            self.cur = self._full()
        self.l2 = float(l2)
        if self.l2 and path != "primal":
            raise ValueError("L2 regularisation needs the primal first layer")
        self.dropout = dropout if dropout is not None and dropout.active else None
        if self.dropout is not None:
            if self.dropout.layers and self.dropout.layers[-1] >= L:
                raise ValueError("dropout never applies to the output layer")
            for B in self.buffers.values():
                B.add_dropout(self.dropout.layers)
        self.path = path
        self.first = FIRST_LAYERS[path](self.W[1], X, dual_state)
        # Every trained array, in the course's order W1 (or C), b1, W2, b2, ... (nnctl.core.layers' order
        # within a layer), is a view of one parameter vector, and every gradient a view of one
        # gradient vector: the optimizer's step is a few whole-vector operations, whatever the depth.
        pieces = [(self.first.trained_name, self.first.trained)]
        pieces += [(f"{a.name}{l}", params[f"{a.name}{l}"]) for l in range(1, L + 1) for a in kind_of(l, normalised) if a.trained and (a.name, l) != ("W", 1)]
        dtype = self.W[1].dtype
        # on a device, `params` stays on the host: views of a host copy of the vector that
        # materialize() brings up to date
        self.theta_host = np.empty(sum(a.size for _, a in pieces), dtype)
        offset = 0
        for name, arr in pieces:
            self.theta_host[offset : offset + arr.size].reshape(arr.shape)[...] = arr
            offset += arr.size
        self.theta = be.asarray(self.theta_host) if be.device else self.theta_host
        self.grad = be.empty(self.theta.shape, dtype)

        def view(vector: Array, a: int, arr: Array) -> Array:
            return vector[a : a + arr.size].reshape(arr.shape)

        views, host, offset = {}, {}, 0
        for name, arr in pieces:
            views[name] = (view(self.theta, offset, arr), view(self.grad, offset, arr))
            host[name] = view(self.theta_host, offset, arr)
            offset += arr.size
        self.first.rebind(*views[self.first.trained_name])
        if self.first.trained_name == "W1":  # the primal path trains W[1] itself
            self.W[1] = views["W1"][0]
            params["W1"] = host["W1"]
        self.dW = [None, None] + [views[f"W{l}"][1] for l in range(2, L + 1)]
        self.db = [None] + [views[shift[l]][1] for l in range(1, L + 1)]
        for l in range(1, L + 1):
            self.b[l] = views[shift[l]][0]
            params[shift[l]] = host[shift[l]]
            if l > 1:
                self.W[l] = views[f"W{l}"][0]
                params[f"W{l}"] = host[f"W{l}"]
        self.bn = {}
        if normalised and be.device:
            raise ValueError(f"batch norm runs on the CPU only; use device: cpu (got device: {be.name})")
        for l in normalised:
            params[f"gamma{l}"] = views[f"gamma{l}"][0]
            self.bn[l] = BatchNormStep(*views[f"gamma{l}"], params[f"running_mean{l}"], params[f"running_var{l}"], batch_norm_momentum, batch_norm_epsilon)
        if optimizer is None:
            assert learning_rate is not None  # no optimizer: gradient descent at learning_rate
            optimizer = Optimizer(learning_rate)
        self.optimizer = optimizer.bind([(n, a.shape) for n, a in pieces], dtype, be)
        self._decay = [None] + [be.empty(W.shape, W.dtype) for W in self.W[1:]] if self.l2 else None  # (lambda/m) W[l]
        # bias + activation as one kernel where the backend has one (hidden layers: Z[l] is A[l])
        self.fused = [None] + [be.bias_activation(a) if l < L else None for l, a in enumerate(activations, 1)]
        self.back = [None] + [be.activation_backward(a) or ACTIVATIONS[a].backward for a in activations]  # dZ from dA, A
        # ... and the output layer in one kernel: bias, g, each example's loss added to `_costs`,
        # dZ[L] = (A[L] - Y) / m, so that backward divides by m nowhere else (not with L2: its
        # penalty is part of the cost)
        self.out_fused = be.output_kernel(loss, activations[-1]) if not self.l2 else None
        self._costs = be.asarray(np.zeros(max(B.m for B in self.buffers.values()) if self.buffers else m)) if self.out_fused else None
        self._cost = 0.0  # on a device: this epoch's summed batch costs, read at its end
        # a classifier's right answers (nnctl.core.network LOSSES' `correct`): counted from each recorded
        # batch's forward pass into the cost's scratch buffers, on a device summed there like the cost
        self.counts = self.loss.correct is not None
        self._rank = be.asarray(top_class_rank(n[L], dtype)) if self.counts else None
        self._correct: Array | float = 0.0  # on a device: this epoch's right answers so far, read at its end
        self._per_example = 1  # decisions per example (the output units for a sigmoid head)

    @property
    def learning_rate(self) -> float:
        return self.optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        self.optimizer.learning_rate = value

    def _full(self) -> _Buffers:
        """The buffers of the full batch (all of X), made on first use."""
        if self.m not in self.buffers:
            assert not hasattr(self.Xs, "next_batch")  # the full batch is never streamed (nnctl.data.stream: mini-batches only)
            B = self.buffers[self.m] = _Buffers(self.n, self.m, self.dtype, self.Xs, self.Ys, be=self.be)
            if getattr(self, "dropout", None) is not None:
                assert self.dropout is not None  # (getattr: made before __init__ sets self.dropout)
                B.add_dropout(self.dropout.layers)
        return self.buffers[self.m]

    def begin_epoch(self, order: np.ndarray, cost_sum: float = 0.0, correct: float = 0.0) -> None:
        """This epoch's order of the examples (drawn on the host, the same on any device): copied to
        the device once, where the examples are gathered there. On a device the batch costs are
        summed there from `cost_sum` (the epoch's so far), in the CPU's order of additions, and the
        right answers from `correct`."""
        if self.be.device and self.resident:
            self._order = self.be.asarray(order)
        self._cost = cost_sum
        self._correct = correct
        if self._costs is not None:
            self._costs.fill(0)

    def use_batch(self, idx: np.ndarray | None = None, start: int | None = None) -> None:
        """Make examples `idx` (an index array, a view of this epoch's order from `start`) the
        current batch, gathered into that size's buffers with no temporary; None: the full batch.

        Gathering columns of an F-ordered X with np.take would first copy all of X to C order:
        the rows of X.T are gathered instead."""
        if idx is None:
            self.cur = self._full()
            return
        be = self.be
        B = self.cur = self.buffers[len(idx)]
        if self.stream is not None:  # read ahead by the stream's thread, in this batch's order
            if be.device:
                be.copy_in(B.X, self.stream.next_batch(idx))
            else:
                B.X = B.A[0] = self.stream.next_batch(idx)
            self._gather(be, self.Y, idx, B.hY, B.Y)
            return
        if be.device and self.resident and start is not None and self._order is not None:
            idx = self._order[start : start + len(idx)]
        self._gather(be, self.X, idx, B.hX, B.X)
        self._gather(be, self.Y, idx, B.hY, B.Y)

    def _gather(self, be: NumpyBackend, host: Array | StreamedX, idx: Array, staged: Array | None, out: Array) -> None:
        """Columns `idx` of `host` (X or Y) into `out`: on the device from its resident copy, or on
        the host into the page-locked `staged` and copied over."""
        src = (self.Xs if host is self.X else self.Ys) if staged is None else host
        dst = out if staged is None else staged
        take = type(be).take if staged is None else NumpyBackend.take  # the host gathers staged batches
        assert not hasattr(src, "next_batch")  # a streamed X is read by its thread (use_batch), never gathered
        if host is self.X and self.rows:
            take(be, src.T, idx, 0, dst.T)
        else:
            take(be, src, idx, 1, dst)
        if staged is not None:
            be.copy_in(out, staged)

    def forward(self) -> None:
        B, xp = self.cur, self.xp
        if self.dropout is not None:
            self.dropout.draw(B.hD, B.uniform)
            if self.be.device:
                for l in B.D:
                    self.be.copy_in(B.D[l], B.hD[l])
        for l in range(1, self.L + 1):
            Z = B.ZL if l == self.L else B.A[l]
            if l == 1:
                self.first.forward(B.A[0], Z)
            else:
                xp.matmul(self.W[l], B.fwd[l - 1], out=Z)
            if l in self.bn:  # Z := gamma Z^ over the batch; beta is added as b is
                self.bn[l].forward(Z)
            if l == self.L and self.out_fused is not None:  # the cost and dZ[L] come with it
                self.out_fused(Z, self.b[l], B.A[l], B.Y, B.dZ[l], self._ensure_costs(), 1.0 / B.m)
            elif self.fused[l] is not None:
                self.fused[l](self.b[l], Z)  # Z is A[l]: A[l] = g(Z[l] + b[l]) in one pass
            else:
                Z += self.b[l]  # (n[l], 1) broadcast over the m columns
                self.acts[l - 1].forward(Z, out=B.A[l], work=B.work[2][:1])
            if l in B.D:  # inverted dropout: A[l] * D[l] / keep_prob, in the course's order
                assert self.dropout is not None  # B.D: masks only with dropout
                xp.multiply(B.A[l], B.D[l], out=B.fwd[l])
                B.fwd[l] /= self.dropout.keep[l]

    def penalty(self) -> float:
        """sum over l of ||W[l]||_F^2 (0 without L2)."""
        if not self.l2:
            return 0.0
        return float(sum(float(self.xp.vdot(W, W)) for W in self.W[1:]))

    def cost_total(self) -> float:
        """The current batch's cost times divisor * m: the loss summed over its examples (the
        course's `compute_cost`), plus divisor * lambda/2 sum ||W||^2 with L2."""
        B = self.cur
        total = float(self.loss.total(B.ZL, B.A[self.L], B.Y, B.work))
        return total + l2_cost(self.l2, self.penalty(), self.loss.divisor) if self.l2 else total

    def batch_cost(self) -> float | None:
        """cost_total() of the current batch; on a device None: summed there without a read,
        and taken with `epoch_cost()` at the epoch's end (a read per batch would stall the device)."""
        if not self.be.device:
            return self.cost_total()
        if self.out_fused is not None:
            return None  # the forward's kernel added each example's loss to _costs
        B = self.cur
        total = self.loss.total(B.ZL, B.A[self.L], B.Y, B.work).astype(np.float64)  # summed as the CPU sums floats
        if self.l2:
            total = total + l2_cost(self.l2, self.penalty(), self.loss.divisor)
        self._cost = self._cost + total
        return None

    def epoch_cost(self) -> float:
        """On a device: the epoch's cost sum (from begin_epoch's `cost_sum`, each batch's added)."""
        if self._costs is not None:
            return self._cost + float(self._costs.sum())
        return float(self._cost)

    def _count(self) -> Array:
        """The right answers of the current batch's forward pass (0-d, not read): after the cost,
        whose scratch buffers it reuses, and before backward, which may consume A[L]."""
        B = self.cur
        assert self.loss.correct is not None  # a classifier's loss: only those count
        count, decisions = self.loss.correct(B.A[self.L], B.Y, B.work, self._rank)
        self._per_example = decisions // B.m
        return count

    def correct(self) -> int:
        """A classifier's right answers in the current batch, read at once (full batch: at a record,
        as `cost()` is)."""
        return int(self._count())

    def batch_correct(self) -> int | None:
        """correct() of the current batch; on a device None: summed there without a read, and taken
        with `epoch_correct()` at the epoch's end, as the batch costs are."""
        if not self.be.device:
            return int(self._count())
        self._correct = self._correct + self._count()
        return None

    def epoch_correct(self) -> float:
        """On a device: the epoch's right answers (from begin_epoch's `correct`, each batch's added)."""
        return float(self._correct)

    def accuracy(self, correct: float) -> float:
        """`correct` right answers over an epoch of all m examples, in percent."""
        return 100.0 * correct / (self.m * self._per_example)

    def _ensure_costs(self) -> Array:
        if self._costs is None or self._costs.shape[0] < self.cur.m:
            self._costs = self.be.asarray(np.zeros(self.cur.m))
        return self._costs

    def cost(self) -> float:
        """The current batch's mean cost; with L2, J + lambda/(2m) sum ||W[l]||_F^2."""
        B = self.cur
        J = float(self.loss.total(B.ZL, B.A[self.L], B.Y, B.work)) / (self.loss.divisor * B.m)
        return J + l2_cost(self.l2, self.penalty(), 1.0 / B.m) if self.l2 else J

    def backward(self) -> bool:
        """Gradients of every layer into the buffers; False if any is not finite.

        The arithmetic is in the course's order (dW = dZ A^T / m), so a run reproduces the
        notebooks' printed costs digit for digit.
        """
        B, L, be, xp = self.cur, self.L, self.be, self.xp
        m = B.m
        # fused: the forward's kernel left dZ[L] / m, and every product below is linear in it
        scaled = self.out_fused is not None
        if not scaled:
            dZ = xp.subtract(B.A[L], B.Y, out=B.dZ[L])  # A[L] - Y
            self.loss.dZ(dZ, B.A[L], self.output)  # dZ[L]; may consume A[L]: the cost was taken before
        total = 0.0  # on a device, summed there and read once
        for l in range(L, 0, -1):
            dZ = B.dZ[l]
            be.sum(dZ, axis=1, keepdims=True, out=self.db[l])
            if not scaled:
                self.db[l] /= m
                total += be.total(self.db[l])
            if l in self.bn:  # db[l] is dbeta; dZ~[l] becomes dZ[l] of W[l] A[l-1]
                total += self.bn[l].backward(dZ, self.db[l])
            if l == 1:
                dW = self.first.gradient(dZ, B.A[0], 1 if scaled else m)
                if not scaled:
                    total += be.total(self.first.finite_probe(dZ))
            else:
                dW = self.dW[l]
                xp.matmul(dZ, B.fwd[l - 1].T, out=dW)  # dZ[l] A[l-1]^T  (n[l], n[l-1])
                if not scaled:
                    dW /= m
                    # finite dZ[l] (and finite A[l-1]) make a finite dW[l]: check whichever array is smaller
                    total += be.total(dZ if dZ.size < dW.size else dW)
                dA = xp.matmul(self.W[l].T, dZ, out=B.dZ[l - 1])  # dA[l-1] = W[l]^T dZ[l]
                if l - 1 in B.D:  # the same mask, the same scaling
                    assert self.dropout is not None  # B.D: masks only with dropout
                    dA *= B.D[l - 1]
                    dA /= self.dropout.keep[l - 1]
                # A[l-1] has served dW[l] above: backward may consume it for g'(Z[l-1])
                self.back[l - 1](dA, B.A[l - 1])
            if self.l2:  # the one line of L2: dW[l] += (lambda/m) W[l]
                assert self._decay is not None  # made with L2
                dW += xp.multiply(self.W[l], self.l2 / m, out=self._decay[l])
        return be.all_finite(self.grad) if scaled else be.finite(total)

    def step(self) -> None:
        """The optimizer's update of every trained array (it may overwrite the gradients)."""
        self.optimizer.step(self.theta, self.grad)

    def backward_and_update(self) -> bool:
        """One training step on the current batch: backward, then (if finite) the step."""
        if not self.backward():
            return False
        self.step()
        return True

    def materialize(self) -> dict:
        """params with W[1] = W[1]_0 + C X^T on the dual path; the params dict itself (NumPy
        arrays, on a device copied back to the host first)."""
        if self.be.device:
            np.copyto(self.theta_host, self.be.to_host(self.theta))
        self.first.materialize(self.params["W1"], self.X)
        return self.params

    def device_params(self) -> dict:
        """{"W1": ..., "b1": ...}: the backend's own arrays, views of the parameter vector (primal
        path), for evaluating where the parameters are without copying them back."""
        return {f"{k}{l}": arr[l] for l in range(1, self.L + 1) for k, arr in (("W", self.W), ("b", self.b))}

    def state(self) -> dict:
        """The first layer's state a checkpoint needs (W1_0 and C on the dual path)."""
        return self.first.state()

    def dropout_state(self) -> dict:
        """The dropout masks' generator state (JSON), for checkpoints."""
        return self.dropout.state() if self.dropout is not None else {}

    def params_finite(self) -> bool:
        """Parameters, the first layer's state and the optimizer's moments all finite."""
        arrays = [self.theta] + list(self.state().values()) + list(self.optimizer.m.values())
        return all(bool(namespace(a).isfinite(a).all()) for a in arrays)

    def moments_finite(self) -> bool:
        """The optimizer's moments finite: RMSprop's and Adam's squared gradients can overflow (inf) while
        the gradients themselves are finite, and their update then silently stops (alpha v / sqrt(inf) = 0)."""
        if self.optimizer.linear:  # gd and momentum average gradients, which backward checks are finite
            return True
        return all(self.be.all_finite(vec) for vec in self.optimizer.m.values())

    def largest_parameter(self) -> float:
        """The largest magnitude in the parameter vector and the first layer's state (inf or NaN if one is)."""
        sizes = [float(namespace(a).abs(a).max()) for a in [self.theta, *self.state().values()] if a.size]
        return float("nan") if not all(np.isfinite(sizes)) else max(sizes, default=0.0)


# ---------------------------------------------------------------- the loop


@dataclass
class Position:
    """Where the loop is: everything besides arrays that a checkpoint needs to continue."""

    epoch: int = 0  # the epoch under way (= epochs completed when batch == 0)
    batch: int = 0  # the next mini-batch within it
    steps: int = 0  # optimizer steps applied: iterations
    cost_sum: float = 0.0  # summed batch costs of this epoch so far (recorded epochs)
    correct: float = 0.0  # a classifier's right answers in this epoch's batches so far (recorded epochs); NaN: unknown


@dataclass
class TrainingResult:
    costs: list = field(default_factory=list)  # [(epoch, cost)], the cost before that epoch's updates
    steps: list = field(default_factory=list)  # [(iteration, learning_rate)] of each recorded epoch, at its start
    accuracy: list = field(default_factory=list)  # a classifier's training accuracy (%) of each recorded epoch; NaN otherwise
    position: Position = field(default_factory=Position)
    status: str = Status.COMPLETED  # completed | diverged | interrupted
    seconds: float = 0.0
    message: str | None = None
    stopped_early: bool = False

    @property
    def iterations(self) -> int:
        """Optimizer steps applied (= epochs for full-batch training)."""
        return self.position.steps

    @property
    def epochs(self) -> int:
        """Whole epochs completed."""
        return self.position.epoch


def gradient_descent(
    trainer: Trainer,
    epochs: int,
    record_every: int = 100,
    *,
    listeners: Iterable[Listener] = (),
    batches: Batches | None = None,
    rate: Callable[[int], float] | None = None,
    position: Position | None = None,
    costs: Iterable[Sequence] | None = None,
    monitor: ValidationMonitor | None = None,
) -> TrainingResult:
    """Train from `position` (default: the start) to the end of epoch `epochs - 1`.

    An epoch's cost is recorded every `record_every` epochs and at the last one; `rate(epoch)`
    (default: leave it) sets the learning rate each epoch. A non-finite cost or gradient stops at
    once with the last finite parameters intact. `listeners` get the events; `costs`: rows
    (epoch, cost, iteration, learning_rate[, train accuracy]) recorded before (a resumed run's). `monitor.on_record(epoch, steps)`
    (validation, early stopping) runs at each record with the parameters the recorded cost was taken
    with (full batch) or those at the epoch's end; a message it returns stops training.
    """
    listeners = list(listeners) or [Listener()]
    stoppers = [x for x in listeners if type(x).stop_requested is not Listener.stop_requested]
    # listeners that do something at an epoch's end (the loop skips calling the others)
    enders = [x for x in listeners if type(x).on_epoch_end is not Listener.on_epoch_end]
    batches = batches or Batches(trainer.m)
    pos = position or Position()
    costs = list(costs or [])
    result = TrainingResult(
        costs=[(e, c) for e, c, *_ in costs],
        steps=[tuple(r[2:4]) for r in costs],
        position=pos,
        accuracy=[float(r[4]) if len(r) > 4 else float("nan") for r in costs],
    )
    start = pos.epoch
    tick = max(1, (epochs - start) // 200)
    full = batches.full
    denominator = trainer.loss.divisor * trainer.m
    for x in listeners:
        x.unit = "iteration" if full else "epoch"
        x.on_start(epochs, start)
    t0 = time.perf_counter()
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # divergence is detected, not warned
            while pos.epoch < epochs:
                epoch = pos.epoch
                if rate is not None:
                    trainer.learning_rate = rate(epoch)
                record = epoch % record_every == 0 or epoch == epochs - 1
                if full:
                    trainer.forward()
                    if record:
                        cost = trainer.cost()
                        if not np.isfinite(cost):
                            result.status, result.message = Status.DIVERGED, _diverged(pos, trainer, "cost", full)
                            break
                        # from the same forward pass, read at once as the cost is
                        accuracy = trainer.accuracy(trainer.correct()) if trainer.counts else None
                        stop = _record(result, listeners, monitor, epoch, cost, pos.steps, trainer.learning_rate, pos.steps, accuracy)
                        if stop:
                            result.stopped_early, result.message = True, stop
                            break
                    if not trainer.backward_and_update():
                        result.status, result.message = Status.DIVERGED, _diverged(pos, trainer, "gradient", full)
                        break
                    pos.steps += 1
                else:
                    if pos.batch == 0:
                        batches.start_epoch(epoch)
                        pos.cost_sum = pos.correct = 0.0
                    if not _epoch_of_batches(trainer, batches, pos, record, result, stoppers):
                        break
                    if record:
                        cost = pos.cost_sum / denominator
                        accuracy = trainer.accuracy(pos.correct) if trainer.counts else None
                        stop = _record(result, listeners, monitor, epoch, cost, pos.steps - batches.count, trainer.learning_rate, pos.steps, accuracy)
                        if stop:
                            pos.batch, pos.epoch = 0, epoch + 1
                            result.stopped_early, result.message = True, stop
                            break
                    pos.batch = 0
                pos.epoch = epoch + 1
                if not trainer.moments_finite():  # before a checkpoint could keep them
                    result.status, result.message = Status.DIVERGED, _overflowed(pos, trainer, full)
                    break
                if epoch % tick == 0:
                    for x in listeners:
                        x.on_tick(epoch + 1)
                for x in enders:
                    x.on_epoch_end(result)
                if stoppers and _stop(stoppers):
                    if epoch + 1 < epochs:
                        result.status = Status.INTERRUPTED
                    break
    finally:  # a second Ctrl-C still closes the display
        result.seconds = time.perf_counter() - t0
        for x in listeners:
            x.on_end(pos.epoch)
    return result


def _record(
    result: TrainingResult,
    listeners: Iterable[Listener],
    monitor: ValidationMonitor | None,
    epoch: int,
    cost: float,
    iteration: int,
    rate: float,
    steps: int,
    accuracy: float | None = None,
) -> str | None:
    """Record an epoch's cost (and a classifier's training accuracy, else None); the monitor's
    message (early stopping) if it asks to stop. Events: on_train_accuracy, the monitor's
    on_validation, then on_cost."""
    result.costs.append((epoch, cost))
    result.steps.append((iteration, rate))
    result.accuracy.append(float("nan") if accuracy is None else accuracy)
    if accuracy is not None:
        for x in listeners:
            x.on_train_accuracy(epoch, accuracy)
    stop = monitor.on_record(epoch, steps) if monitor is not None else None
    for x in listeners:
        x.on_cost(epoch, cost)
    return stop


def _stop(stoppers: Iterable[Listener]) -> bool:
    for x in stoppers:
        if x.stop_requested():
            return True
    return False


def _epoch_of_batches(trainer: Trainer, batches: Batches, pos: Position, record: bool, result: TrainingResult, stoppers: list[Listener]) -> bool:
    """The rest of this epoch's mini-batches; False if the loop must stop (diverged, interrupted)."""
    stream = trainer.stream
    trainer.begin_epoch(batches.order, pos.cost_sum, pos.correct)
    try:
        if stream is None:
            return _batches(trainer, batches, pos, record, result, stoppers)
        stream.start_epoch(batches.order, batches.size, pos.batch, batches.count)  # reading ahead from here
        try:
            return _batches(trainer, batches, pos, record, result, stoppers)
        finally:
            stream.end_epoch()
    finally:
        if record and trainer.be.device:
            pos.cost_sum = trainer.epoch_cost()  # summed on the device
            if trainer.counts:
                pos.correct = trainer.epoch_correct()


def _batches(trainer: Trainer, batches: Batches, pos: Position, record: bool, result: TrainingResult, stoppers: list[Listener]) -> bool:
    for k in range(pos.batch, batches.count):
        trainer.use_batch(batches.indices(k), k * batches.size)
        trainer.forward()
        if record:
            c = trainer.batch_cost()  # None on a device: summed there (a non-finite one shows in the gradient)
            if c is not None:
                if not np.isfinite(c):
                    result.status, result.message = Status.DIVERGED, _diverged(pos, trainer, "cost", False)
                    return False
                pos.cost_sum += c
            if trainer.counts:
                n = trainer.batch_correct()  # None on a device: counted there
                if n is not None:
                    pos.correct += n
        if not trainer.backward_and_update():
            result.status, result.message = Status.DIVERGED, _diverged(pos, trainer, "gradient", False)
            return False
        pos.steps += 1
        pos.batch = k + 1
        if k + 1 < batches.count and stoppers and _stop(stoppers):
            result.status = Status.INTERRUPTED  # in the middle of the epoch: the checkpoint says where
            return False
    return True


def _overflowed(pos: Position, trainer: Trainer, full: bool) -> str:
    where = f"iteration {pos.steps}" if full else f"epoch {pos.epoch - 1}, iteration {pos.steps}"
    return (
        f"training diverged at {where}: {trainer.optimizer.name}'s average of squared gradients overflowed "
        f"{trainer.dtype} (gradients near {np.sqrt(np.finfo(trainer.dtype).max):.0e}), so its steps stopped; "
        "normalise the inputs (data.normalize: standardize), use train.dtype: float64, or a smaller learning_rate"
    )


def _diverged(pos: Position, trainer: Trainer, what: str, full: bool) -> str:
    where = f"iteration {pos.steps}" if full else f"epoch {pos.epoch}, iteration {pos.steps}"
    return f"training diverged at {where}: the {what} is no longer finite with learning_rate={trainer.learning_rate:g}; try a smaller learning_rate"
