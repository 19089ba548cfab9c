"""The course's "getting your matrix dimensions right", as a table: one row per layer.

For layer l of a network with sizes n[0] = n_x, n[1], ..., n[L] and m examples:
W[l] is (n[l], n[l-1]), b[l] is (n[l], 1), Z[l] = W[l] A[l-1] + b[l] and A[l] = g[l](Z[l]) are (n[l], m).
Layer 0 is the input: A[0] = X, (n_x, m). A batch-normalised layer has no b[l]: its b[l] cell
shows gamma[l], beta[l] (n[l], 1), and its parameters count gamma and beta, its memory the running averages too.
Pure functions of the sizes; no data is read here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Collection, Iterable

from nnctl.core.layers import kind_of
from nnctl.data.dataset import BUILTIN_PREFIX, find_layout, open_h5, read_raw
from nnctl.errors import NnctlError
from nnctl.errors import DataError
from nnctl.data.dataset import peek_classes

if TYPE_CHECKING:
    from nnctl.spec.config import Spec


@dataclass
class LayerRow:
    l: int
    n: int
    activation: str  # "input" for layer 0
    W: tuple | None
    b: tuple | None
    Z: tuple | None
    A: tuple | None  # None where m is unknown
    parameters: int
    parameter_bytes: int
    activation_bytes: int | None  # Z[l] and A[l] (A[0] = X alone) for the m examples
    normalised: bool = False  # batch norm: gamma, beta (and running averages) instead of b


@dataclass
class ShapeTable:
    rows: list
    m: int | None
    itemsize: int
    dtype: str

    @property
    def parameters(self) -> int:
        return sum(r.parameters for r in self.rows)

    @property
    def parameter_bytes(self) -> int:
        return sum(r.parameter_bytes for r in self.rows)

    @property
    def activation_bytes(self) -> int | None:
        if self.m is None:
            return None
        return sum(r.activation_bytes for r in self.rows)


def shape_table(
    layer_dims: Iterable[int], activations: Iterable[str] | None, m: int | None, dtype: str = "float64", normalised: Collection[int] = ()
) -> ShapeTable:
    """The table for sizes [n_x, n[1], ..., n[L]], one activation per layer 1..L, and m examples;
    `normalised`: the batch-normalised layers."""
    itemsize = 4 if dtype == "float32" else 8
    n = [int(v) for v in layer_dims]
    acts = list(activations or [])
    rows = [
        LayerRow(
            0,
            n[0],
            "input",
            None,
            None,
            None,
            (n[0], m) if m else None,
            0,
            0,
            n[0] * m * itemsize if m else None,
        )
    ]
    for l in range(1, len(n)):
        sizes = [(a.shape(n[l], n[l - 1])[0] * a.shape(n[l], n[l - 1])[1], a.trained) for a in kind_of(l, normalised)]
        count = sum(size for size, trained in sizes if trained)  # trained; the running averages are state
        rows.append(
            LayerRow(
                l=l,
                n=n[l],
                activation=acts[l - 1] if l - 1 < len(acts) else "?",
                W=(n[l], n[l - 1]),
                b=(n[l], 1),
                Z=(n[l], m) if m else None,
                A=(n[l], m) if m else None,
                parameters=count,
                parameter_bytes=sum(size for size, _ in sizes) * itemsize,
                activation_bytes=2 * n[l] * m * itemsize if m else None,
                normalised=l in normalised,
            )
        )
    return ShapeTable(rows=rows, m=m, itemsize=itemsize, dtype=dtype)


def shape_text(shape: tuple | None) -> str:
    """(12288, 209) -> "(12288, 209)"; unknown -> "—"."""
    return "—" if shape is None else f"({shape[0]}, {shape[1]})"


def size_text(n: float | None) -> str:
    """Bytes for people: 1536 -> "1.5 KiB"."""
    if n is None:
        return "—"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def table_rows(table: ShapeTable) -> list:
    """Rows of strings for a terminal or a page: l, n[l], g[l], W, b, Z, A, parameters, memory."""
    out = []
    for r in table.rows:
        memory = r.parameter_bytes + (r.activation_bytes or 0)
        out.append(
            [
                str(r.l),
                str(r.n),
                r.activation,
                shape_text(r.W),
                ("γ, β " if r.normalised else "") + shape_text(r.b),
                shape_text(r.Z),
                shape_text(r.A),
                f"{r.parameters:,}" if r.l else "—",
                size_text(memory if (r.l or r.activation_bytes is not None) else None),
            ]
        )
    return out


HEADERS = ["l", "n[l]", "g[l]", "W[l]", "b[l]", "Z[l]", "A[l]", "parameters", "memory"]


def data_m(source: str | None) -> int | None:
    """The number of examples of a data source without loading its arrays (None where unknown)."""
    if not source:
        return None
    try:
        if source.startswith(BUILTIN_PREFIX):
            return int(read_raw(source)[0].shape[0])
        with open_h5(source) as f:
            x_key, _, _ = find_layout(f, source)
            return int(f[x_key].shape[0])
    except (NnctlError, OSError, KeyError, ValueError, IndexError, TypeError):
        return None


def spec_shapes(spec: Spec, n_x: int | None, where: str | Path = "the spec", k: int | None = None, m: int | None = None) -> ShapeTable:
    """The table for a validated spec, its training data read only for n_x and m (k classes and m
    given where the caller has read the data already: a table)."""
    if n_x is None and spec.model.layers is None:
        raise DataError(f"{spec.data.train}: cannot be read, so n_x (the input size) is unknown; fix data.train in {where} or give model.layers in full")

    if k is None:
        k = peek_classes(spec.data.train) if n_x is not None and spec.model.resolved_task == "classification" else 2
    spec = spec.for_classes(k)
    return shape_table(spec.layer_dims(n_x or 0, k), spec.model.layer_activations, m or data_m(spec.data.train), spec.train.dtype, spec.model.normalised_layers)
