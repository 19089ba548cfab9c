"""A trained run leaves nnctl: one ONNX graph, or one .npz of NumPy arrays.

Both are written from one description of the run (`describe`): the raw rows `predict` accepts
(batch, n_x) in the training column order, pictures as their raw 0-255 values flattened as the
run's HDF5 stores them; then the run's preprocessing steps (divide by the pixel scale, standardise
with the training set's mean and std); then the layers, each Z[l] = W[l] A[l-1] + b[l] and
A[l] = g[l](Z[l]); then the head (how A[L] reads as probabilities, a label or a value; a regression
trained on standardised targets turns its output back, A[L] std + mean).

A kind of layer or preprocessing step is one row of a table here (ONNX_ACTIVATIONS, ONNX_HEADS,
PREPROCESSING_KEYS); anything the description does not know is refused with a message naming it,
never exported approximately.

The ONNX graph works in rows (batch, n) as ONNX Runtime and scikit-learn's converter do, so each
layer is Gemm(A_prev, W, b, transB=1) = A_prev W^T + b^T: the course's Z = W A_prev + b transposed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nnctl import __version__
from nnctl.core.activations import LEAKY_SLOPE
from nnctl.util.atomic import atomic_path
from nnctl.data.dataset import Normalization, TargetScaling
from nnctl.errors import NnctlError, RunError
from nnctl.experiment.inference import class_names, loss_of
from nnctl.rundir.layout import REPRODUCE, RESOLVED, TABLE, Status
from nnctl.core.network import HEADS
from nnctl.rundir.runs import Run, read_json_object, read_text_capped, run_status
from nnctl.util.text import quoted

FORMATS = ("onnx", "npz")
OPSET = 17
IR_VERSION = 8  # the IR of opset 17 (ONNX 1.12): every ONNX Runtime from 1.12 on loads the file

# preprocessing entries of params.h5 this exporter knows; another (a later nnctl's imputation,
# one-hot columns, ...) is refused by name rather than silently left out of the graph; feature_names
# (a model fitted on a DataFrame) changes no number: the file still takes rows by position, and says the names
PREPROCESSING_KEYS = {"flatten", "input_shape", "x_dtype", "scale", "normalize", "normalize_target", "feature_names"}


class ExportError(NnctlError):
    """A run that cannot be exported exactly, or an output that cannot be written."""


@dataclass
class BatchNorm:
    """Batch norm in inference form: Z~ = gamma (Z - running_mean) / sqrt(running_var + epsilon) + beta."""

    gamma: np.ndarray  # (n[l], 1), as are the others
    beta: np.ndarray
    running_mean: np.ndarray
    running_var: np.ndarray
    epsilon: float


@dataclass
class Layer:
    """One fully-connected layer: Z = W A_prev + b (or batch norm of W A_prev), A = g(Z)."""

    W: np.ndarray  # (n[l], n[l-1])
    b: np.ndarray | None  # (n[l], 1); None on a batch-normalised layer (beta does its work)
    activation: str
    bn: BatchNorm | None = None


# the arrays of params.h5 each kind of layer holds (nnctl.core.layers' table, once batch norm exists)
LAYER_ARRAYS = {"plain": ("W", "b"), "batch_norm": ("W", "gamma", "beta", "running_mean", "running_var")}


def _layer(run: Run, l: int, activation: str, epsilon: float) -> Layer:
    """Layer l from params.h5's arrays: batch-normalised where gamma{l} is there, else plain."""
    p = run.params
    if f"gamma{l}" not in p:
        return Layer(p[f"W{l}"], p[f"b{l}"], activation)
    bn = BatchNorm(p[f"gamma{l}"], p[f"beta{l}"], p[f"running_mean{l}"], p[f"running_var{l}"], epsilon)
    return Layer(p[f"W{l}"], None, activation, bn)


@dataclass
class Model:
    """Everything the forward pass from raw rows needs: the network in the run's dtype, the
    standardisation (and a regression's turning back) in float64."""

    n_x: int
    dtype: np.dtype
    scale: float  # raw rows are divided by this (255 for uint8 pixels, else 1)
    mean: np.ndarray  # (n_x, 1) float64: standardisation's mean (zeros without normalisation)
    std: np.ndarray  # (n_x, 1) float64: its std (ones without)
    layers: list
    loss: str  # the head: a key of nnctl.core.network.HEADS
    classes: list  # class names in label order ([] for a regression)
    metadata: dict = field(default_factory=dict)  # str -> str
    table: TableInputs | None = None  # a run trained on a table: its named columns instead of rows
    target_mean: np.ndarray | None = None  # (units, 1) float64: a regression's outputs are A[L] target_std + target_mean
    target_std: np.ndarray | None = None  # (zeros and ones where the targets were not scaled, and for a classifier)

    @property
    def standardized(self) -> bool:
        return bool(np.any(self.mean != 0) or np.any(self.std != 1))

    @property
    def target_scaled(self) -> bool:
        return self.target_mean is not None and bool(np.any(self.target_mean != 0) or np.any(self.target_std != 1))


# text a table's reader counts as a missing cell (nnctl.data.tables.MISSING_TOKENS, compared lower-cased):
# the graph matches these spellings exactly
MISSING_SPELLINGS = ("", "na", "NA", "Na", "n/a", "N/A", "nan", "NaN", "NAN", "null", "NULL", "Null", "none", "None", "NONE", "?")


@dataclass
class TableInputs:
    """A table's columns as the run's preprocessor reads them: numbers (a missing cell gets its fill)
    and text one-hot over its sorted categories (a missing cell gets its column's most frequent one)."""

    numeric: list  # column names, in the order of X's first rows
    fill: list  # per numeric column
    categorical: list  # text column names, then one row of X per category
    categories: list  # per text column, sorted
    category_fill: list  # per text column: the category a missing cell gets (None: none)


def _table_inputs(run: Run) -> TableInputs:
    """The run's table encoding (nnctl.data.tables.Preprocessor, table.json), or an ExportError for what the graph cannot repeat."""
    prep = getattr(run, "table", None)
    if prep is None:
        raise ExportError(f"{run.path}: preprocessing.flatten: table, but the run has no table encoding ({TABLE}); train the run again")
    if prep.missing == "drop":
        raise ExportError(
            f"{run.path}: data.missing: drop: predict leaves out rows with a missing value, which a graph that answers every "
            "row cannot do; train with data.missing: mean, median or most_frequent to export"
        )
    return TableInputs(list(prep.numeric), [float(v) for v in prep.fill], list(prep.categorical), [list(c) for c in prep.categories], list(prep.category_fill))


def _resolved_spec(run: Run) -> str:
    path = run.path / RESOLVED
    try:
        return read_text_capped(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise RunError(f"{path}: cannot be read ({exc}); the run's files are damaged, so train the run again") from None


def _data_sha256(run: Run) -> dict:
    """{role: sha256} of the run's data files, from reproduce.json, checked like input."""
    path = run.path / REPRODUCE
    if not path.exists():
        return {}
    data = read_json_object(path, fix="restore it from a copy, or train the run again").get("data", {})
    if not isinstance(data, dict):
        raise RunError(f"{path}: data: expected an object of data files and their SHA-256; the run's files are damaged")
    out = {}
    for role, entry in data.items():
        digest = entry.get("sha256") if isinstance(entry, dict) else None
        if not (isinstance(digest, str) and len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)):
            raise RunError(f"{path}: data.{role}.sha256: expected 64 hexadecimal digits; the run's files are damaged")
        out[str(role)] = digest
    return out


def describe(run: Run) -> Model:
    """The run as the exporters write it; an ExportError for anything that cannot be exported exactly."""
    if run_status(run.metrics) == Status.DIVERGED:
        raise ExportError(
            f"{run.path}: the run diverged, so its parameters are not a model to deploy; train it again with a smaller learning_rate, then export"
        )
    pre = run.meta["preprocessing"]
    unknown = sorted(set(pre) - PREPROCESSING_KEYS)
    if unknown:
        raise ExportError(
            f"{run.path}: preprocessing.{unknown[0]}: a preprocessing step this version of nnctl cannot export; export it with the nnctl that trained it"
        )
    table = _table_inputs(run) if pre.get("flatten") == "table" else None
    if pre.get("flatten", "example-per-column") not in ("example-per-column", "table"):
        raise ExportError(
            f"{run.path}: preprocessing.flatten: {str(pre['flatten'])[:40]}: inputs this version of nnctl cannot export "
            "(numeric rows, pictures and tables); use nnctl predict for this run"
        )
    L = len(run.activations)
    kinds = {l: "batch_norm" if f"gamma{l}" in run.params else "plain" for l in range(1, L + 1)}
    expected = {f"{name}{l}" for l, kind in kinds.items() for name in LAYER_ARRAYS[kind]}
    extra = sorted(set(run.params) - expected)
    if extra:
        raise ExportError(
            f"{run.path}: {extra[0]}: a parameter this version of nnctl cannot export (W[l] and b[l] of "
            "fully-connected layers, gamma, beta and the running averages of batch-normalised ones); export it with the nnctl that trained it"
        )
    missing = sorted(expected - set(run.params))
    if missing:
        raise ExportError(f"{run.path}: {missing[0]}: missing from the parameters; the file is damaged, so train the run again")
    for key in sorted(expected):
        if not np.isfinite(run.params[key]).all():
            raise ExportError(
                f"{run.path}: {key}: holds values that are not finite (the run diverged); train it again with a smaller learning_rate, then export"
            )
    dtype = np.dtype(run.meta.get("dtype", "float64"))
    n_x = run.meta["layer_dims"][0]
    norm = run.normalization if isinstance(run.normalization, Normalization) else Normalization()
    standardize = norm.method == "standardize" and norm.mean is not None and norm.std is not None
    mean = norm.mean if standardize and norm.mean is not None else np.zeros((n_x, 1))
    std = norm.std if standardize and norm.std is not None else np.ones((n_x, 1))
    units = run.meta["layer_dims"][-1]
    target = run.target or TargetScaling()  # None: a Run built without one (read back, it is always set)
    if target.active and HEADS[loss_of(run)].proba is not None:
        raise ExportError(
            f"{run.path}: preprocessing.normalize_target: standardize, but the model is a classifier; the file is damaged, so train the run again"
        )
    target_mean = target.mean if target.active and target.mean is not None else np.zeros((units, 1))
    target_std = target.std if target.active and target.std is not None else np.ones((units, 1))
    bn_meta = run.meta.get("batch_norm")
    epsilon = float(bn_meta["epsilon"]) if isinstance(bn_meta, dict) and "epsilon" in bn_meta else 1e-5  # nnctl.core.layers' default
    layers = [_layer(run, l, g, epsilon) for l, g in enumerate(run.activations, 1)]
    loss = loss_of(run)
    classes = class_names(run) if HEADS[loss].proba is not None else []
    sha = _data_sha256(run)
    metadata = {
        "classes": json.dumps(classes),
        "nnctl_version": __version__,
        "spec": _resolved_spec(run),
        "head": loss,
        "run": run.path.name,
        "input": (
            "pictures: raw 0-255 values, flattened as stored, float64 (double)"
            if pre["scale"] != 1
            else "a table: one input per column, float64 (double) or string, (batch, 1)"
            if table is not None
            else "rows of numeric features, in the training column order, float64 (double)"
        ),
    }
    names = pre.get("feature_names")
    if names and table is None:  # fitted on a DataFrame: rows by position, in the order of these columns
        metadata["feature_names"] = json.dumps([str(n) for n in names])
        metadata["input"] = f"rows of numeric features, float64 (double), one column per feature in this order: {metadata['feature_names']}"
    if len(set(sha.values())) == 1:
        metadata["data_sha256"] = next(iter(sha.values()))
    if sha:
        metadata["data"] = json.dumps(sha)
    return Model(
        n_x=n_x,
        dtype=dtype,
        scale=float(pre["scale"]),
        mean=np.asarray(mean, np.float64),  # the training set's statistics as fitted: inputs are standardised in float64
        std=np.asarray(std, np.float64),
        layers=layers,
        loss=loss,
        classes=classes,
        metadata=metadata,
        table=table,
        target_mean=np.asarray(target_mean, np.float64),
        target_std=np.asarray(target_std, np.float64),
    )


# ---------------------------------------------------------------- npz


def npz_arrays(model: Model) -> dict:
    """Every array the forward pass needs, under params.h5's names, and how to read them."""
    if model.table is not None:
        raise ExportError(
            "a run trained on a table takes named columns of numbers and text, which the npz's NumPy function "
            "does not read; export it with --format onnx (one input per column), or use nnctl predict"
        )
    arrays = {}
    for l, layer in enumerate(model.layers, 1):
        arrays[f"W{l}"] = layer.W
        if layer.bn is None:
            arrays[f"b{l}"] = layer.b
        else:
            arrays.update({f"{name}{l}": getattr(layer.bn, name) for name in LAYER_ARRAYS["batch_norm"][1:]})
            arrays["epsilon"] = np.array(layer.bn.epsilon)
    arrays["normalize/mean"], arrays["normalize/std"] = model.mean, model.std
    # outputs A[L] std + mean, float64 as predict turns them back (zeros and ones: nothing to turn back)
    arrays["normalize_target/mean"], arrays["normalize_target/std"] = model.target_mean, model.target_std
    arrays["scale"] = np.array(model.scale)
    arrays["activations"] = np.array([layer.activation for layer in model.layers])
    arrays["head"] = np.array(model.loss)
    arrays["classes"] = np.array(model.classes, dtype=str)
    if "feature_names" in model.metadata:  # the DataFrame's column names, in the order of the rows' columns
        arrays["feature_names"] = np.array(json.loads(model.metadata["feature_names"]), dtype=str)
    arrays["metadata"] = np.array(json.dumps(model.metadata))
    return arrays


def write_npz(model: Model, path) -> Path:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **npz_arrays(model))
    return Path(path)


# ---------------------------------------------------------------- ONNX


def _onnx():
    """The onnx package (the `onnx` extra), or an ExportError saying how to install it."""
    try:
        import onnx  # optional: only `nnctl export --format onnx` needs it
    except ImportError:
        raise ExportError("ONNX export needs the onnx package; install it with: pip install 'nnctl[onnx]'") from None
    return onnx


def _sigmoid(g, x):
    return g.node("Sigmoid", x)


def _tanh(g, x):
    return g.node("Tanh", x)


def _relu(g, x):
    return g.node("Relu", x)


def _leaky_relu(g, x):
    # max(Z, slope Z), nnctl's own formula (ONNX Runtime's LeakyRelu has no float64 kernel)
    return g.node("Max", x, g.node("Mul", x, g.const("leaky_slope", np.array(LEAKY_SLOPE, g.dtype))))


def _linear(g, x):
    return x


def _softmax(g, x):
    return g.node("Softmax", x, axis=1)  # rows: over the units of each example


# activation name -> the ONNX nodes of g(Z) on rows (batch, n[l])
ONNX_ACTIVATIONS = {
    "sigmoid": _sigmoid,
    "tanh": _tanh,
    "relu": _relu,
    "leaky_relu": _leaky_relu,
    "linear": _linear,
    "softmax": _softmax,
}


def _sigmoid_head(g, A):
    """A (batch, 1) = P(label 1): probabilities [1 - p, p] (scikit-learn's converter's layout), label p > 0.5."""
    q = g.node("Sub", g.const("one", np.ones((1, 1), g.dtype)), A)
    probs = g.node("Concat", q, A, axis=1)
    above = g.node("Greater", A, g.const("half", np.full((1, 1), 0.5, g.dtype)))
    label = g.node("Squeeze", g.node("Cast", above, to=g.onnx.TensorProto.INT64), g.const("axis1", np.array([1], np.int64)))
    return {"label": label, "probabilities": g.output_cast(probs)}


def _softmax_head(g, A):
    """A (batch, k): the k classes' probabilities; the label is the first most probable (numpy's argmax)."""
    return {"label": g.node("ArgMax", A, axis=1, keepdims=0), "probabilities": g.output_cast(A)}


def _regression_head(g, A):
    return {"prediction": g.output_cast(A)}


# head (a key of nnctl.core.network.HEADS) -> its outputs from A[L] in rows
ONNX_HEADS = {"cross_entropy": _sigmoid_head, "categorical_cross_entropy": _softmax_head, "mse": _regression_head}


INTERNAL = "nnctl/"  # the prefix of every name the graph makes itself: a table's columns are its inputs
OUTPUT_NAMES = ("label", "probabilities", "prediction")


class _Graph:
    """Nodes and initializers collected in order, each output named once."""

    def __init__(self, onnx, dtype):
        self.onnx, self.dtype = onnx, np.dtype(dtype)
        self.nodes, self.initializers, self.count = [], [], 0

    def name(self, op: str) -> str:
        self.count += 1
        return f"{INTERNAL}{op.lower()}_{self.count}"

    def node(self, op: str, *inputs, output: str | None = None, **attrs) -> str:
        output = output or self.name(op)
        self.nodes.append(self.onnx.helper.make_node(op, list(inputs), [output], name=output, **attrs))
        return output

    def const(self, name: str, value: np.ndarray) -> str:
        name = INTERNAL + name  # never a table column's name, which is a graph input
        if not any(t.name == name for t in self.initializers):
            self.initializers.append(self.onnx.numpy_helper.from_array(np.asarray(value), name=name))
        return name

    def output_cast(self, x: str) -> str:
        """Outputs are float32 (scikit-learn's converter's convention); a float64 run casts at the end."""
        return x if self.dtype == np.float32 else self.node("Cast", x, to=self.onnx.TensorProto.FLOAT)


def onnx_model(model: Model):
    """The ONNX ModelProto: input X (batch, n_x) float64 raw rows (a table: one input per column); outputs as ONNX_HEADS says."""
    onnx = _onnx()
    missing = [layer.activation for layer in model.layers if layer.activation not in ONNX_ACTIVATIONS]
    if missing or model.loss not in ONNX_HEADS:
        raise ExportError(f"{missing[0] if missing else model.loss}: no ONNX form in this version of nnctl")
    g = _Graph(onnx, model.dtype)
    # inputs are float64 and the preprocessing works in float64 whatever the run's dtype: a float32 input
    # keeps 7 digits, so a feature such as a Unix time (1.7e9, std 1e5) lost its variation before (x - mean) / std
    if model.table is not None:
        A, inputs = _table_graph(g, model.table)
    else:
        A, inputs = "X", [onnx.helper.make_tensor_value_info("X", onnx.TensorProto.DOUBLE, ["batch", model.n_x])]
    if model.scale != 1.0:
        A = g.node("Div", A, g.const("scale", np.array(model.scale, np.float64)))
    if model.standardized:
        A = g.node("Sub", A, g.const("normalize_mean", model.mean.T.astype(np.float64)))  # (1, n_x): broadcast over rows
        A = g.node("Div", A, g.const("normalize_std", model.std.T.astype(np.float64)))
    if model.dtype != np.float64:  # a float32 run's network computes in float32, as predict does
        A = g.node("Cast", A, to=onnx.helper.np_dtype_to_tensor_dtype(model.dtype))
    for l, layer in enumerate(model.layers, 1):
        if layer.bn is None:
            Z = g.node("Gemm", A, g.const(f"W{l}", layer.W), g.const(f"b{l}", np.asarray(layer.b).ravel()), transB=1)  # (batch, n[l])
        else:  # batch norm in inference form: the running averages, ONNX's BatchNormalization over the units
            bn = layer.bn
            Z = g.node("Gemm", A, g.const(f"W{l}", layer.W), transB=1)
            Z = g.node(
                "BatchNormalization",
                Z,
                *(g.const(f"{name}{l}", getattr(bn, name).ravel().astype(model.dtype)) for name in ("gamma", "beta", "running_mean", "running_var")),
                epsilon=bn.epsilon,
            )
        A = ONNX_ACTIVATIONS[layer.activation](g, Z)
    if model.target_scaled:  # a regression trained on standardised targets: its values in the target's units
        assert model.target_mean is not None and model.target_std is not None
        A = g.node("Mul", A, g.const("normalize_target_std", model.target_std.T.astype(model.dtype)))  # (1, units): over rows
        A = g.node("Add", A, g.const("normalize_target_mean", model.target_mean.T.astype(model.dtype)))
    outputs = ONNX_HEADS[model.loss](g, A)
    k = model.layers[-1].W.shape[0]
    out_info = []
    for name, value in outputs.items():
        g.node("Identity", value, output=name)
        shape = ["batch"] if name == "label" else ["batch", 2 if model.loss == "cross_entropy" else k]
        elem = onnx.TensorProto.INT64 if name == "label" else onnx.TensorProto.FLOAT
        out_info.append(onnx.helper.make_tensor_value_info(name, elem, shape))
    graph = onnx.helper.make_graph(g.nodes, "nnctl", inputs, out_info, initializer=g.initializers)
    opsets = [onnx.helper.make_opsetid("", OPSET)] + ([onnx.helper.make_opsetid("ai.onnx.ml", 2)] if model.table is not None else [])
    proto = onnx.helper.make_model(graph, opset_imports=opsets, producer_name="nnctl", producer_version=__version__)
    proto.ir_version = IR_VERSION
    onnx.helper.set_model_props(proto, model.metadata)
    proto.doc_string = f"nnctl run {model.metadata['run']}; input: {model.metadata['input']}"
    onnx.checker.check_model(proto, full_check=True)
    return proto


def write_onnx(model: Model, path) -> Path:
    proto = onnx_model(model)
    with atomic_path(path) as tmp:
        tmp.write_bytes(proto.SerializeToString())
    return Path(path)


def _table_graph(g: _Graph, table: TableInputs) -> tuple:
    """(X (batch, n_x) float64, the graph's inputs): one input per column, as scikit-learn's
    converter takes a table. A number: float64 (batch, 1), NaN where missing, filled as fitted. Text:
    string (batch, 1), one-hot over the column's categories (ONNX-ML LabelEncoder to the category's
    position, then OneHot); a missing spelling gets the fitted category, an unseen one all zeros."""
    onnx = g.onnx
    clash = [c for c in (*table.numeric, *table.categorical) if c in OUTPUT_NAMES or c.startswith(INTERNAL)]
    if clash:
        raise ExportError(
            f"column {quoted(clash[0])}: an ONNX graph's inputs are the table's columns, and {quoted(clash[0])} is "
            f"{'one of its outputs' if clash[0] in OUTPUT_NAMES else 'a name the graph keeps for itself'}; "
            "rename the column in the table and train again"
        )
    inputs: list = []
    blocks: list = []
    for name, fill in zip(table.numeric, table.fill):
        inputs.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.DOUBLE, ["batch", 1]))
        blocks.append(g.node("Where", g.node("IsNaN", name), g.const(f"fill_{len(blocks)}", np.full((1, 1), fill, np.float64)), name))
    for j, (name, cats, fill) in enumerate(zip(table.categorical, table.categories, table.category_fill)):
        inputs.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.STRING, ["batch", 1]))
        keys = list(cats) + [m for m in MISSING_SPELLINGS if m not in cats and fill is not None]
        values = list(range(len(cats))) + [cats.index(fill)] * (len(keys) - len(cats))
        position = g.node(
            "LabelEncoder", name, domain="ai.onnx.ml", keys_strings=keys, values_int64s=values, default_int64=len(cats)
        )  # unseen: one past the last category, cut off below
        hot = g.node(
            "OneHot", position, g.const(f"depth_{j}", np.array([len(cats) + 1], np.int64)), g.const("off_on", np.array([0, 1], np.float32))
        )  # (batch, 1, categories + 1); ONNX Runtime has it for float32
        hot = g.node("Cast", hot, to=onnx.TensorProto.DOUBLE)  # 0 and 1: exact; the numbers' blocks are float64
        hot = g.node("Squeeze", hot, g.const("axis1", np.array([1], np.int64)))
        blocks.append(
            g.node(
                "Slice",
                hot,
                g.const("zero", np.array([0], np.int64)),
                g.const(f"width_{j}", np.array([len(cats)], np.int64)),
                g.const("axis1", np.array([1], np.int64)),
            )
        )
    X = g.node("Concat", *blocks, axis=1) if len(blocks) > 1 else blocks[0]
    return X, inputs


WRITERS = {"onnx": write_onnx, "npz": write_npz}


def export_format(output, given: str | None) -> str:
    """The format asked for, or the one the output's suffix names."""
    fmt = given or Path(output).suffix.lower().lstrip(".")
    if fmt not in WRITERS:
        what = f"--format {given}" if given else f"{output}: the suffix {Path(output).suffix or '(none)'}"
        raise ExportError(f"{what}: not a format nnctl exports; give --format {' or '.join(FORMATS)} (or a .onnx/.npz file name)")
    return fmt


def export_run(run: Run, output, fmt: str) -> Path:
    """Write `run` to `output` in `fmt` (onnx or npz), atomically."""
    return WRITERS[fmt](describe(run), output)
