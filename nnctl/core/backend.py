"""Where the training arrays live: an array namespace (NumPy or CuPy) and the few operations whose
spelling differs between them. The math (activations, losses, the Trainer, the optimizers) is one
code path over `xp`; nothing here knows about layers.

BACKENDS (train.device): "cpu" is NumPy itself; "gpu" is CuPy on the current CUDA device. A third
one, FakeDevice, keeps NumPy's arithmetic but holds its arrays in a subclass of its own and copies on
every transfer, as a device would: the test suite (which has no GPU) runs the transfer code through
it and checks that nothing the GPU path writes is left in device form.

Transfers: `asarray(host)` host -> device, `to_host(a)` device -> host (a NumPy array, always),
`copy_in(dst, host)` into an existing device buffer. `host_empty` gives page-locked host memory on
CUDA (batches gathered on the host and streamed, when the data does not fit on the device).
"""

from __future__ import annotations

import math
import sys

import numpy as np
import os

_sum = np.add.reduce  # np.sum's own kernel, without its wrapper

# an array of the training's namespace: NumPy's, or CuPy's on the GPU (CuPy has no stubs and
# follows NumPy's API, so to mypy every one is an np.ndarray)
Array = np.ndarray


def namespace(a):
    """The array module of `a`: cupy for a CuPy array, numpy otherwise (FakeDevice's too)."""
    return sys.modules["cupy"] if type(a).__module__.startswith("cupy") else np


class NumpyBackend:
    """train.device: cpu. Transfers are the identity: the host arrays are the arrays."""

    name = "cpu"
    device = False  # True: the arrays live apart from the host's and transfers copy
    xp = np

    def __init__(self, fused: bool = True):
        self.fused = False  # no kernels of its own: NumPy's ufuncs are the plain path

    def empty(self, shape, dtype, order="C"):
        return np.empty(shape, dtype, order=order)

    def asarray(self, a):
        return a

    def to_host(self, a):
        return a

    def copy_in(self, dst, host) -> None:
        np.copyto(dst, host)

    def host_empty(self, shape, dtype, order="C"):
        return np.empty(shape, dtype, order=order)

    def take(self, src, idx, axis, out) -> None:
        # mode="clip": the indices are a permutation's, always valid, and np.take's default mode
        # buffers `out` (a temporary per step)
        np.take(src, idx, axis=axis, out=out, mode="clip")

    def sum(self, a, axis, out, keepdims=True):
        return _sum(a, axis=axis, out=out, keepdims=keepdims)

    def total(self, a):
        """sum(a) as something `finite` adds up: a float here, read at once."""
        return float(_sum(a, axis=None))

    def finite(self, total) -> bool:
        return bool(np.isfinite(total))

    def fits(self, nbytes: int) -> bool:
        return True

    def bias_activation(self, name):
        """A fused (b, A) -> A = g(A + b) in one pass over A (a hidden layer's Z is its A), or None."""
        return None

    def fused_optimizer(self, name):
        return None

    def output_kernel(self, loss, output):
        """The output layer in one pass, or None: (Z, b, A, Y, dZ, cost, inv_m) -> Z += b;
        A = g(Z); cost[j] += the loss of example j; dZ = (A - Y) * inv_m."""
        return None

    def activation_backward(self, name):
        """A fused dZ = dA * g'(Z) from A, or None (the table's own backward)."""
        return None

    def all_finite(self, a) -> bool:
        return math.isfinite(float(a.sum()))

    def synchronize(self) -> None:
        pass

    def describe(self) -> str:
        return "cpu (NumPy)"


def _softmax_out(Z, b, A, Y, dZ, cost, inv_m):
    """NumPy's statement of the fused output kernels' arithmetic (FakeDevice(fused=True) runs it)."""
    Z += b
    top = Z.max(axis=0)
    np.subtract(Z, top, out=A)
    np.exp(A, out=A)
    s = A.sum(axis=0)
    A /= s
    cost[: Z.shape[1]] += (Y * (top + np.log(s) - Z)).sum(axis=0)  # -sum y log a, a from logsumexp
    np.subtract(A, Y, out=dZ)
    dZ *= inv_m


def _sigmoid_out(Z, b, A, Y, dZ, cost, inv_m):
    from nnctl.core.activations import sigmoid  # cycle: nnctl.core.activations imports this module

    Z += b
    sigmoid(Z, out=A)
    cost[: Z.shape[1]] += (Y * np.logaddexp(0, -Z) + (1 - Y) * np.logaddexp(0, Z)).sum(axis=0)
    np.subtract(A, Y, out=dZ)
    dZ *= inv_m


FUSED_OUTPUTS = {("categorical_cross_entropy", "softmax"): _softmax_out, ("cross_entropy", "sigmoid"): _sigmoid_out}


class DeviceArray(np.ndarray):
    """FakeDevice's arrays: NumPy's, marked as living elsewhere."""


class FakeDevice(NumpyBackend):
    """A stand-in for a device, for tests: NumPy's arithmetic on arrays of their own type, a copy on
    every transfer (counted), and an optional capacity below which the data is streamed."""

    name = "fake"
    device = True

    def __init__(self, fused: bool = False, capacity: int | None = None):
        super().__init__(fused)
        self.fused = fused  # True: the fused step's control flow, NumPy's statement of each kernel
        self.capacity = capacity
        self.transfers = {"in": 0, "out": 0}

    def output_kernel(self, loss, output):
        return FUSED_OUTPUTS.get((loss, output)) if self.fused else None

    def empty(self, shape, dtype, order="C"):
        return np.empty(shape, dtype, order=order).view(DeviceArray)

    def asarray(self, a):
        if isinstance(a, DeviceArray):
            return a
        self.transfers["in"] += 1
        return np.array(a, order="K").view(DeviceArray)

    def to_host(self, a):
        self.transfers["out"] += 1
        return np.array(a, order="K").view(np.ndarray)

    def copy_in(self, dst, host) -> None:
        if isinstance(host, DeviceArray):
            raise TypeError("copy_in takes a host array")
        self.transfers["in"] += 1
        np.copyto(dst, host)

    def fits(self, nbytes: int) -> bool:
        return self.capacity is None or nbytes <= self.capacity

    def describe(self) -> str:
        return "fake device (NumPy underneath)"


# ---------------------------------------------------------------- CUDA through CuPy

# bias + activation in one elementwise kernel over A (n[l], m), b (n[l], 1) broadcast; y is A[l],
# holding W[l] A[l-1] on entry. Softmax is not elementwise: it keeps the plain path.
FUSED_ACTIVATIONS = {
    "relu": "y = max(y + b, (T)0)",
    "leaky_relu": "T z = y + b; y = z > (T)0 ? z : (T)0.01 * z",
    "tanh": "y = tanh(y + b)",
    "sigmoid": "y = (T)1 / ((T)1 + exp(-(y + b)))",
    "linear": "y = y + b",
}

# Adam over the one parameter vector, in the course's order of operations (nnctl.core.optimizers.Adam).
# d1 = 1 - beta1, d2 = 1 - beta2, c1 = 1 - beta1^t, c2 = 1 - beta2^t, all given in the dtype
_ADAM = """
    s = s * b2;  T g2 = g * g;  g2 = g2 * d2;  s = s + g2;
    v = v * b1;  T g1 = g * d1;  v = v + g1;
    T vh = v / c1;  T sh = sqrt(s / c2) + eps;
    theta = theta - (vh * lr) / sh;
"""


# dZ = dA * g'(Z) from A = g(Z), in place over dA (the table's backward in one pass)
FUSED_BACKWARD = {
    "relu": "dz = a > (T)0 ? dz : (T)0",
    "leaky_relu": "dz = a > (T)0 ? dz : dz * (T)0.01",
    "tanh": "dz = dz * ((T)1 - a * a)",
    "sigmoid": "dz = dz * a * ((T)1 - a)",
}

# The output layer, one thread per example (column i of the (k, m) arrays): Z += b, A = g(Z), the
# example's loss added to cost[i] (float64), dZ = (A - Y) / m. Raw arrays index in C order.
_OUTPUT_KERNELS = {
    ("categorical_cross_entropy", "softmax"): r"""
        T top = Z[i] + b[0];
        for (int r = 0; r < k; ++r) { T z = Z[r * m + i] + b[r]; Z[r * m + i] = z; top = z > top ? z : top; }
        T s = 0;
        for (int r = 0; r < k; ++r) { T e = exp(Z[r * m + i] - top); A[r * m + i] = e; s += e; }
        T lse = top + log(s);
        double c = 0;
        for (int r = 0; r < k; ++r) {
            T a = A[r * m + i] / s;
            T y = Y[r * m + i];
            A[r * m + i] = a;
            c += (double)(y * (lse - Z[r * m + i]));
            dZ[r * m + i] = (a - y) * inv_m;
        }
        cost[i] += c;
    """,
    ("cross_entropy", "sigmoid"): r"""
        double c = 0;
        for (int r = 0; r < k; ++r) {
            T z = Z[r * m + i] + b[r];
            Z[r * m + i] = z;
            T a = (T)1 / ((T)1 + exp(-z));
            T y = Y[r * m + i];
            A[r * m + i] = a;
            T sp_neg = max(-z, (T)0) + log1p(exp(-fabs(z)));  // log(1 + e^-z)
            T sp_pos = max(z, (T)0) + log1p(exp(-fabs(z)));   // log(1 + e^z)
            c += (double)(y * sp_neg + ((T)1 - y) * sp_pos);
            dZ[r * m + i] = (a - y) * inv_m;
        }
        cost[i] += c;
    """,
}


class CupyBackend(NumpyBackend):
    """train.device: gpu. The data is copied to the device once when it fits (half the free
    memory), else each batch is gathered on the host into page-locked memory and copied."""

    name = "gpu"
    device = True

    def __init__(self, fused: bool = True):
        import cupy  # noqa: F401  (ImportError: the caller says what to install)

        self.cupy = cupy
        self.xp = cupy
        self.fused = fused
        if cupy.cuda.runtime.getDeviceCount() < 1:
            raise RuntimeError("no CUDA device is visible")
        self._kernels: dict = {}

    def empty(self, shape, dtype, order="C"):
        return self.cupy.empty(shape, dtype, order=order)

    def asarray(self, a):
        if isinstance(a, self.cupy.ndarray):
            return a
        if a.flags.f_contiguous and not a.flags.c_contiguous:
            return self.cupy.asarray(np.ascontiguousarray(a.T)).T  # keep the layout
        return self.cupy.asarray(a)

    def to_host(self, a):
        return self.cupy.asnumpy(a)

    def copy_in(self, dst, host) -> None:
        if dst.flags.c_contiguous and host.flags.c_contiguous:
            dst.set(host)
        elif dst.flags.f_contiguous and host.flags.f_contiguous:
            dst.T.set(host.T)
        else:
            dst[...] = self.cupy.asarray(host)

    def host_empty(self, shape, dtype, order="C"):
        import cupyx  # optional: the gpu extra (CuPy)

        return cupyx.empty_pinned(shape, dtype, order=order)

    def take(self, src, idx, axis, out) -> None:
        self.cupy.take(src, idx, axis=axis, out=out)

    def sum(self, a, axis, out, keepdims=True):
        return self.cupy.sum(a, axis=axis, out=out, keepdims=keepdims)

    def total(self, a):
        return a.sum()  # stays on the device: one read per step, in `finite`

    def all_finite(self, a) -> bool:
        return math.isfinite(float(a.sum()))  # one reduction, one read

    def finite(self, total) -> bool:
        return bool(self.cupy.isfinite(total))

    def fits(self, nbytes: int) -> bool:
        free, _ = self.cupy.cuda.runtime.memGetInfo()
        return nbytes <= free // 2

    def bias_activation(self, name):
        if not self.fused or name not in FUSED_ACTIVATIONS:
            return None
        key = ("act", name)
        if key not in self._kernels:
            k = self.cupy.ElementwiseKernel("T b", "T y", FUSED_ACTIVATIONS[name], f"nnctl_bias_{name}")
            self._kernels[key] = lambda b, A, k=k: k(b, A)  # A[l] := g(A[l] + b[l]), in place
        return self._kernels[key]

    def output_kernel(self, loss, output):
        if not self.fused or (loss, output) not in _OUTPUT_KERNELS:
            return None
        key = ("out", loss)
        if key not in self._kernels:
            k = self.cupy.ElementwiseKernel(
                "raw T b, raw T Y, int32 k, int32 m, T inv_m",
                "raw T Z, raw T A, raw T dZ, raw float64 cost",
                _OUTPUT_KERNELS[loss, output],
                f"nnctl_out_{output}",
            )

            def run(Z, b, A, Y, dZ, cost, inv_m, k=k):
                T = Z.dtype.type
                k(b, Y, np.int32(Z.shape[0]), np.int32(Z.shape[1]), T(inv_m), Z, A, dZ, cost, size=Z.shape[1])

            self._kernels[key] = run
        return self._kernels[key]

    def activation_backward(self, name):
        if not self.fused or name not in FUSED_BACKWARD:
            return None
        key = ("back", name)
        if key not in self._kernels:
            k = self.cupy.ElementwiseKernel("T a", "T dz", FUSED_BACKWARD[name], f"nnctl_back_{name}")
            self._kernels[key] = lambda dA, A, k=k: k(A, dA)
        return self._kernels[key]

    def fused_optimizer(self, name):
        if not self.fused or name != "adam":
            return None
        if "adam" not in self._kernels:
            self._kernels["adam"] = self.cupy.ElementwiseKernel(
                "T g, T lr, T b1, T b2, T d1, T d2, T c1, T c2, T eps", "T theta, T v, T s", _ADAM, "nnctl_adam"
            )
        return self._kernels["adam"]

    def synchronize(self) -> None:
        self.cupy.cuda.get_current_stream().synchronize()

    def describe(self) -> str:
        props = self.cupy.cuda.runtime.getDeviceProperties(self.cupy.cuda.Device().id)
        name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
        return f"gpu {self.cupy.cuda.Device().id}: {name} (CuPy {self.cupy.__version__})"


BACKENDS = {"cpu": NumpyBackend, "gpu": CupyBackend}
DEVICE_NAMES = tuple(BACKENDS)


class DeviceUnavailable(Exception):
    """train.device asks for a device this machine cannot give; the message says why."""


def make_backend(device: str = "cpu", fused: bool = True):
    """The backend of `train.device`; DeviceUnavailable naming what is missing."""
    try:
        return BACKENDS[device](fused=fused)
    except ImportError as exc:
        raise DeviceUnavailable(f"CuPy is not installed ({exc})") from None
    except Exception as exc:  # CUDA's own errors (no driver, no device) have many types
        if isinstance(exc, (KeyError, TypeError)):
            raise
        raise DeviceUnavailable(f"no usable CUDA device ({type(exc).__name__}: {exc})") from None


def devices_seen() -> list:
    """One line per device this process can use: the CPU, and each CUDA device CuPy sees (or why none)."""
    lines = [f"cpu: {os.cpu_count()} cores (NumPy {np.__version__})"]
    try:
        import cupy  # optional: the gpu extra (CuPy)

        count = cupy.cuda.runtime.getDeviceCount()
        for i in range(count):
            props = cupy.cuda.runtime.getDeviceProperties(i)
            name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
            lines.append(f"gpu {i}: {name} (CuPy {cupy.__version__})")
        if not count:
            lines.append("gpu: none (CuPy sees no CUDA device)")
    except ImportError:
        lines.append("gpu: none (CuPy is not installed: pip install 'nnctl[gpu]')")
    except Exception as exc:
        lines.append(f"gpu: none ({type(exc).__name__}: {str(exc)[:80]})")
    return lines
