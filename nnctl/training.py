"""The training math and its loop: buffers allocated once, backward then the optimizer's step.

`Trainer` is the one backprop: forward(), backward() -> finite, step() (the optimizer's), on the
current batch, with every array allocated once (per batch size: the full batch, or the mini-batch
and the smaller last one). The pure functions of nnctl.network are the readable reference the
tests hold it to. The first layer is a strategy (nnctl.firstlayer): primal or dual.

`gradient_descent` is the loop over epochs and mini-batches. It only emits events (costs, ticks,
checkpoints, "stop?"); listeners record or draw. Costs are the course's: an epoch's cost is the
sum of the per-batch costs, each taken before that batch's update, divided by m.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from nnctl.activations import ACTIVATIONS
from nnctl.firstlayer import FIRST_LAYERS, choose_first_layer, choose_path, gram  # noqa: F401 (re-exported)
from nnctl.network import LOSSES
from nnctl.optimizers import Optimizer

_sum = np.add.reduce
COURSE_SHUFFLE_SEED = 10  # the course's `seed = 10`, incremented before each epoch


class Reporter:
    """Listener for training events; this base class does nothing (the `--quiet` reporter).

    `unit` names what `total` and the numbers passed count: "iteration" for full-batch training
    (one iteration per epoch), "epoch" with mini-batches.
    """

    unit = "iteration"

    def on_start(self, total: int, start: int) -> None: ...

    def on_cost(self, iteration: int, cost: float) -> None: ...

    def on_tick(self, iteration: int) -> None: ...

    def on_end(self, iteration: int) -> None: ...


# ---------------------------------------------------------------- the examples, batch by batch


class Batches:
    """Which examples each step sees. Full batch (`batch_size` None or >= m): all of X, in order.

    Mini-batches of `batch_size`, the last one smaller, in an order drawn every epoch:
    shuffle "generator": a permutation from a Generator seeded from the spec's seed (its state is
    checkpointed); "course": `np.random.seed(10 + 1 + epoch); np.random.permutation(m)`, the course's
    `random_mini_batches` exactly; "none": the stored order.
    """

    def __init__(self, m: int, batch_size: int | None = None, shuffle: str = "generator", seed: int = 0):
        self.m = m
        self.full = batch_size is None or batch_size >= m
        self.size = m if self.full else batch_size
        self.count = -(-m // self.size)  # batches per epoch
        self.shuffle = "none" if self.full else shuffle
        self.order = np.arange(m)  # this epoch's order of the examples, drawn in place
        self._identity = np.arange(m)
        self.rng = None
        if self.shuffle == "generator":
            self.rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))
        elif self.shuffle == "course":
            self._legacy = np.random.RandomState(COURSE_SHUFFLE_SEED)

    @property
    def sizes(self) -> tuple:
        return tuple(sorted({self.size, self.m - (self.count - 1) * self.size}))

    def start_epoch(self, epoch: int) -> None:
        """Draw this epoch's order: `permutation(m)`, written as what it is, a shuffle of 0..m-1."""
        if self.shuffle == "none":
            return
        np.copyto(self.order, self._identity)
        if self.shuffle == "generator":
            self.rng.shuffle(self.order)
        else:  # reseeding one RandomState gives RandomState(seed)'s stream, 20 times faster than a new one
            self._legacy.seed(COURSE_SHUFFLE_SEED + 1 + epoch)
            self._legacy.shuffle(self.order)

    def indices(self, k: int):
        """The examples of batch k (a view of this epoch's order)."""
        return self.order[k * self.size : (k + 1) * self.size]

    def state(self) -> dict:
        """The generator's state (JSON) after this epoch's draw; the order itself goes with it."""
        return {"bit_generator": self.rng.bit_generator.state} if self.rng is not None else {}

    def load_state(self, state: dict, order) -> None:
        if self.rng is not None and "bit_generator" in state:
            self.rng.bit_generator.state = state["bit_generator"]
        if order is not None:
            if order.shape != (self.m,) or not np.array_equal(np.sort(order), np.arange(self.m)):
                raise ValueError("the checkpoint's order of the examples is not a permutation of them")
            self.order[:] = order


class _Buffers:
    """A[l], Z[L] and dZ[l] for one batch size; X and Y gathered into them (or the full ones).

    A mini-batch's X is laid out as the data is (`rows`: one example contiguous, as X loaded from
    a file is, X (n_x, m) being the transpose of the stored (m, n_x)), so that gathering a batch
    copies whole examples and never a strided column."""

    def __init__(self, n, m, dtype, X=None, Y=None, n_y=1, rows=False):
        self.m = m
        self.X = X if X is not None else np.empty((n[0], m), dtype, order="F" if rows else "C")
        self.Y = Y if Y is not None else np.empty((n_y, m), dtype)
        L = len(n) - 1
        self.A = [self.X] + [np.empty((n[l], m), dtype) for l in range(1, L + 1)]  # A[l] (n[l], m)
        self.ZL = np.empty((n[L], m), dtype)  # Z[L] kept for the cost
        self.dZ = [None] + [np.empty((n[l], m), dtype) for l in range(1, L + 1)]

    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.A[1:] + self.dZ[1:]) + self.ZL.nbytes


# ---------------------------------------------------------------- the network's training state


class Trainer:
    """One network's training state; `params` is updated in place.

    `params`' arrays are replaced by views of the Trainer's parameter vector (the dict itself is
    kept). On the dual path params["W1"] is only brought up to date by `materialize()`.
    `optimizer` defaults to gradient descent at `learning_rate`.
    """

    def __init__(self, params, X, Y, activations, loss, learning_rate=None, path="primal", dual_state=None,
                 *, optimizer: Optimizer | None = None, batch_size: int | None = None):
        self.params, self.X, self.Y = params, X, Y
        self.loss_name, self.loss = loss, LOSSES[loss]
        self.output = activations[-1]
        self.acts = [ACTIVATIONS[a] for a in activations]
        self.L = L = len(activations)
        n_x, m = X.shape
        self.m = m
        self.W = [None] + [params[f"W{l}"] for l in range(1, L + 1)]
        self.b = [None] + [params[f"b{l}"] for l in range(1, L + 1)]
        self.n = n = [n_x] + [W.shape[0] for W in self.W[1:]]
        self.dtype = X.dtype
        self.stream = X if hasattr(X, "next_batch") else None  # examples read from disk (nnctl.stream)
        # examples contiguous (X loaded from a file is the transpose of the stored rows): gather rows
        self.rows = bool(X.flags.f_contiguous and not X.flags.c_contiguous)
        self.buffers = {}
        if batch_size is not None and batch_size < m:
            # mini-batches only: no buffers of all m examples (as large as the data itself)
            for size in sorted({batch_size, m - (-(-m // batch_size) - 1) * batch_size}, reverse=True):
                self.buffers[size] = _Buffers(n, size, X.dtype, n_y=Y.shape[0], rows=self.rows)
            self.cur = self.buffers[batch_size]
        else:
            self.cur = self._full()
        self.path = path
        self.first = FIRST_LAYERS[path](self.W[1], X, dual_state)
        # Every trained array, in the course's order W1 (or C), b1, W2, b2, ..., is a view of one
        # parameter vector, and every gradient a view of one gradient vector: the optimizer's
        # step is a few whole-vector operations, whatever the depth.
        pieces = [(self.first.trained_name, self.first.trained), ("b1", self.b[1])]
        pieces += [(f"{k}{l}", arr) for l in range(2, L + 1) for k, arr in (("W", self.W[l]), ("b", self.b[l]))]
        dtype = self.W[1].dtype
        self.theta = np.empty(sum(a.size for _, a in pieces), dtype)
        self.grad = np.empty_like(self.theta)
        views, offset = {}, 0
        for name, arr in pieces:
            views[name] = (self.theta[offset : offset + arr.size].reshape(arr.shape), self.grad[offset : offset + arr.size].reshape(arr.shape))
            views[name][0][...] = arr
            offset += arr.size
        self.first.rebind(*views[self.first.trained_name])
        if path == "primal":
            params["W1"] = self.W[1] = views["W1"][0]
        self.dW = [None, None] + [views[f"W{l}"][1] for l in range(2, L + 1)]
        self.db = [None] + [views[f"b{l}"][1] for l in range(1, L + 1)]
        for l in range(1, L + 1):
            params[f"b{l}"] = self.b[l] = views[f"b{l}"][0]
            if l > 1:
                params[f"W{l}"] = self.W[l] = views[f"W{l}"][0]
        self.optimizer = (optimizer or Optimizer(learning_rate)).bind([(n, a.shape) for n, a in pieces], dtype)

    @property
    def learning_rate(self) -> float:
        return self.optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        self.optimizer.learning_rate = value

    def _full(self) -> _Buffers:
        """The buffers of the full batch (all of X), made on first use."""
        if self.m not in self.buffers:
            self.buffers[self.m] = _Buffers(self.n, self.m, self.dtype, self.X, self.Y)
        return self.buffers[self.m]

    def use_batch(self, idx=None) -> None:
        """Make examples `idx` (an index array) the current batch, gathered into that size's
        buffers with no temporary; None: the full batch.

        mode="clip": the indices are a permutation's, always valid, and np.take's default mode
        buffers `out` (a temporary per step). Gathering columns of an F-ordered X with np.take
        would first copy all of X to C order: the rows of X.T are gathered instead."""
        if idx is None:
            self.cur = self._full()
            return
        B = self.cur = self.buffers[len(idx)]
        if self.stream is not None:  # read ahead by the stream's thread, in this batch's order
            B.X = B.A[0] = self.stream.next_batch(idx)
        elif self.rows:
            np.take(self.X.T, idx, axis=0, out=B.X.T, mode="clip")
        else:
            np.take(self.X, idx, axis=1, out=B.X, mode="clip")
        np.take(self.Y, idx, axis=1, out=B.Y, mode="clip")

    def load_batch(self, X, Y) -> None:
        """Make X (n_x, b) and Y (n_y, b), filled elsewhere (a reader streaming from disk), the
        current batch without a copy: they become that size's input buffers."""
        B = self.cur = self.buffers[X.shape[1]]
        B.X = B.A[0] = X
        B.Y = Y

    def forward(self) -> None:
        B = self.cur
        for l in range(1, self.L + 1):
            Z = B.ZL if l == self.L else B.A[l]
            if l == 1:
                self.first.forward(B.A[0], Z)
            else:
                np.matmul(self.W[l], B.A[l - 1], out=Z)
            Z += self.b[l]  # (n[l], 1) broadcast over the m columns
            self.acts[l - 1].forward(Z, out=B.A[l])

    def cost_total(self) -> float:
        """The current batch's cost summed over its examples (the course's `compute_cost`)."""
        B = self.cur
        return self.loss.total(B.ZL, B.A[self.L], B.Y)

    def cost(self) -> float:
        """The current batch's mean cost."""
        return self.cost_total() / (self.loss.divisor * self.cur.m)

    def backward(self) -> bool:
        """Gradients of every layer into the buffers; False if any is not finite.

        The arithmetic is in the course's order (dW = dZ A^T / m), so a run reproduces the
        notebooks' printed costs digit for digit.
        """
        B, L = self.cur, self.L
        m = B.m
        dZ = np.subtract(B.A[L], B.Y, out=B.dZ[L])  # A[L] - Y
        self.loss.dZ(dZ, B.A[L], self.output)  # dZ[L]; may consume A[L]: the cost was taken before
        total = 0.0
        for l in range(L, 0, -1):
            dZ = B.dZ[l]
            _sum(dZ, axis=1, keepdims=True, out=self.db[l])  # np.sum's own kernel, without its wrapper
            self.db[l] /= m
            total += float(_sum(self.db[l], axis=None))
            if l == 1:
                self.first.gradient(dZ, B.A[0], m)
                total += float(self.first.finite_probe(dZ))
            else:
                np.matmul(dZ, B.A[l - 1].T, out=self.dW[l])  # dZ[l] A[l-1]^T  (n[l], n[l-1])
                self.dW[l] /= m
                # finite dZ[l] (and finite A[l-1]) make a finite dW[l]: check whichever array is smaller
                total += float(_sum(dZ if dZ.size < self.dW[l].size else self.dW[l], axis=None))
                np.matmul(self.W[l].T, dZ, out=B.dZ[l - 1])  # dA[l-1] = W[l]^T dZ[l]
                # A[l-1] has served dW[l] above: backward may consume it for g'(Z[l-1])
                self.acts[l - 2].backward(B.dZ[l - 1], B.A[l - 1])
        return bool(np.isfinite(total))

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
        """params with W[1] = W[1]_0 + C X^T on the dual path; the params dict itself."""
        self.first.materialize(self.params["W1"], self.X)
        return self.params

    def state(self) -> dict:
        """The first layer's state a checkpoint needs (W1_0 and C on the dual path)."""
        return self.first.state()

    def params_finite(self) -> bool:
        arrays = list(self.params.values()) + list(self.state().values())
        return all(np.isfinite(a).all() for a in arrays)


# ---------------------------------------------------------------- the loop


@dataclass
class Position:
    """Where the loop is: everything besides arrays that a checkpoint needs to continue."""

    epoch: int = 0  # the epoch under way (= epochs completed when batch == 0)
    batch: int = 0  # the next mini-batch within it
    steps: int = 0  # optimizer steps applied: iterations
    cost_sum: float = 0.0  # summed batch costs of this epoch so far (recorded epochs)


@dataclass
class TrainingResult:
    costs: list = field(default_factory=list)  # [(epoch, cost)], the cost before that epoch's updates
    steps: list = field(default_factory=list)  # [(iteration, learning_rate)] of each recorded epoch, at its start
    position: Position = field(default_factory=Position)
    status: str = "completed"  # completed | diverged | interrupted
    seconds: float = 0.0
    message: str | None = None

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
    costs=None,
    reporter: Reporter | None = None,
    should_stop=None,
    checkpoint_every: int | None = None,
    on_checkpoint=None,
    batches: Batches | None = None,
    rate=None,
    position: Position | None = None,
) -> TrainingResult:
    """Train from `position` (default: the start) to the end of epoch `epochs - 1`.

    An epoch's cost is recorded every `record_every` epochs and at the last one; `rate(epoch)`
    (default: none) sets the learning rate each epoch. A non-finite cost or gradient stops at once
    with the last finite parameters intact. `should_stop()` is asked after each step;
    `on_checkpoint(result)` runs every `checkpoint_every` epochs. `costs`: rows (epoch, cost,
    iteration, learning_rate) recorded before (a resumed run's).
    """
    reporter = reporter or Reporter()
    batches = batches or Batches(trainer.m)
    pos = position or Position()
    costs = list(costs or [])
    result = TrainingResult(costs=[(e, c) for e, c, *_ in costs], steps=[tuple(r[2:4]) for r in costs], position=pos)
    start = pos.epoch
    tick = max(1, (epochs - start) // 200)
    full = batches.full
    denominator = trainer.loss.divisor * trainer.m
    reporter.unit = "iteration" if full else "epoch"
    reporter.on_start(epochs, start)
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
                            result.status, result.message = "diverged", _diverged(pos, trainer, "cost", full)
                            break
                        result.costs.append((epoch, cost))
                        result.steps.append((pos.steps, trainer.learning_rate))
                        reporter.on_cost(epoch, cost)
                    if not trainer.backward_and_update():
                        result.status, result.message = "diverged", _diverged(pos, trainer, "gradient", full)
                        break
                    pos.steps += 1
                else:
                    if pos.batch == 0:
                        batches.start_epoch(epoch)
                        pos.cost_sum = 0.0
                    if not _epoch_of_batches(trainer, batches, pos, record, result, should_stop):
                        break
                    if record:
                        cost = pos.cost_sum / denominator
                        result.costs.append((epoch, cost))
                        result.steps.append((pos.steps - batches.count, trainer.learning_rate))
                        reporter.on_cost(epoch, cost)
                    pos.batch = 0
                pos.epoch = epoch + 1
                if epoch % tick == 0:
                    reporter.on_tick(epoch + 1)
                if checkpoint_every and on_checkpoint and (epoch + 1) % checkpoint_every == 0 and epoch + 1 < epochs:
                    on_checkpoint(result)
                if should_stop is not None and should_stop():
                    if epoch + 1 < epochs:
                        result.status = "interrupted"
                    break
    finally:  # a second Ctrl-C still closes the display
        result.seconds = time.perf_counter() - t0
        reporter.on_end(pos.epoch)
    return result


def _epoch_of_batches(trainer, batches, pos, record, result, should_stop) -> bool:
    """The rest of this epoch's mini-batches; False if the loop must stop (diverged, interrupted)."""
    stream = trainer.stream
    if stream is None:
        return _batches(trainer, batches, pos, record, result, should_stop)
    stream.start_epoch(batches.order, batches.size, pos.batch, batches.count)  # reading ahead from here
    try:
        return _batches(trainer, batches, pos, record, result, should_stop)
    finally:
        stream.end_epoch()


def _batches(trainer, batches, pos, record, result, should_stop) -> bool:
    for k in range(pos.batch, batches.count):
        trainer.use_batch(batches.indices(k))
        trainer.forward()
        if record:
            c = trainer.cost_total()
            if not np.isfinite(c):
                result.status, result.message = "diverged", _diverged(pos, trainer, "cost", False)
                return False
            pos.cost_sum += c
        if not trainer.backward_and_update():
            result.status, result.message = "diverged", _diverged(pos, trainer, "gradient", False)
            return False
        pos.steps += 1
        pos.batch = k + 1
        if k + 1 < batches.count and should_stop is not None and should_stop():
            result.status = "interrupted"  # in the middle of the epoch: the checkpoint says where
            return False
    return True


def _diverged(pos, trainer, what, full) -> str:
    where = f"iteration {pos.steps}" if full else f"epoch {pos.epoch}, iteration {pos.steps}"
    return (
        f"training diverged at {where}: the {what} is no longer finite with "
        f"learning_rate={trainer.learning_rate:g}; try a smaller learning_rate"
    )
