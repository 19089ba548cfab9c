"""The experiment spec: a declarative pydantic schema, one YAML loader, one exception type.

`load_config(path, overrides)` returns a valid `Spec` or raises `ConfigError` whose lines read
`configs/x.yaml: model.hidden.1: Input should be greater than 0 (got 0)`.
"""

from __future__ import annotations

import difflib
import json
import os
import math
import re
import types
import typing
from pathlib import Path
from typing import Annotated, Literal, Optional, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from nnctl.core.activations import ACTIVATION_NAMES
from nnctl.core.backend import DEVICE_NAMES
from nnctl.data.dataset import ARRAY_PREFIX, BUILTIN_PREFIX, parse_builtin, regular_file
from nnctl.errors import ConfigError, DataError
from nnctl.core.firstlayer import AUTO, FIRST_LAYERS, DualFirstLayer
from nnctl.core.layers import BATCH_NORM_EPSILON, BATCH_NORM_MOMENTUM
from nnctl.core.network import HEADS, INIT_NAMES, LOSS_NAMES, LOSSES, auto_loss
from nnctl.core.optimizers import OPTIMIZER_NAMES, OPTIMIZERS, SCHEDULE_NAMES
from nnctl.data.tables import MISSING_POLICIES, TASKS, UNSEEN_POLICIES, Preprocessor, is_table, read_table
from nnctl.core.training import SHUFFLES
from nnctl.util.text import quoted

# the valid names come from the tables; a Literal built from a tuple at run time is no static type,
# so to mypy each is a str (pydantic checks the words)
if typing.TYPE_CHECKING:
    ActivationName = str
    InitName = str
    LossName = str
    OptimizerName = str
    ScheduleName = str
    ShuffleName = str
    FirstLayerName = str
    DeviceName = str
    MissingName = str
    UnseenName = str
    TaskName = str
else:
    ActivationName = Literal[ACTIVATION_NAMES]
    InitName = Literal[INIT_NAMES]
    LossName = Literal[("auto",) + LOSS_NAMES]
    OptimizerName = Literal[OPTIMIZER_NAMES]
    ScheduleName = Literal[SCHEDULE_NAMES]
    ShuffleName = Literal[tuple(SHUFFLES)]
    FirstLayerName = Literal[(AUTO,) + tuple(FIRST_LAYERS)]
    DeviceName = Literal[DEVICE_NAMES]
    MissingName = Literal[MISSING_POLICIES]
    UnseenName = Literal[UNSEEN_POLICIES]
    TaskName = Literal[TASKS]
LayerSize = Annotated[int, Field(gt=0)]
MAX_CONFIG_BYTES = 1 << 20
MAX_YAML_NODES = 100_000  # values in the document once every alias is expanded
MAX_YAML_DEPTH = 64  # sections and lists inside one another
MAX_SEED = 2**32 - 1  # np.random.seed and RandomState take 0 .. 2**32 - 1
NAME_PATTERN = r"^[A-Za-z0-9_.-]+$"
MAX_NAME = 100  # characters: the run folder's name (timestamp + name) stays well under the file systems' 255


def _types_in(ann) -> set:
    """The plain types a field's annotation admits (Optional, Union, list and Annotated unwrapped)."""
    if isinstance(ann, type):
        return {ann}
    return set().union(*(_types_in(a) for a in typing.get_args(ann))) if typing.get_args(ann) else set()


def _literal_words(ann) -> set:
    """The words a field's Literal admits (inside Optional, Union, list and Annotated)."""
    if typing.get_origin(ann) is Literal:
        return {a for a in typing.get_args(ann) if isinstance(a, str)}
    return set().union(*(_literal_words(a) for a in typing.get_args(ann))) if typing.get_args(ann) else set()


def _yaml_word(v) -> str:
    """A value as the YAML that gave it: true, not True."""
    if isinstance(v, list):
        return "[" + ", ".join(_yaml_word(x) for x in v) + "]"
    return "true" if v is True else "false" if v is False else repr(v)


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _any_case(cls, v, info):
        """Names are case-insensitive: Relu, ReLU and relu are one activation; Adam is adam."""
        words = _literal_words(cls.model_fields[info.field_name].annotation)
        if not words:
            return v

        def fold(x):
            return x.lower() if isinstance(x, str) and x not in words and x.lower() in words else x

        return [fold(x) for x in v] if isinstance(v, list) else fold(v)

    @field_validator("*", mode="before")
    @classmethod
    def _no_booleans_for_numbers(cls, v, info):
        """YAML's true/false are not 1/0: a number field given a boolean is refused, not read as 1."""
        values = v if isinstance(v, list) else [v]
        if any(isinstance(x, bool) for x in values):
            types = _types_in(cls.model_fields[info.field_name].annotation)
            if bool not in types and types & {int, float}:
                what = "a whole number" if int in types and float not in types else "a number"
                what += " or a file name" if str in types else ""
                raise PydanticCustomError("boolean_for_number", "must be " + what + ", not a boolean (got {got})", {"got": _yaml_word(v)})
        return v


TABLE_KEYS = ("target", "features", "drop", "missing", "unseen", "header")  # data keys that only tables have


class DataSpec(_Strict):
    train: str = Field(min_length=1, description="HDF5 file, a table (.csv, .tsv, .parquet; relative to the config file) or builtin:NAME")
    test: Optional[str] = Field(None, min_length=1)
    normalize: Literal["auto", "none", "standardize"] = Field(
        "auto", description="standardize: (x - mean) / std per feature, from the training set; auto: for features not already of order one"
    )
    normalize_target: Literal["auto", "none", "standardize"] = Field(
        "auto",
        description="a regression's target: standardize trains on (y - mean) / std from the training set and turns every "
        "prediction back (RMSE in the target's units, costs in standardised ones); auto: for a linear (or leaky_relu) output",
    )
    validation: Optional[Union[Annotated[float, Field(gt=0, lt=1)], Annotated[str, Field(min_length=1)]]] = Field(
        None, description="a data file, or the fraction of the training set held out (seeded, stratified)"
    )

    @field_validator("target", "features", "drop", mode="before")
    @classmethod
    def _numbered_columns(cls, v):
        """A column named by a whole number (pandas writes 0, 1, 2 for unnamed columns) is its name as
        text: YAML reads `target: 3` and `drop: [0]` as numbers."""

        def name(x):
            return str(x) if isinstance(x, int) and not isinstance(x, bool) else x

        return [name(x) for x in v] if isinstance(v, list) else name(v)

    @field_validator("validation", mode="before")
    @classmethod
    def _validation(cls, v):
        """The union's error once, in words (not once per alternative with pydantic's names for them)."""
        fraction = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and 0 < v < 1
        if not (v is None or fraction or (isinstance(v, str) and v)):
            raise PydanticCustomError("validation", "a fraction between 0 and 1 (exclusive) or a file name (got {got})", {"got": _yaml_word(v)})
        return v

    stream: Literal["auto", "always", "never"] = Field(
        "auto", description="read mini-batches from the file as training goes: auto when the data would not fit in memory"
    )
    target: Optional[str] = Field(None, min_length=1, description="tables: the column to predict (default: the last column)")
    features: Optional[list[Annotated[str, Field(min_length=1)]]] = Field(
        None, min_length=1, description="tables: the feature columns (default: every column but the target and data.drop)"
    )
    drop: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list, description="tables: columns left out")
    missing: MissingName = Field(
        "error",
        description="tables: a missing value (empty, NA, NaN) is an error, or filled from the training rows "
        "(mean, median, most_frequent; text columns: most_frequent), or its row is dropped",
    )
    unseen: UnseenName = Field("error", description="tables: a category that training never saw is an error at predict and evaluate, or encoded as all zeros")
    header: Union[Literal["auto"], bool] = Field(
        "auto",
        description="tables (CSV, TSV): whether the first line is the header: auto detects it (docs/tables.md), true and false "
        "decide it for every file of the run (training, validation, test, predict, evaluate)",
    )

    @field_validator("header", mode="before")
    @classmethod
    def _header(cls, v):
        """auto, true or false (YAML's yes/no are true/false), in one line."""
        if isinstance(v, str) and v.strip().lower() in ("auto", "true", "false"):
            return {"auto": "auto", "true": True, "false": False}[v.strip().lower()]
        if not (v is True or v is False):
            raise PydanticCustomError("header", "auto, true or false: whether the first line of each table is its header (got {got})", {"got": _yaml_word(v)})
        return v

    @model_validator(mode="after")
    def _check_tables(self):
        table_keys = [k for k in TABLE_KEYS if getattr(self, k) != DataSpec.model_fields[k].get_default(call_default_factory=True)]
        if table_keys and not is_table(self.train):
            raise ValueError(
                f"data.{table_keys[0]}: for tables only (.csv, .tsv, .parquet); data.train is {quoted(self.train)}: leave data.{table_keys[0]} out"
            )
        if self.features is not None and self.drop:
            raise ValueError("data.features lists the columns to use and data.drop the columns to leave out; give one of them")
        for key in ("test", "validation"):
            other = getattr(self, key)
            if isinstance(other, str) and is_table(self.train) != is_table(other) and not other.startswith(BUILTIN_PREFIX):
                raise ValueError(
                    f"data.{key}: {quoted(other)} and data.train {quoted(self.train)} must both be tables (.csv, .tsv, .parquet) or both data files"
                )
        return self

    @model_validator(mode="after")
    def _check_builtin(self):
        for key in ("train", "test", "validation"):
            source = getattr(self, key)
            if isinstance(source, str) and source.startswith(BUILTIN_PREFIX):
                try:
                    parse_builtin(source)
                except DataError as exc:
                    raise ValueError(f"data.{key}: {exc}") from None
        return self


class ModelSpec(_Strict):
    layers: Optional[list[LayerSize]] = Field(None, min_length=2, description="full list [n_x, ..., 1] (softmax: [n_x, ..., k])")
    hidden: Optional[list[LayerSize]] = Field(None, description="hidden sizes only; n_x and the output units from the data")
    hidden_activation: ActivationName = "relu"
    output_activation: ActivationName = Field("sigmoid", description="sigmoid (two classes), softmax (k classes; the default for k > 2), linear")
    activations: Optional[list[ActivationName]] = Field(None, description="one per layer, overrides the two above")
    init: InitName = "xavier"
    init_scale: float = Field(0.01, gt=0, description="multiplier for init: normal")
    init_rng: Literal["generator", "legacy"] = Field("generator", description="legacy: np.random.seed(seed) + one randn per layer, as the course")
    loss: LossName = "auto"
    task: TaskName = Field("auto", description="auto: from the output (HDF5 data) or from the target column (tables); regression: a linear output and MSE")
    allow_symmetry: bool = Field(False, description="let init: zeros have hidden layers (the course's demonstration: every hidden unit stays identical)")
    batch_norm: bool | list[int] = Field(
        False, description="normalise Z[l] over each mini-batch before the activation: true (every hidden layer) or a list of hidden layer numbers"
    )
    batch_norm_momentum: float = Field(
        BATCH_NORM_MOMENTUM, ge=0, lt=1, description="the course's beta of the running averages: running = beta running + (1 - beta) batch"
    )
    batch_norm_epsilon: float = Field(BATCH_NORM_EPSILON, gt=0, description="Z^ = (Z - mu) / sqrt(sigma^2 + epsilon)")

    @field_validator("batch_norm", mode="before")
    @classmethod
    def _batch_norm(cls, v):
        """One message for the union, in words."""
        if not (isinstance(v, bool) or (isinstance(v, list) and all(isinstance(x, int) and not isinstance(x, bool) for x in v))):
            raise PydanticCustomError("batch_norm", "must be true, false or a list of hidden layer numbers such as [1, 2] (got {got})", {"got": _yaml_word(v)})
        return v

    @model_validator(mode="before")
    @classmethod
    def _task_output(cls, raw):
        """model.task: regression picks a linear output where the spec chose none."""
        if isinstance(raw, dict) and str(raw.get("task", "")).lower() == "regression" and not {"output_activation", "activations", "loss"} & set(raw):
            raw = {**raw, "output_activation": "linear"}
        return raw

    @model_validator(mode="before")
    @classmethod
    def _layers_pick_the_head(cls, raw):
        """model.layers ending in k >= 2 units with the head left automatic: a softmax of k units
        (the README's "model.layers ends with k"), as k classes in the data would pick."""
        if isinstance(raw, dict) and not {"output_activation", "activations", "loss"} & raw.keys():
            layers = raw.get("layers")
            if isinstance(layers, list) and layers and isinstance(layers[-1], int) and not isinstance(layers[-1], bool) and layers[-1] >= 2:
                return {**raw, "output_activation": "softmax"}
        return raw

    @model_validator(mode="after")
    def _check(self):
        if self.task != "auto" and LOSSES[self.resolved_loss].task != self.task:
            raise ValueError(
                f"model.task: {self.task} does not fit a {self.layer_activations[-1]} output with loss {self.resolved_loss}; "
                f"leave output_activation and loss out (model.task picks them), or use task: auto"
            )
        if self.layers is not None and self.hidden is not None:
            raise ValueError("give either model.layers (the full list) or model.hidden (hidden sizes only), not both")
        L = self.depth
        if self.activations is not None and len(self.activations) != L:
            raise ValueError(f"model.activations: the network has {L} layers, so give {L} activations (got {len(self.activations)})")
        if self.init == "zeros" and L > 1 and not self.allow_symmetry:
            raise ValueError(
                "model.init: 'zeros' makes every hidden unit compute the same function, so they never "
                "become different (symmetry is not broken); use xavier, he or normal, or no hidden layers "
                "(or model.allow_symmetry: true to watch it happen, as the course's Initialization notebook does)"
            )
        head = HEADS[self.resolved_loss]
        if self.layers is not None and head.max_classes is None and self.layers[-1] < 2:
            raise ValueError(
                f"model.layers: a {self.layer_activations[-1]} output has one unit per class, so at least 2 "
                f"(got {self.layers[-1]}); for two classes in one unit use output_activation: sigmoid"
            )
        if self.layers is not None and head.max_classes is not None and self.layers[-1] != 1:
            raise ValueError(
                f"model.layers: a {self.layer_activations[-1]} output has 1 unit (got {self.layers[-1]}); end model.layers "
                "with 1, or leave output_activation out (or use softmax) for one unit per class"
            )
        needs = LOSSES[self.resolved_loss].output
        if needs is not None and self.layer_activations[-1] != needs:
            raise ValueError(
                f"model.loss: {self.resolved_loss} needs a {needs} output (got {self.layer_activations[-1]}); use output_activation: {needs}, or loss: mse"
            )
        if self.loss == "mse" and self.layer_activations[-1] == "softmax":
            raise ValueError(
                "model.loss: mse with a softmax output trains a regression squeezed onto the classes' probabilities, "
                "not a classifier; use loss: categorical_cross_entropy (or auto)"
            )
        if isinstance(self.batch_norm, list):
            wrong = [l for l in self.batch_norm if not 1 <= l < L]
            if wrong:
                hidden = f"its hidden layers are 1 to {L - 1}" if L > 2 else "its one hidden layer is 1" if L == 2 else "it has no hidden layers"
                raise ValueError(
                    f"model.batch_norm: layer {wrong[0]} is not a hidden layer of this {L}-layer network ({hidden}); "
                    "batch norm normalises hidden layers, never the input or the output layer"
                )
            if len(set(self.batch_norm)) != len(self.batch_norm):
                raise ValueError(f"model.batch_norm: a layer is named twice ({_yaml_word(self.batch_norm)}); name each once")
        elif self.batch_norm and L == 1:
            raise ValueError("model.batch_norm: this network has no hidden layers to normalise; add model.hidden, or batch_norm: false")
        if self.loss == "mse" and self.layer_activations[-1] == "sigmoid":
            raise ValueError(
                "model.loss: mse with a sigmoid output trains a regression squeezed into (0, 1), not a classifier; "
                "for a classifier use loss: cross_entropy (or auto), for a regression use output_activation: linear"
            )
        return self

    @property
    def depth(self) -> int:
        """L, the number of layers with parameters."""
        return len(self.layers) - 1 if self.layers is not None else len(self.hidden or []) + 1

    @property
    def normalised_layers(self) -> list:
        """The hidden layers batch norm applies to (1-based, as W[l])."""
        if isinstance(self.batch_norm, list):
            return sorted(self.batch_norm)
        return list(range(1, self.depth)) if self.batch_norm else []

    @property
    def layer_activations(self) -> list:
        if self.activations is not None:
            return list(self.activations)
        return [self.hidden_activation] * (self.depth - 1) + [self.output_activation]

    @property
    def resolved_loss(self) -> str:
        if self.loss != "auto":
            return self.loss
        out = self.activations[-1] if self.activations else self.output_activation
        return auto_loss(out)

    def for_classes(self, k: int) -> "ModelSpec":
        """The model for data of k classes: over two, a softmax output unless the spec chose its output."""
        chosen = {"output_activation", "activations", "loss"} & self.model_fields_set
        if chosen or self.task == "regression" or k <= 2 or HEADS[self.resolved_loss].max_classes != 2:
            return self
        return self.model_copy(update={"output_activation": "softmax"})

    @property
    def resolved_task(self) -> str:
        """classification or regression: model.task, or what the output and loss make it."""
        return LOSSES[self.resolved_loss].task

    @property
    def output_chosen(self) -> bool:
        """Whether the spec chose the output (output_activation, activations, loss or model.task)."""
        return bool({"output_activation", "activations", "loss"} & self.model_fields_set) or self.task != "auto"

    def for_task(self, task: str) -> "ModelSpec":
        """The model for a task the data chose (a table's target): a linear output for a regression."""
        if task == self.resolved_task:
            return self.model_copy(update={"task": task})
        if self.output_chosen:
            raise ValueError(f"model: the spec's output makes a {self.resolved_task} and the data a {task}")
        return ModelSpec.model_validate({**self.model_dump(exclude_unset=True), "task": task})


class EarlyStoppingSpec(_Strict):
    monitor: Literal["validation_cost", "validation_accuracy"] = "validation_cost"
    patience: int = Field(10, ge=1, description="records (every train.record_every) without improvement before stopping")
    min_delta: float = Field(0.0, ge=0, description="the least change that counts as an improvement")
    restore_best: bool = Field(True, description="save the best parameters seen, not the last")


DEFAULT_EPOCHS = 200  # train.epochs when the spec gives neither epochs nor iterations (docs/tables.md)


class TrainSpec(_Strict):
    learning_rate: float = Field(gt=0, description="alpha, or alpha_0 with a decay (default: the optimizer's, gd 0.1, adam 0.001)")
    iterations: Optional[int] = Field(None, ge=1, description="full-batch steps (= epochs); or give epochs")
    seed: int = Field(1, ge=0, le=MAX_SEED)
    record_every: int = Field(100, ge=1, description="record the cost every N epochs (iterations when full batch)")
    dtype: Literal["float64", "float32"] = "float64"
    checkpoint_every: int = Field(1000, ge=1, description="save a resumable checkpoint every N epochs")
    blas_threads: Optional[int] = Field(
        None, ge=1, description="BLAS threads; bit-identical results need the same count (default: one for small steps or a full machine, else all cores)"
    )
    device: DeviceName = Field("cpu", description="where the math runs: cpu (NumPy) or gpu (CUDA through CuPy: pip install 'nnctl[gpu]')")
    fused: bool = Field(True, description="gpu: bias + activation and the Adam update each one kernel; false: the plain path (the reference)")
    first_layer: FirstLayerName = Field("auto", description="dual: W1 = W1_0 + C X^T through the Gram matrix; auto picks it where it is exact and less work")
    epochs: Optional[int] = Field(None, ge=1, description="passes over the training set")
    batch_size: Optional[int] = Field(None, ge=1, description="examples per step; none: the full batch")
    shuffle: ShuffleName = Field("generator", description="mini-batch order each epoch: from the seed; the course's seed 10, 11, ...; or none")
    optimizer: OptimizerName = "gd"
    beta: float = Field(0.9, ge=0, lt=1, description="momentum")
    beta1: float = Field(0.9, ge=0, lt=1, description="adam")
    beta2: float = Field(0.999, ge=0, lt=1, description="rmsprop, adam")
    epsilon: float = Field(1e-8, gt=0, description="rmsprop, adam")
    decay: ScheduleName = Field("none", description="inverse_time: alpha_0 / (1 + decay_rate floor(epoch / time_interval)); one_cycle: warm-up then annealing")
    decay_rate: float = Field(1.0, ge=0)
    time_interval: int = Field(1, ge=1, description="epochs between decays")
    one_cycle_warmup: float = Field(0.3, gt=0, lt=1, description="one_cycle: the fraction of the epochs spent warming up")
    one_cycle_div: float = Field(25.0, gt=1, description="one_cycle: starts at learning_rate / one_cycle_div")
    one_cycle_final_div: float = Field(1e4, ge=1, description="one_cycle: ends at learning_rate / (one_cycle_div * one_cycle_final_div)")
    l2: float = Field(0.0, ge=0, description="lambda: cost + lambda/(2m) sum ||W||^2, gradient + (lambda/m) W; m the batch's examples")
    keep_prob: Union[Annotated[float, Field(gt=0, le=1)], list[Annotated[float, Field(gt=0, le=1)]]] = Field(
        1.0, description="inverted dropout: probability of keeping a hidden unit, one for all hidden layers or one per hidden layer"
    )
    dropout_masks: Literal["fresh", "course"] = Field(
        "fresh", description="fresh: new masks every step from the seed; course: np.random.seed(1) at every forward pass, as the notebook"
    )
    early_stopping: Optional[EarlyStoppingSpec] = Field(None, description="needs data.validation")

    @field_validator("keep_prob", mode="before")
    @classmethod
    def _keep_prob(cls, v):
        """The union's error once, in words (not once per alternative with pydantic's names for them)."""

        def ok(x):
            return isinstance(x, (int, float)) and not isinstance(x, bool) and 0 < x <= 1

        if not (ok(v) or (isinstance(v, list) and v and all(ok(x) for x in v))):
            raise PydanticCustomError("keep_prob", "must be a number in (0, 1] or a list of them, one per hidden layer (got {got})", {"got": _yaml_word(v)})
        return v

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, raw):
        """The learning rate the optimizer's table row gives, and DEFAULT_EPOCHS, where the spec gives none."""
        if not isinstance(raw, dict):
            return raw
        raw = dict(raw)
        if raw.get("learning_rate") is None and "learning_rate" not in raw:
            name = raw.get("optimizer", "gd")
            name = name.lower() if isinstance(name, str) else name
            # an optimizer that is not a name of the table is refused by its own field, in one line: the
            # rate then stands in so that no second line says the rate is missing
            raw["learning_rate"] = OPTIMIZERS[name if isinstance(name, str) and name in OPTIMIZERS else "gd"].learning_rate
        if "epochs" not in raw and "iterations" not in raw:
            raw["epochs"] = DEFAULT_EPOCHS
        return raw

    @model_validator(mode="after")
    def _check(self):
        if (self.iterations is None) == (self.epochs is None):
            raise ValueError(
                "train: give train.epochs (passes over the data) or train.iterations (full-batch steps), one of them"
                if self.iterations is None
                else "train: give train.epochs or train.iterations, not both"
            )
        if self.iterations is not None and self.batch_size is not None:
            raise ValueError("train.iterations counts full-batch steps; with train.batch_size give train.epochs instead")
        if self.first_layer == "dual":
            why = DualFirstLayer.not_exact_for(OPTIMIZERS[self.optimizer].make.linear, self.batch_size is None, self.l2 > 0)
            if why:
                raise ValueError(f"train.first_layer: dual is not exact here ({why}); use auto or primal")
            if self.device != "cpu":
                raise ValueError(f"train.first_layer: dual runs on the CPU only; use auto or primal with device: {self.device}")
        return self

    @property
    def dropout(self) -> bool:
        keep = self.keep_prob if isinstance(self.keep_prob, list) else [self.keep_prob]
        return any(k < 1 for k in keep)

    @property
    def epoch_count(self) -> int:
        """The loop's length in epochs (a full-batch iteration is an epoch)."""
        if self.epochs is not None:
            return self.epochs
        assert self.iterations is not None  # _check: one of epochs and iterations is given
        return self.iterations

    def hyper(self) -> dict:
        """The chosen optimizer's hyperparameters."""
        return {k: getattr(self, k) for k in OPTIMIZERS[self.optimizer].hyper}


class SweepSpec(_Strict):
    """What `nnctl sweep` varies; `nnctl train` ignores it."""

    hidden_layers: Optional[list[Annotated[int, Field(ge=0)]]] = Field(None, description="hidden-layer counts")
    width: Optional[LayerSize] = Field(None, description="units in each hidden layer, for hidden_layers")
    hidden: Optional[list[list[LayerSize]]] = Field(None, description="explicit hidden stacks")
    grid: dict[str, list] = Field(default_factory=dict, description="key.path: [values]; the product is swept")


class SearchSpec(_Strict):
    """A random search for `nnctl sweep` (docs/search.md); `nnctl train` ignores it."""

    trials: int = Field(ge=1, le=10_000, description="random draws per round")
    seed: Optional[int] = Field(None, ge=0, le=MAX_SEED, description="the draws' generator (default: train.seed)")
    rounds: int = Field(1, ge=1, le=20, description="coarse to fine: each round draws inside the region of the best trials so far")
    space: dict[str, str] = Field(min_length=1, description="key.path: DIST(args), e.g. train.learning_rate: loguniform(1e-4, 1)")
    halving: Optional[int] = Field(None, ge=2, le=100, description="successive halving: keep the best 1/halving at each budget")
    min_budget: Optional[int] = Field(None, ge=1, description="epochs (iterations full batch) of the first budget, with halving")
    halving_mode: Optional[Literal["sync", "async"]] = Field(
        None,
        description="sync (default): each budget waits for all its trials, reproducible; async: ASHA, a trial goes on "
        "as soon as it is in the top 1/halving of those that finished its budget",
    )


class Spec(_Strict):
    name: Optional[str] = Field(None, pattern=NAME_PATTERN, max_length=MAX_NAME, description="default: the config file's name")
    data: DataSpec
    model: ModelSpec = ModelSpec()
    train: TrainSpec = TrainSpec()  # type: ignore[call-arg]  # learning_rate: _defaults fills it before validation; every key has a default (learning rate: the optimizer's; epochs: DEFAULT_EPOCHS)
    runs_dir: str = Field("runs", min_length=1, description="relative to the working directory")
    sweep: Optional[SweepSpec] = None
    search: Optional[SearchSpec] = None

    @model_validator(mode="after")
    def _check_dropout(self):
        keep, hidden = self.train.keep_prob, self.model.depth - 1
        if self.model.batch_norm and self.train.device != "cpu":
            raise ValueError(f"model.batch_norm: batch norm runs on the CPU only; use device: cpu, or no batch norm on the {self.train.device}")
        if isinstance(keep, list) and len(keep) != hidden:
            raise ValueError(
                f"train.keep_prob: the network has {hidden} hidden layers, so give {hidden} keep probabilities "
                f"(got {len(keep)}), or one number for all; dropout never applies to the output layer"
            )
        if self.train.early_stopping is not None and self.data.validation is None:
            raise ValueError("train.early_stopping: it watches a validation set; add data.validation (a file, or a fraction such as 0.2)")
        if (
            self.train.early_stopping is not None
            and self.train.early_stopping.monitor == "validation_accuracy"
            and self.model.resolved_task != "classification"
        ):
            raise ValueError("train.early_stopping.monitor: a regression has no accuracy; use validation_cost")
        if self.train.dropout and hidden == 0:
            raise ValueError("train.keep_prob: dropout applies to hidden layers and this network has none; use keep_prob: 1")
        if self.model.batch_norm and self.train.batch_size == 1:
            raise ValueError(
                "train.batch_size: 1 example per mini-batch has variance 0, so model.batch_norm would normalise every "
                "unit to 0 (PyTorch refuses it too); use a batch_size of 2 or more, or model.batch_norm: false"
            )
        return self

    def layer_dims(self, n_x: int, k: int = 2) -> list:
        """[n_x, ..., units of the output layer] for inputs of n_x features and k classes."""
        if self.model.layers is not None:
            return list(self.model.layers)
        return [n_x, *(self.model.hidden or []), HEADS[self.model.resolved_loss].units(k)]

    def for_classes(self, k: int) -> "Spec":
        """The spec for data of k classes (ModelSpec.for_classes)."""
        model = self.model.for_classes(k)
        return self if model is self.model else self.model_copy(update={"model": model})

    def resolved(self, layer_dims) -> "Spec":
        """The spec with every choice made explicit: layers, one activation per layer, the loss."""
        model = self.model.model_copy(
            update={
                "layers": list(layer_dims),
                "hidden": None,
                "activations": self.model.layer_activations,
                "loss": self.model.resolved_loss,
                "task": self.model.resolved_task,
                "batch_norm": self.model.normalised_layers if self.model.batch_norm else False,
            }
        )
        return self.model_copy(update={"model": model})


# ---------------------------------------------------------------- YAML


class _UniqueKeyLoader(yaml.SafeLoader):
    """Safe loader that refuses duplicate keys instead of keeping the last one silently."""


def _construct_mapping(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {quoted(key)}; keep one", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
# YAML 1.1 reads 1e-3 as a string; a learning rate written that way should be a number
_UniqueKeyLoader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789"))


class _Bounded(Exception):
    """The document is too deep or expands to too much; carries the message's reason."""


def _compose_node(self, parent, index):
    # the composer recurses once per level: bound the depth before Python's stack is the limit
    self._depth = getattr(self, "_depth", 0) + 1
    try:
        if self._depth > MAX_YAML_DEPTH:
            raise _Bounded(f"nested over {MAX_YAML_DEPTH} levels deep; a spec is a short, flat mapping")
        return yaml.composer.Composer.compose_node(self, parent, index)
    finally:
        self._depth -= 1


def _get_single_node(self):
    node = yaml.composer.Composer.get_single_node(self)
    if node is not None and _expanded_size(node) > MAX_YAML_NODES:
        raise _Bounded(f"too many YAML aliases: the document expands to over {MAX_YAML_NODES:,} values; write the values out")
    return node


def _expanded_size(root) -> int:
    """Nodes of the document with every alias written out, counted once per shared node (linear time)."""
    sizes: dict = {}

    def size(node) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        if isinstance(node, yaml.SequenceNode):
            n = 1 + sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            n = 1 + sum(size(k) + size(v) for k, v in node.value)
        else:
            n = 1
        sizes[id(node)] = n = min(n, MAX_YAML_NODES + 1)
        return n

    return size(root)  # recursion is bounded by MAX_YAML_DEPTH


# methods replaced on purpose (mypy's method-assign); the functions are defined above, after the class
_UniqueKeyLoader.compose_node = _compose_node  # type: ignore[method-assign]
_UniqueKeyLoader.get_single_node = _get_single_node  # type: ignore[method-assign]


def parse_yaml(text: str, where: str):
    """Parse YAML safely: one document, no duplicate keys, bounded size, depth and alias expansion."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{where}: the file is over {MAX_CONFIG_BYTES // 1024} KiB; a spec is a short YAML mapping")
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except _Bounded as exc:
        raise ConfigError(f"{where}: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{where}: nested too deeply; a spec is a short, flat mapping") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark is not None else ""
        if isinstance(exc, yaml.reader.ReaderError):  # a control character; its str() is two lines
            line = f"line {text.count(chr(10), 0, exc.position) + 1}, character {exc.position - text.rfind(chr(10), 0, exc.position)}: "
            char = chr(exc.character) if isinstance(exc.character, int) else exc.character
            problem = f"{exc.reason} ({quoted(char)}); YAML text holds no control characters, remove it"
        else:
            problem = getattr(exc, "problem", None) or str(exc)
        problem = " ".join(str(problem).split())  # one line, whatever PyYAML's message holds
        raise ConfigError(f"{where}: {line}not valid YAML: {problem}") from None


def apply_override(raw: dict, assignment: str) -> dict:
    """Apply one `--set key.path=value`; the value is read as YAML (numbers, lists, strings)."""
    key, sep, value = assignment.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {assignment}: expected key.path=value, e.g. --set train.learning_rate=0.01")
    parts = key.strip().split(".")
    node = raw
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"--set {assignment}: {part} is not a section")
        node = child
    node[parts[-1]] = parse_yaml(value, f"--set {assignment}") if value.strip() else None
    # the two ways to give the layers replace each other: --set model.hidden=[20,7] on a spec with layers
    other = _ALTERNATIVES.get(tuple(p.strip() for p in parts))
    if other and node[parts[-1]] is not None:
        node.pop(other, None)
    return raw


_ALTERNATIVES: dict[tuple[str, ...], str] = {("model", "hidden"): "layers", ("model", "layers"): "hidden"}


def _fields_at(loc) -> list:
    model: type[BaseModel] = Spec
    for part in loc:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        ann = getattr(field, "annotation", None)
        ann = next((a for a in typing.get_args(ann) if a is not type(None)), ann)  # Optional[X] -> X
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            model = ann
        else:
            return []
    return list(model.model_fields)


# a sub-mapping's key -> an example of its value, for a spec that gave a number, text or list there
_MAPPING_EXAMPLES: dict[tuple[str, ...], str] = {
    ("data",): "{train: data.h5}",
    ("model",): "{hidden: [8]}",
    ("train",): "{learning_rate: 0.01}",
    ("train", "early_stopping"): "{patience: 10}",
    ("sweep",): "{hidden_layers: [1, 2], width: 16}",
    ("sweep", "grid"): "{train.learning_rate: [0.01, 0.1]}",
    ("search",): "{trials: 20, space: {train.learning_rate: 'loguniform(1e-4, 1)'}}",
    ("search", "space"): "{train.learning_rate: 'loguniform(1e-4, 1)'}",
}


def _field_at(loc) -> typing.Any:
    """The pydantic FieldInfo at a spec path (None where the path leaves the schema)."""
    model: typing.Any = Spec
    field = None
    for part in loc:
        field = model.model_fields.get(part) if isinstance(part, str) and isinstance(model, type) and issubclass(model, BaseModel) else None
        if field is None:
            return None
        ann = field.annotation
        model = next((a for a in typing.get_args(ann) if a is not type(None)), ann) if typing.get_origin(ann) is not dict else ann
    return field


def _mapping_hint(loc) -> str:
    """The fix for a key whose value must be a mapping: give a mapping such as {...}, and ", or {} for
    the defaults" where an empty mapping is valid there."""
    field = _field_at(loc)
    ann = getattr(field, "annotation", None)
    ann = next((a for a in typing.get_args(ann) if a is not type(None)), ann)
    empty_ok = False
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        try:  # a model validator may fill a key before validation (train.learning_rate: the optimizer's default)
            ann.model_validate({})
            empty_ok = True
        except ValidationError:
            empty_ok = False
    elif field is not None:
        empty_ok = not any(getattr(m, "min_length", 0) for m in field.metadata)
    example = _MAPPING_EXAMPLES.get(tuple(str(p) for p in loc), "{key: value}")
    return f"give a mapping such as {example}" + (", or {} for the defaults" if empty_ok else "")


def _unwrap(ann):
    """Annotated[X, ...] -> X and Optional[X] -> X (a union of several types stays one)."""
    while True:
        if typing.get_origin(ann) is Annotated:
            ann = typing.get_args(ann)[0]
            continue
        args = [a for a in typing.get_args(ann) if a is not type(None)]
        if typing.get_origin(ann) in (Union, types.UnionType) and len(args) == 1:
            ann = args[0]
            continue
        return ann


def _user_loc(loc) -> tuple:
    """(the error's location as the spec's keys and list positions, the union annotation it passed
    through or None): pydantic's tags for a union's alternatives ('constrained-float',
    'function-after[...]', 'list[...]') are left out, walking the schema, so none reaches the user."""
    ann: typing.Any = Spec
    out: list = []
    union = None
    for part in loc:
        ann = _unwrap(ann)
        if typing.get_origin(ann) in (Union, types.UnionType):  # the part names an alternative: left out
            union = union or ann
            alts = [_unwrap(a) for a in typing.get_args(ann) if a is not type(None)]
            tag = str(part)
            ann = (
                next((a for a in alts if typing.get_origin(a) is list), None)
                if tag.startswith("list")
                else next((a for a in alts if typing.get_origin(a) is not list), None)
            )
            continue
        out.append(part)
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            field = ann.model_fields.get(part) if isinstance(part, str) else None
            ann = field.annotation if field is not None else None
        elif typing.get_origin(ann) is list:
            ann = typing.get_args(ann)[0]
        elif typing.get_origin(ann) is dict:
            ann = typing.get_args(ann)[1]
        else:
            ann = None
    return tuple(out), union


def _describe(ann) -> str:
    """A type of the schema in words: 'a number greater than 0', 'a list of whole numbers'."""
    bounds = []
    if typing.get_origin(ann) is Annotated:
        for m in [x for item in typing.get_args(ann)[1:] for x in getattr(item, "metadata", [item])]:
            for attr, word in (("gt", "greater than"), ("ge", "at least"), ("lt", "less than"), ("le", "at most")):
                if getattr(m, attr, None) is not None:
                    bounds.append(f"{word} {getattr(m, attr)}")
    ann = _unwrap(ann)
    if typing.get_origin(ann) is list:
        return "a list of " + _describe(typing.get_args(ann)[0]).removeprefix("a ").removeprefix("an ")
    if typing.get_origin(ann) in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(ann) if a is not type(None))
    if typing.get_origin(ann) is Literal:
        return " or ".join(str(a) for a in typing.get_args(ann))
    word = {bool: "true or false", int: "a whole number", float: "a number", str: "text"}.get(ann, "a value")
    return word + (" " + " and ".join(bounds) if bounds else "")


def _format_error(err) -> str:
    loc, union = _user_loc(err["loc"])
    loc = list(loc)
    if union is not None and err["type"] not in ("value_error", "extra_forbidden", "missing"):
        shown = err.get("input")
        got = "" if isinstance(shown, (dict, list)) and len(repr(shown)) > 60 else f" (got {quoted(shown)})"
        path = ".".join(str(p) for p in loc)
        return f"{path}: must be {_describe(union)}{got}"
    path = ".".join(str(p) if re.fullmatch(r"[\w-]+", str(p)) else repr(p) for p in loc)
    kind = err["type"]
    if kind == "extra_forbidden":
        valid = _fields_at(loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), valid, n=1, cutoff=0.6)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        return f"{path}: unknown key{hint} (valid keys: {', '.join(valid)})" if valid else f"{path}: unknown key"
    if kind == "missing":
        return f"{path}: required key is missing"
    if kind in ("model_type", "model_attributes_type", "dict_type"):  # a number, text, list or true where a mapping goes
        shown = err.get("input")
        got = "" if isinstance(shown, (dict, list)) and len(repr(shown)) > 60 else f" (got {quoted(shown)})"
        return f"{path}: {_mapping_hint(loc)}{got}"
    if kind == "value_error":
        return str(err["ctx"]["error"])
    if kind == "string_pattern_mismatch" and err["ctx"].get("pattern") == NAME_PATTERN:
        return (
            f"{path}: use only letters, digits, '_', '.' and '-' (no spaces or slashes), "
            f"e.g. {quoted(re.sub(r'[^A-Za-z0-9_.-]+', '-', str(err.get('input'))).strip('-') or 'run')} (got {quoted(err.get('input'))})"
        )
    if kind in ("validation", "header"):
        return f"{path}: {err['msg']}"
    if kind in ("boolean_for_number", "keep_prob", "batch_norm"):
        return f"{path}: {err['msg']}"
    if kind == "string_too_long" and loc == ["name"]:
        return f"{path}: at most {MAX_NAME} characters, so that the run folder's name fits the file system; use a shorter name (got {len(err.get('input'))} characters)"
    msg = err["msg"].replace("Input should be", "must be")
    shown = err.get("input")
    if isinstance(shown, (dict, list)) and len(repr(shown)) > 60:
        return f"{path}: {msg}"
    return f"{path}: {msg} (got {quoted(shown)})"


def validate(raw, where: str) -> Spec:
    if not isinstance(raw, dict):
        got = "an empty file" if raw is None else f"a {type(raw).__name__}"
        raise ConfigError(f"{where}: the spec must be a YAML mapping with data, model and train sections (got {got})")
    try:
        return Spec.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors()
        # a misspelt required key shows once, as the misspelling, not again as "missing"
        hinted = {
            (*e["loc"][:-1], m)
            for e in errors
            if e["type"] == "extra_forbidden"
            for m in difflib.get_close_matches(str(e["loc"][-1]), _fields_at(e["loc"][:-1]), n=1, cutoff=0.6)
        }
        lines = [f"{where}: {_format_error(e)}" for e in errors if not (e["type"] == "missing" and tuple(e["loc"]) in hinted)]
        lines = list(dict.fromkeys(lines))  # a union's alternatives each fail: their one line, once
        raise ConfigError("\n".join(lines), lines=lines) from None


def read_config_text(path) -> str:
    """The spec's text, read once: a regular file, or a pipe such as /dev/stdin (`cat spec.yaml | nnctl train /dev/stdin`).

    A named pipe (FIFO), a device or a socket is refused before it is opened: opening one can block
    for ever. At most MAX_CONFIG_BYTES + 1 bytes are read.
    """
    path = Path(path)
    regular_file(
        path,
        ConfigError,
        pipe_ok=True,
        missing="{name}: no such config file",
        unreadable="{name}: cannot be read ({reason}); give a YAML config file",
        directory="{name}: is a directory; give a YAML config file such as configs/quickstart.yaml",
        other="{name}: is {kind}, not a regular file; give a YAML config file (or pipe the spec in: cat spec.yaml | nnctl train /dev/stdin)",
    )
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror}); give a YAML config file") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: the file is over {MAX_CONFIG_BYTES // 1024} KiB; a spec is a short YAML mapping")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: cannot be read as UTF-8 text ({exc})") from None


def spec_from_text(text: str, path, overrides=(), where: str | None = None) -> Spec:
    """Parse, override and validate a spec's text; `path` names it (unless `where` does: a spec that
    is no file, such as the one `--data TABLE` makes) and anchors its data paths."""
    path = Path(path)
    where = str(path) if where is None else where
    raw = parse_yaml(text, where)
    if overrides:
        if not isinstance(raw, dict):
            validate(raw, where)
        for assignment in overrides:
            apply_override(raw, assignment)
        where = f"{where} (with --set {' --set '.join(overrides)})"
    if isinstance(raw, dict) and "name" not in raw:
        raw["name"] = _default_name(path)
    spec = validate(raw, where)
    return spec.model_copy(update={"data": _absolute_data(spec.data, spec_folder(path))})


def read_from_stream(path) -> bool:
    """A spec that is no file of its own: `-`, /dev/stdin, /dev/fd/N, /proc/self/fd/N (a pipe, or a file
    redirected to stdin), or anything else that resolves to a pipe."""
    text = str(path)
    if text == "-" or text.startswith(("/dev/", "/proc/")):
        return True
    try:
        return "pipe:[" in os.path.realpath(path)
    except (OSError, ValueError):
        return False


def spec_folder(path) -> Path:
    """Where a spec's relative data paths are read from: its file's folder; for a spec read from stdin
    or a pipe, which has no folder of its own, the working folder."""
    return Path.cwd() if read_from_stream(path) else Path(path).parent


# `nnctl train --data TABLE` without a spec: every key not given here has its schema default.
# Chosen by measurement on eight real tables (docs/tables.md, benchmarks/bench_tabular.py).
TABLE_RECIPE: dict[str, dict[str, typing.Any]] = {
    "model": {"hidden": [100]},
    "train": {"optimizer": "adam", "learning_rate": 0.001, "batch_size": 32, "epochs": 200, "l2": 0.0001},
}
# A regression's target is standardised (data.normalize_target: auto), so the network fits it in few
# steps and then over-fits a small table: batches of 200 (scikit-learn's) for 100 epochs take 12x fewer.
REGRESSION_RECIPE: dict[str, dict[str, typing.Any]] = {"train": {"batch_size": 200, "epochs": 100}}


def table_spec_text(data: str, target: str | None, overrides=()) -> str:
    """The spec `nnctl train --data TABLE --target COLUMN` trains: the recipe, as YAML (spec.yaml).
    The task the run will train (model.task or data.target from `overrides`, the --set assignments, else
    what model.task: auto chooses from the table's target) picks the recipe's regression settings, so
    that spec.yaml repeats the run as it is; the overrides themselves are applied later, by the caller."""
    path = Path(data).expanduser().resolve()
    raw: dict[str, typing.Any] = {"name": _default_name(Path(data)), "data": {"train": str(path)}}
    if target is not None:
        raw["data"]["target"] = target
    raw.update({k: dict(v) for k, v in TABLE_RECIPE.items()})
    given: dict[str, typing.Any] = {"data": dict(raw["data"]), "model": {}}
    try:
        for assignment in overrides:
            apply_override(given, assignment)
    except ConfigError:
        pass  # refused, with its message, where the caller applies the overrides
    data_given: dict = given["data"] if isinstance(given.get("data"), dict) else {}
    model_given: dict = given["model"] if isinstance(given.get("model"), dict) else {}
    task = str(model_given.get("task") or "auto").lower()
    if task not in ("classification", "regression"):
        chosen = data_given.get("target")
        chosen = str(chosen) if isinstance(chosen, int) and not isinstance(chosen, bool) else chosen  # a numbered column, as DataSpec reads it
        header = data_given.get("header", "auto")
        header = {"true": True, "false": False}.get(str(header).lower(), header) if isinstance(header, str) else header
        task = table_task(path, chosen if isinstance(chosen, str) else target, header if header in (True, False) else "auto") or "classification"
    if task == "regression":
        for section, keys in REGRESSION_RECIPE.items():
            raw[section].update(keys)
    return yaml.dump(raw, Dumper=_SpecDumper, sort_keys=False, default_flow_style=False)


def table_task(path: Path, target: str | None, header="auto") -> str | None:
    """The task a table's target makes (None where the table or the target cannot be read: the run
    then reads it and says why, with the recipe's classification settings); `header`: data.header."""
    try:
        table = read_table(path, header)
    except (DataError, OSError):
        return None
    return Preprocessor.peek_task(table, target)


def data_overrides(data, target) -> list:
    """--data and --target as --set assignments (a path given on the command line is read from here)."""
    out = []
    if data is not None:
        out.append("data.train=" + json.dumps(str(Path(data).expanduser().resolve())))
    if target is not None:
        out.append("data.target=" + json.dumps(target))
    return out


def spec_from_mapping(raw, where: str = "spec", base=None) -> Spec:
    """A spec given as a Python mapping (nnctl.fit), validated as a file's is; its name defaults to
    "fit" and its data paths are read from `base` (default: the working directory)."""
    if isinstance(raw, dict) and "name" not in raw:
        raw = {**raw, "name": "fit"}
    spec = validate(raw, where)
    return spec.model_copy(update={"data": _absolute_data(spec.data, Path(base) if base is not None else Path.cwd())})


def load_config(path, overrides=()) -> Spec:
    """Read, override and validate a spec; data paths are made absolute from the config's folder."""
    return load_config_text(path, overrides)[0]


def load_config_text(path, overrides=()) -> tuple[Spec, str]:
    """(spec, the text it was read from): the file is read once, so a pipe gives both."""
    text = read_config_text(path)
    return spec_from_text(text, path, overrides), text


def _default_name(path: Path) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "-", path.stem) or "run"


def _absolute_data(data: DataSpec, base: Path) -> DataSpec:
    def fix(p):
        if not isinstance(p, str) or p.startswith((BUILTIN_PREFIX, ARRAY_PREFIX)):
            return p
        return str((base / Path(p).expanduser()).resolve())

    return data.model_copy(update={"train": fix(data.train), "test": fix(data.test), "validation": fix(data.validation)})


def spec_warnings(spec: Spec) -> list:
    """What a valid spec asks for that is likely not what its author wants (said, then done)."""
    out = []
    if spec.model.init == "zeros" and spec.model.depth > 1:
        out.append(
            "model.init: zeros with hidden layers: every hidden unit of a layer computes the same function and "
            "gets the same update, so they stay identical (symmetry is never broken); the network is no better "
            "than one unit per layer"
        )
    return out


class _SpecDumper(yaml.SafeDumper):
    """Block-style sections with lists inline: `layers: [12288, 20, 7, 5, 1]`."""


_SpecDumper.add_representer(list, lambda dumper, data: dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True))


def dump_spec(spec: Spec) -> str:
    """The spec as YAML, keys in schema order, so it can be trained again as it is."""
    raw = spec.model_dump(mode="json")
    if not is_table(spec.data.train):  # a spec of HDF5 data reads as it always did
        raw["data"] = {k: v for k, v in raw["data"].items() if k not in TABLE_KEYS}
    return yaml.dump(raw, Dumper=_SpecDumper, sort_keys=False, default_flow_style=False)
