"""The experiment spec: a declarative pydantic schema, one YAML loader, one exception type.

`load_config(path, overrides)` returns a valid `Spec` or raises `ConfigError` whose lines read
`configs/x.yaml: model.hidden.1: Input should be greater than 0 (got 0)`.
"""

from __future__ import annotations

import difflib
import os
import re
import stat
import typing
from pathlib import Path
from typing import Annotated, Literal, Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from nnctl.activations import ACTIVATION_NAMES
from nnctl.data import BUILTIN_PREFIX, file_kind, is_anonymous_pipe, parse_builtin
from nnctl.errors import ConfigError, DataError

ActivationName = Literal[ACTIVATION_NAMES]  # the valid names come from the activation table
LayerSize = Annotated[int, Field(gt=0)]
MAX_CONFIG_BYTES = 1 << 20
MAX_YAML_NODES = 100_000  # values in the document once every alias is expanded
MAX_YAML_DEPTH = 64  # sections and lists inside one another
MAX_SEED = 2**32 - 1  # np.random.seed and RandomState take 0 .. 2**32 - 1
NAME_PATTERN = r"^[A-Za-z0-9_.-]+$"


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DataSpec(_Strict):
    train: str = Field(min_length=1, description="HDF5 file (relative to the config file) or builtin:NAME")
    test: Optional[str] = Field(None, min_length=1)

    @model_validator(mode="after")
    def _check_builtin(self):
        for key in ("train", "test"):
            source = getattr(self, key)
            if source is not None and source.startswith(BUILTIN_PREFIX):
                try:
                    parse_builtin(source)
                except DataError as exc:
                    raise ValueError(f"data.{key}: {exc}") from None
        return self


class ModelSpec(_Strict):
    layers: Optional[list[LayerSize]] = Field(None, min_length=2, description="full list [n_x, ..., 1]")
    hidden: Optional[list[LayerSize]] = Field(None, description="hidden sizes only; n_x and 1 from the data")
    hidden_activation: ActivationName = "relu"
    output_activation: ActivationName = "sigmoid"
    activations: Optional[list[ActivationName]] = Field(None, description="one per layer, overrides the two above")
    init: Literal["normal", "xavier", "he", "zeros"] = "xavier"
    init_scale: float = Field(0.01, gt=0, description="multiplier for init: normal")
    init_rng: Literal["generator", "legacy"] = Field(
        "generator", description="legacy: np.random.seed(seed) + one randn per layer, as the course"
    )
    loss: Literal["auto", "cross_entropy", "mse"] = "auto"

    @model_validator(mode="after")
    def _check(self):
        if self.layers is not None and self.hidden is not None:
            raise ValueError("give either model.layers (the full list) or model.hidden (hidden sizes only), not both")
        L = self.depth
        if self.activations is not None and len(self.activations) != L:
            raise ValueError(f"model.activations: the network has {L} layers, so give {L} activations (got {len(self.activations)})")
        if self.init == "zeros" and L > 1:
            raise ValueError(
                "model.init: 'zeros' makes every hidden unit compute the same function, so they never "
                "become different (symmetry is not broken); use xavier, he or normal, or no hidden layers"
            )
        if self.layers is not None and self.layers[-1] != 1:
            raise ValueError(f"model.layers: the output layer must have 1 unit (got {self.layers[-1]})")
        if self.resolved_loss == "cross_entropy" and self.layer_activations[-1] != "sigmoid":
            raise ValueError(
                f"model.loss: cross_entropy needs a sigmoid output (got {self.layer_activations[-1]}); "
                "use output_activation: sigmoid, or loss: mse"
            )
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
    def layer_activations(self) -> list:
        if self.activations is not None:
            return list(self.activations)
        return [self.hidden_activation] * (self.depth - 1) + [self.output_activation]

    @property
    def resolved_loss(self) -> str:
        if self.loss != "auto":
            return self.loss
        out = self.activations[-1] if self.activations else self.output_activation
        return "cross_entropy" if out == "sigmoid" else "mse"

    @property
    def task(self) -> str:
        return "classification" if self.resolved_loss == "cross_entropy" else "regression"


class TrainSpec(_Strict):
    learning_rate: float = Field(gt=0)
    iterations: int = Field(ge=1)
    seed: int = Field(1, ge=0, le=MAX_SEED)
    record_every: int = Field(100, ge=1, description="record the cost every N iterations")
    dtype: Literal["float64", "float32"] = "float64"
    checkpoint_every: int = Field(1000, ge=1, description="save a resumable checkpoint every N iterations")
    blas_threads: Optional[int] = Field(
        None, ge=1, description="BLAS threads; bit-identical results need the same count (default: all cores)"
    )
    first_layer: Literal["auto", "primal", "dual"] = Field(
        "auto", description="dual: W1 = W1_0 + C X^T through the Gram matrix; auto picks it when m < n_x"
    )


class SweepSpec(_Strict):
    """What `nnctl sweep` varies; `nnctl train` ignores it."""

    hidden_layers: Optional[list[Annotated[int, Field(ge=0)]]] = Field(None, description="hidden-layer counts")
    width: Optional[LayerSize] = Field(None, description="units in each hidden layer, for hidden_layers")
    hidden: Optional[list[list[LayerSize]]] = Field(None, description="explicit hidden stacks")
    grid: dict[str, list] = Field(default_factory=dict, description="key.path: [values]; the product is swept")


class Spec(_Strict):
    name: Optional[str] = Field(None, pattern=NAME_PATTERN, description="default: the config file's name")
    data: DataSpec
    model: ModelSpec = ModelSpec()
    train: TrainSpec
    runs_dir: str = Field("runs", min_length=1, description="relative to the working directory")
    sweep: Optional[SweepSpec] = None

    def layer_dims(self, n_x: int) -> list:
        if self.model.layers is not None:
            return list(self.model.layers)
        return [n_x, *(self.model.hidden or []), 1]

    def resolved(self, layer_dims) -> "Spec":
        """The spec with every choice made explicit: layers, one activation per layer, the loss."""
        model = self.model.model_copy(
            update={
                "layers": list(layer_dims),
                "hidden": None,
                "activations": self.model.layer_activations,
                "loss": self.model.resolved_loss,
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
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}; keep one", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
# YAML 1.1 reads 1e-3 as a string; a learning rate written that way should be a number
_UniqueKeyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789")
)


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
        raise _Bounded(
            f"too many YAML aliases: the document expands to over {MAX_YAML_NODES:,} values; write the values out"
        )
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


_UniqueKeyLoader.compose_node = _compose_node
_UniqueKeyLoader.get_single_node = _get_single_node


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
        problem = getattr(exc, "problem", None) or str(exc)
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


_ALTERNATIVES = {("model", "hidden"): "layers", ("model", "layers"): "hidden"}


def _fields_at(loc) -> list:
    model = Spec
    for part in loc:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        ann = getattr(field, "annotation", None)
        ann = next((a for a in typing.get_args(ann) if a is not type(None)), ann)  # Optional[X] -> X
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            model = ann
        else:
            return []
    return list(model.model_fields)


def _format_error(err) -> str:
    loc = list(err["loc"])
    path = ".".join(str(p) if re.fullmatch(r"[\w-]+", str(p)) else repr(p) for p in loc)
    kind = err["type"]
    if kind == "extra_forbidden":
        valid = _fields_at(loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), valid, n=1, cutoff=0.6)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        return f"{path}: unknown key{hint} (valid keys: {', '.join(valid)})" if valid else f"{path}: unknown key"
    if kind == "missing":
        return f"{path}: required key is missing"
    if kind == "value_error":
        return str(err["ctx"]["error"])
    if kind == "string_pattern_mismatch" and err["ctx"].get("pattern") == NAME_PATTERN:
        return (
            f"{path}: use only letters, digits, '_', '.' and '-' (no spaces or slashes), "
            f"e.g. {re.sub(r'[^A-Za-z0-9_.-]+', '-', str(err.get('input'))).strip('-') or 'run'!r} (got {err.get('input')!r})"
        )
    msg = err["msg"].replace("Input should be", "must be")
    shown = err.get("input")
    if isinstance(shown, (dict, list)) and len(repr(shown)) > 60:
        return f"{path}: {msg}"
    return f"{path}: {msg} (got {shown!r})"


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
        raise ConfigError("\n".join(lines)) from None


def read_config_text(path) -> str:
    """The spec's text, read once: a regular file, or a pipe such as /dev/stdin (`cat spec.yaml | nnctl train /dev/stdin`).

    A named pipe (FIFO), a device or a socket is refused before it is opened: opening one can block
    for ever. At most MAX_CONFIG_BYTES + 1 bytes are read.
    """
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror}); give a YAML config file") from None
    if stat.S_ISDIR(st.st_mode):
        raise ConfigError(f"{path}: is a directory; give a YAML config file such as configs/quickstart.yaml")
    if not stat.S_ISREG(st.st_mode) and not is_anonymous_pipe(path, st):
        raise ConfigError(
            f"{path}: is {file_kind(st)}, not a regular file; give a YAML config file "
            "(or pipe the spec in: cat spec.yaml | nnctl train /dev/stdin)"
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


def spec_from_text(text: str, path, overrides=()) -> Spec:
    """Parse, override and validate a spec's text; `path` names it and anchors its data paths."""
    path = Path(path)
    where = str(path)
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
    # a spec piped in (/dev/stdin, /dev/fd/N) has no folder of its own: its data paths are read from here
    base = Path.cwd() if "pipe:[" in os.path.realpath(path) else path.parent
    return spec.model_copy(update={"data": _absolute_data(spec.data, base)})


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
        if p is None or p.startswith(BUILTIN_PREFIX):
            return p
        return str((base / Path(p).expanduser()).resolve())

    return data.model_copy(update={"train": fix(data.train), "test": fix(data.test)})


class _SpecDumper(yaml.SafeDumper):
    """Block-style sections with lists inline: `layers: [12288, 20, 7, 5, 1]`."""


_SpecDumper.add_representer(
    list, lambda dumper, data: dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True)
)


def dump_spec(spec: Spec) -> str:
    """The spec as YAML, keys in schema order, so it can be trained again as it is."""
    return yaml.dump(spec.model_dump(mode="json"), Dumper=_SpecDumper, sort_keys=False, default_flow_style=False)
