"""The spec: each kind of bad config gives one exact line naming file, key path and fix."""

from __future__ import annotations

import pytest

from nnctl.spec.config import dump_spec, load_config, parse_yaml
from nnctl.errors import ConfigError

GOOD = """\
data:
  train: train.h5
model:
  hidden: [4]
train:
  learning_rate: 0.1
  iterations: 10
"""


def _write(tmp_path, text, name="spec.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _error(path, overrides=()):
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides)
    return str(info.value)


def test_defaults_and_paths(tmp_path):
    spec = load_config(_write(tmp_path, GOOD))
    assert spec.name == "spec"
    assert spec.data.train == str(tmp_path / "train.h5")  # relative to the config file
    assert spec.model.init == "xavier" and spec.train.seed == 1 and spec.train.dtype == "float64"
    assert spec.model.layer_activations == ["relu", "sigmoid"]
    assert spec.model.resolved_loss == "cross_entropy"
    assert spec.layer_dims(12) == [12, 4, 1]


def test_resolved_spec_round_trips(tmp_path):
    spec = load_config(_write(tmp_path, GOOD))
    resolved = spec.resolved([12, 4, 1])
    again = load_config(_write(tmp_path, dump_spec(resolved), "resolved.yaml"))
    assert again == resolved
    assert again.model.layers == [12, 4, 1] and again.model.activations == ["relu", "sigmoid"]


def test_linear_output_means_mse(tmp_path):
    spec = load_config(_write(tmp_path, GOOD), ["model.output_activation=linear"])
    assert spec.model.resolved_loss == "mse" and spec.model.resolved_task == "regression"


def test_set_overrides(tmp_path):
    spec = load_config(_write(tmp_path, GOOD), ["train.learning_rate=0.01", "model.hidden=[5, 3]", "name=other"])
    assert spec.train.learning_rate == 0.01 and spec.model.hidden == [5, 3] and spec.name == "other"


@pytest.mark.parametrize(
    "override,message",
    [
        (
            "train.learing_rate=0.1",
            "train.learing_rate: unknown key; did you mean 'learning_rate'? "
            "(valid keys: learning_rate, iterations, seed, record_every, dtype, checkpoint_every, blas_threads, device, fused, first_layer, "
            "epochs, batch_size, shuffle, optimizer, beta, beta1, beta2, epsilon, decay, decay_rate, time_interval, one_cycle_warmup, one_cycle_div, one_cycle_final_div, l2, keep_prob, dropout_masks, early_stopping)",
        ),
        ("train.learning_rate=0", "train.learning_rate: must be greater than 0 (got 0)"),
        ("train.learning_rate=-1", "train.learning_rate: must be greater than 0 (got -1)"),
        (
            "train.learning_rate=fast",
            "train.learning_rate: must be a valid number, unable to parse string as a number (got 'fast')",
        ),
        ("train.iterations=0", "train.iterations: must be greater than or equal to 1 (got 0)"),
        ("train.iterations=2.5", "train.iterations: must be a valid integer, got a number with a fractional part (got 2.5)"),
        (
            "model.hidden_activation=relux",
            "model.hidden_activation: must be 'sigmoid', 'tanh', 'relu', 'leaky_relu', 'linear' or 'softmax' (got 'relux')",
        ),
        ("model.hidden=[4, 0]", "model.hidden.1: must be greater than 0 (got 0)"),
        ("model.init=uniform", "model.init: must be 'normal', 'xavier', 'he' or 'zeros' (got 'uniform')"),
        (
            "model.init=zeros",
            "model.init: 'zeros' makes every hidden unit compute the same function, so they never become "
            "different (symmetry is not broken); use xavier, he or normal, or no hidden layers "
            "(or model.allow_symmetry: true to watch it happen, as the course's Initialization notebook does)",
        ),
        ("model.activations=[relu]", "model.activations: the network has 2 layers, so give 2 activations (got 1)"),
        ("train.dtype=float16", "train.dtype: must be 'float64' or 'float32' (got 'float16')"),
        ("modle.hidden=[3]", "modle: unknown key; did you mean 'model'? (valid keys: name, data, model, train, runs_dir, sweep, search)"),
        ("train.seed=-1", "train.seed: must be greater than or equal to 0 (got -1)"),
    ],
)
def test_bad_values_one_line(tmp_path, override, message):
    path = _write(tmp_path, GOOD)
    assert _error(path, [override]) == f"{path} (with --set {override}): {message}"


def test_cross_entropy_needs_sigmoid(tmp_path):
    path = _write(tmp_path, GOOD)
    msg = _error(path, ["model.output_activation=tanh", "model.loss=cross_entropy"])
    assert msg.endswith("model.loss: cross_entropy needs a sigmoid output (got tanh); use output_activation: sigmoid, or loss: mse")


def test_layers_ending_in_k_pick_a_softmax_head(tmp_path):
    """model.layers ending in k units with the head left automatic is a softmax of k units (issue 19)."""
    path = _write(tmp_path, GOOD.replace("hidden: [4]", "layers: [12, 4, 3]"))
    spec = load_config(path)
    assert spec.model.layer_activations == ["relu", "softmax"] and spec.model.resolved_loss == "categorical_cross_entropy"
    assert spec.layer_dims(12, 3) == [12, 4, 3]


def test_sigmoid_output_layer_must_be_one_unit(tmp_path):
    path = _write(tmp_path, GOOD.replace("hidden: [4]", "layers: [12, 4, 2]\n  output_activation: sigmoid"))
    assert _error(path) == (
        f"{path}: model.layers: a sigmoid output has 1 unit (got 2); end model.layers with 1, "
        "or leave output_activation out (or use softmax) for one unit per class"
    )


def test_zeros_allowed_for_logistic_regression(tmp_path):
    spec = load_config(_write(tmp_path, GOOD), ["model.hidden=[]", "model.init=zeros"])
    assert spec.model.depth == 1


def test_sweep_block_checked_like_the_rest(tmp_path):
    path = _write(tmp_path, GOOD + "sweep:\n  hidden_layer: [1, 2]\n")
    assert _error(path) == (f"{path}: sweep.hidden_layer: unknown key; did you mean 'hidden_layers'? (valid keys: hidden_layers, width, hidden, grid)")


def test_missing_section(tmp_path):
    path = _write(tmp_path, "model: {hidden: [3]}\n")
    assert _error(path) == f"{path}: data: required key is missing"


def test_train_section_defaults(tmp_path):
    """Every train key has a default: the optimizer's learning rate, 200 epochs (full batch unless batch_size)."""
    spec = load_config(_write(tmp_path, "data: {train: x.h5}\n"))
    assert (spec.train.optimizer, spec.train.learning_rate, spec.train.epochs, spec.train.iterations) == ("gd", 0.1, 200, None)
    spec = load_config(_write(tmp_path, "data: {train: x.h5}\ntrain: {optimizer: rmsprop, iterations: 7}\n"))
    assert (spec.train.learning_rate, spec.train.epochs, spec.train.iterations) == (0.001, None, 7)


@pytest.mark.parametrize(
    "text,problem",
    [
        ("- 1\n- 2\n", "the spec must be a YAML mapping with data, model and train sections (got a list)"),
        ("", "the spec must be a YAML mapping with data, model and train sections (got an empty file)"),
        ("just words\n", "the spec must be a YAML mapping with data, model and train sections (got a str)"),
        ("a: 1\na: 2\n", "line 2: not valid YAML: duplicate key 'a'; keep one"),
        ("data: [\n", "line 2: not valid YAML: expected the node content, but found '<stream end>'"),
    ],
)
def test_bad_yaml(tmp_path, text, problem):
    path = _write(tmp_path, text)
    assert _error(path) == f"{path}: {problem}"


def test_missing_file_and_directory(tmp_path):
    assert _error(tmp_path / "nope.yaml") == f"{tmp_path / 'nope.yaml'}: no such config file"
    assert _error(tmp_path) == f"{tmp_path}: is a directory; give a YAML config file such as configs/quickstart.yaml"


def test_bad_set_syntax(tmp_path):
    assert _error(_write(tmp_path, GOOD), ["noequals"]) == "--set noequals: expected key.path=value, e.g. --set train.learning_rate=0.01"


def test_alias_bomb_refused():
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(12))
    with pytest.raises(ConfigError, match="too many YAML aliases"):
        parse_yaml(bomb, "bomb.yaml")


def test_huge_document_refused():
    with pytest.raises(ConfigError, match="over 1024 KiB"):
        parse_yaml("a: " + "x" * (1 << 20) + "\n", "huge.yaml")


def test_every_shipped_config_is_valid():
    from conftest import REPO

    configs = sorted((REPO / "configs").glob("*.yaml"))
    assert {p.stem for p in configs} >= {"quickstart", "cat-logreg", "cat-2layer", "cat-deep", "pets"}
    for path in configs:
        spec = load_config(path)
        assert spec.name == path.stem


def test_numbers_are_numbers_and_finite_but_yaml_exponents_still_floats(tmp_path):
    """`iterations: true` was read as 1 and `.inf` accepted; `1e-3` (a YAML float) and ints for
    floats still pass."""
    from nnctl.spec.config import spec_from_text
    from nnctl.errors import ConfigError

    base = "data: {train: builtin:planar}\nmodel: {hidden: [3]}\n"
    spec = spec_from_text(base + "train: {learning_rate: 1e-3, iterations: 5, l2: 1, keep_prob: [1]}\n", tmp_path / "c.yaml", [])
    assert spec.train.learning_rate == 0.001 and spec.train.l2 == 1.0 and spec.train.iterations == 5
    for bad, said in (
        ("learning_rate: 1, iterations: true", "train.iterations: must be a whole number, not a boolean (got true)"),
        ("learning_rate: -.inf, iterations: 5", "train.learning_rate: must be a finite number (got -inf)"),
        ("learning_rate: 1, iterations: 5, beta1: .nan", "train.beta1: must be a finite number (got nan)"),
        ("learning_rate: 1, iterations: 5, keep_prob: 0", "train.keep_prob: must be a number in (0, 1] or a list of them"),
    ):
        with pytest.raises(ConfigError) as err:
            spec_from_text(base + "train: {" + bad + "}\n", tmp_path / "c.yaml", [])
        assert len(str(err.value).splitlines()) == 1 and said in str(err.value), str(err.value)


# ---------------------------------------------------------------- issue 20 round 7: union-typed keys


@pytest.mark.parametrize("value", ["0", "1.5", "[1]", "true", "-0.5", ".nan", "{a: 1}"])
def test_validation_key_says_what_it_accepts_once(tmp_path, value):
    path = _write(tmp_path, GOOD)
    override = f"data.validation={value}"
    shown = {"true": "true", ".nan": "nan", "{a: 1}": "{'a': 1}"}.get(value, value)
    assert _error(path, [override]) == (f"{path} (with --set {override}): data.validation: a fraction between 0 and 1 (exclusive) or a file name (got {shown})")


def _union_keys():
    """Every spec key whose type is a union of several types (Optional[X] aside), as key paths."""
    import types
    import typing

    from pydantic import BaseModel

    from nnctl.spec.config import Spec

    def _unwrap(ann):
        while True:
            if typing.get_origin(ann) is typing.Annotated:
                ann = typing.get_args(ann)[0]
                continue
            args = [a for a in typing.get_args(ann) if a is not type(None)]
            if typing.get_origin(ann) in (typing.Union, types.UnionType) and len(args) == 1:
                ann = args[0]
                continue
            return ann

    out = []

    def walk(model, prefix):
        for name, field in model.model_fields.items():
            ann = _unwrap(field.annotation)
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                walk(ann, prefix + [name])
            elif typing.get_origin(ann) in (typing.Union, types.UnionType):
                out.append(".".join(prefix + [name]))

    walk(Spec, [])
    return out


def test_every_union_key_gives_one_clean_line_per_bad_value(tmp_path):
    """No pydantic tag for a union's alternative ('constrained-float', 'function-after[...]', 'list[...]')
    reaches the user, and a bad value of a union key is one line, not one per alternative."""
    keys = _union_keys()
    assert {"data.validation", "model.batch_norm", "train.keep_prob"} <= set(keys)
    path = _write(tmp_path, GOOD)
    for key in keys:
        for value in ("0", "-1", "1.5", "[1.5]", "[[1]]", "{a: 1}", "[]", "'x'", "[x]"):
            try:
                load_config(path, [f"{key}={value}"])
                continue  # a value the key accepts
            except ConfigError as exc:
                lines = str(exc).splitlines()
            assert len(lines) == 1, (key, value, lines)
            said = lines[0].split("): ", 1)[1]
            assert said.startswith(key + ": ") or said.startswith("model.batch_norm: layer"), (key, value, said)
            for tag in ("constrained-", "function-", "tagged-union", "list[", "json-or-python", "lax-", "nullable"):
                assert tag not in said.split(" (got")[0], (key, value, said)


def test_the_general_union_message_names_the_alternatives():
    """A union key without a message of its own: the location without pydantic's tags, what it accepts, once."""
    from nnctl.spec.config import _format_error, _user_loc

    assert _user_loc(("data", "validation", "constrained-float"))[0] == ("data", "validation")
    assert _user_loc(("train", "keep_prob", "list[constrained-float]", 2))[0] == ("train", "keep_prob", 2)
    assert _user_loc(("sweep", "grid", "list[int]"))[0] == ("sweep", "grid", "list[int]")  # a grid's key is the user's own
    err = {"loc": ("data", "validation", "constrained-float"), "type": "greater_than", "msg": "Input should be greater than 0", "input": 0}
    assert _format_error(err) == "data.validation: must be a number greater than 0 and less than 1 or text (got 0)"
