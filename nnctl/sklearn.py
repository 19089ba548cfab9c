"""scikit-learn estimators over nnctl: `NNClassifier` and `NNRegressor`.

A thin layer: the keyword arguments become a spec (the names mirror its keys), `fit` hands the
arrays to the same `experiment.train_run` as `nnctl train` and `nnctl.fit`, and the trained
`nnctl.Model` is kept in `model_`. scikit-learn's contract: `__init__` stores the arguments
unchanged, `fit` validates and returns self, learned state ends in `_`. Needs the optional
extra: pip install 'nnctl[sklearn]'.

    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from nnctl.sklearn import NNClassifier
    clf = make_pipeline(StandardScaler(), NNClassifier(hidden=(32,), epochs=100)).fit(X, y)
"""

from __future__ import annotations

import copy
import numbers
import re

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.utils import check_random_state
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("nnctl.sklearn needs scikit-learn: pip install 'nnctl[sklearn]'") from exc

from nnctl.api import TRAIN_ARRAYS, Model, train_model
from nnctl.spec.config import MAX_SEED, spec_from_mapping
from nnctl.errors import Interrupted, NnctlError
from nnctl.util.text import visible

__all__ = ["NNClassifier", "NNRegressor"]

# keyword argument -> (section, spec key); the spec is built from this table, nothing else names them
KEYWORDS = {
    "hidden": ("model", "hidden"),
    "activation": ("model", "hidden_activation"),
    "init": ("model", "init"),
    "normalize": ("data", "normalize"),
    "optimizer": ("train", "optimizer"),
    "learning_rate": ("train", "learning_rate"),
    "epochs": ("train", "epochs"),
    "batch_size": ("train", "batch_size"),
    "shuffle": ("train", "shuffle"),
    "l2": ("train", "l2"),
    "keep_prob": ("train", "keep_prob"),
    "momentum": ("train", "beta"),
    "beta1": ("train", "beta1"),
    "beta2": ("train", "beta2"),
    "epsilon": ("train", "epsilon"),
    "blas_threads": ("train", "blas_threads"),
}

# spec keys the estimator sets itself, or that would contradict it, refused in `spec` before training:
# (section, key) -> what to do instead. Those of KEYWORDS are refused too, naming their argument.
SET_BY_ESTIMATOR = {
    ("data", "train"): "X and y are the training data",
    ("data", "validation"): "use early_stopping=True with validation_fraction=...",
    ("train", "early_stopping"): "use early_stopping=True with patience=...",
    ("train", "seed"): "it follows random_state",
    ("train", "dtype"): "it follows X (float32 or float64)",
    ("train", "iterations"): "use epochs=...",
    ("train", "record_every"): "the cost is recorded every epoch (loss_curve_)",
    ("model", "task"): "{name} fixes the task ({task})",
    ("model", "output_activation"): "{name} fixes the output layer ({output})",
    ("model", "activations"): "use activation=... for the hidden layers; {name} fixes the output layer ({output})",
    ("model", "loss"): "{name} fixes the loss ({loss})",
    ("model", "layers"): "use hidden=...; the input and output sizes follow X and y",
}
SECTIONS = ("data", "model", "train")  # what `spec` may hold; name, runs_dir, sweep and search are not an estimator's

# a message of nnctl's naming a spec key the user set through an argument names the argument instead
ARGUMENT_OF = {f"{section}.{key}": keyword for keyword, (section, key) in KEYWORDS.items()}
ARGUMENT_OF.update({"data.validation": "validation_fraction", "train.early_stopping.patience": "patience"})


class _NNBase(BaseEstimator):
    """What the classifier and the regressor share: the spec they build and the fit around train_run."""

    _output: dict = {}  # the model keys the subclass fixes (the regressor's linear output)
    _fixed = {"task": "classification", "output": "sigmoid for two classes, softmax for more", "loss": "cross-entropy"}

    def __init__(
        self,
        hidden=(100,),
        activation="relu",
        optimizer="adam",
        learning_rate=0.001,
        epochs=200,
        batch_size=200,
        l2=0.0001,
        keep_prob=1.0,
        init="xavier",
        normalize="auto",
        early_stopping=False,
        validation_fraction=0.1,
        patience=10,
        momentum=0.9,
        beta1=0.9,
        beta2=0.999,
        epsilon=1e-8,
        shuffle="generator",
        blas_threads=None,
        random_state=None,
        spec=None,
        verbose=False,
    ):
        self.hidden = hidden
        self.activation = activation
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.l2 = l2
        self.keep_prob = keep_prob
        self.init = init
        self.normalize = normalize
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.momentum = momentum
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.shuffle = shuffle
        self.blas_threads = blas_threads
        self.random_state = random_state
        self.spec = spec
        self.verbose = verbose

    # ------------------------------------------------------------ the spec

    def _seed(self) -> int:
        """random_state as the spec's seed: an int is the seed itself (the same run as `nnctl train`
        with train.seed), None or a RandomState draws one, as scikit-learn's estimators do."""
        rs = self.random_state
        if isinstance(rs, numbers.Integral) and not isinstance(rs, bool):
            return int(rs)
        return int(check_random_state(rs).randint(0, MAX_SEED))

    def spec_dict(self, dtype=np.float64) -> dict:
        """The nnctl spec these arguments mean, as the YAML's sections (data.train names the arrays).
        A key of `spec` that an argument sets, or that contradicts the estimator (its task, output,
        loss, seed, dtype, data), is refused here, before anything is trained."""
        raw: dict = {"name": type(self).__name__, "data": {"train": TRAIN_ARRAYS}, "model": dict(self._output), "train": {}}
        for keyword, (section, key) in KEYWORDS.items():
            value = getattr(self, keyword)
            if keyword == "hidden" and isinstance(value, numbers.Integral) and not isinstance(value, bool):
                value = [int(value)]  # one hidden layer, as MLPClassifier's hidden_layer_sizes=8
            raw[section][key] = list(value) if isinstance(value, (tuple, np.ndarray)) else value
        raw["train"].update(seed=self._seed(), dtype=np.dtype(dtype).name, record_every=1)
        if self.early_stopping:
            raw["data"]["validation"] = self.validation_fraction
            raw["train"]["early_stopping"] = {"monitor": "validation_cost", "patience": self.patience}
        name = type(self).__name__
        spec = self.spec if self.spec is not None else {}
        if not isinstance(spec, dict):
            raise ValueError(f"spec: expected a dict of sections, e.g. spec={{'train': {{'decay': 'inverse_time'}}}} (got {type(spec).__name__})")
        for section, keys in spec.items():
            if section not in SECTIONS:
                raise ValueError(
                    f"spec: {section}: not a section {name} takes; give keys of data, model or train, e.g. spec={{'train': {{'decay': 'inverse_time'}}}}"
                )
            if not isinstance(keys, dict):
                raise ValueError(f"spec: {section}: expected a section of keys, e.g. spec={{'train': {{'decay': 'inverse_time'}}}}")
            for key, value in keys.items():
                given = next((k for k, sk in KEYWORDS.items() if sk == (section, key)), None)
                if given is not None:
                    raise ValueError(f"spec: {section}.{key} is set by the estimator; use {name}({given}=...)")
                fix = SET_BY_ESTIMATOR.get((section, key))
                if fix is not None:
                    raise ValueError(f"spec: {section}.{key} is set by the estimator; {fix.format(name=name, **self._fixed)}")
                raw.setdefault(section, {})[key] = copy.deepcopy(value)
        return raw

    # ------------------------------------------------------------ fit

    def _train(self, X, labels, names) -> Model:
        """train_run on X (m, n_x) and its labels; nnctl's errors as scikit-learn's ValueError, naming
        the argument where the user set the key through one (batch_size, validation_fraction)."""
        try:
            spec = spec_from_mapping(self.spec_dict(X.dtype), f"{type(self).__name__}")
            return train_model(spec, None, {TRAIN_ARRAYS: (X, labels, names, self._feature_names())}, quiet=not self.verbose)
        except Interrupted:
            raise
        except NnctlError as exc:
            raise ValueError(visible(self._in_arguments(str(exc)))) from None  # outside text escaped, as nnctl.fit's errors

    def _feature_names(self) -> list | None:
        """feature_names_in_ (validate_data set it for a DataFrame of text column names), kept in the run."""
        names = getattr(self, "feature_names_in_", None)
        return None if names is None else [str(n) for n in names]

    def _in_arguments(self, message: str) -> str:
        """nnctl's message for the estimator's user: the arrays' name left out, a spec key that an
        argument sets named as the argument (`train.batch_size` -> `batch_size`)."""
        message = re.sub(rf"^{re.escape(TRAIN_ARRAYS)}(?: \([^)]*\))?: ", "", message)
        for key, argument in ARGUMENT_OF.items():
            message = re.sub(rf"\buse {re.escape(key)}: ", f"use {argument}=", message)
            message = re.sub(rf"(?<![\w.]){re.escape(key)}(?![\w.])", argument, message)
        return message.replace(", or give a validation file", "")

    def _learned(self, model: Model) -> None:
        """What fit learned, as scikit-learn names it. model_ is kept first: nothing computed after it
        can lose a finished training."""
        self.model_ = model
        self.n_iter_ = int(model.metrics.get("epochs") or 0)
        self.loss_ = model.metrics.get("final_cost")
        self.loss_curve_ = [cost for _, cost in model.history]
        # (n[l-1], n[l]), scikit-learn's layout; a batch-normalised layer folded into its inference-time affine map
        layers = model.affine_layers()
        self.coefs_ = [W.T for W, _ in layers]
        self.intercepts_ = [b.ravel() for _, b in layers]

    def _rows(self, X):
        check_is_fitted(self, "model_")
        return validate_data(self, X, reset=False, dtype=(np.float64, np.float32))


class NNClassifier(ClassifierMixin, _NNBase):
    """A fully-connected classifier trained by nnctl: a sigmoid output for two classes, softmax for more.

    Keyword arguments mirror the spec: hidden (model.hidden), activation (model.hidden_activation),
    optimizer, learning_rate, epochs, batch_size (None: the full batch), l2, keep_prob, momentum
    (train.beta), beta1, beta2, epsilon, shuffle, init, normalize (data.normalize), blas_threads
    (1 is often much faster for small networks on a busy machine: see docs/api.md),
    early_stopping with validation_fraction and patience (data.validation and
    train.early_stopping), random_state (train.seed), and spec: any other keys, e.g.
    spec={"train": {"decay": "inverse_time", "decay_rate": 0.1}}. The training dtype follows X
    (float32 or float64). Classes may be any labels numpy can sort (text, numbers).

    Learned: classes_, n_features_in_ (feature_names_in_ for a DataFrame, also kept in the run),
    model_ (the nnctl.Model), n_iter_ (epochs run), loss_, loss_curve_ (the cost at each epoch),
    coefs_ and intercepts_ (a batch-normalised layer folded into its inference-time W and b).
    hidden may be an int (one hidden layer). spec may not set what the estimator sets (model.task,
    output_activation, activations, loss, layers; data.validation; train.seed, dtype, iterations,
    record_every, early_stopping): fit refuses those before training.
    """

    def fit(self, X, y):
        X, y = validate_data(self, X, y, dtype=(np.float64, np.float32))
        check_classification_targets(y)
        classes, labels = np.unique(y, return_inverse=True)
        if classes.size < 2:
            raise ValueError(f"{type(self).__name__}: y has 1 class ({classes.tolist()[0]!r}); a classifier needs examples of at least 2 classes")
        self.classes_ = classes
        self._learned(self._train(X, labels.ravel(), [str(c) for c in classes]))
        self.model_.classes = classes  # model_.predict gives classes_ as y held them (ints, bools), not their names
        return self

    def predict(self, X):
        """The predicted class of each row of X (m,), one of classes_."""
        X = self._rows(X)
        return self.classes_[self.model_.predict_labels(X)]

    def predict_proba(self, X):
        """(m, k): the probability of each class, columns in the order of classes_."""
        X = self._rows(X)
        return self.model_.predict_proba(X)

    def predict_log_proba(self, X):
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))


class NNRegressor(RegressorMixin, _NNBase):
    """A fully-connected regressor trained by nnctl: a linear output and the mean squared error.

    The same keyword arguments as NNClassifier; y is one target per row. It is standardised for
    training with its training rows' mean and std (data.normalize_target: auto, what
    TransformedTargetRegressor(transformer=StandardScaler()) would do) and predict turns the outputs
    back, so y of any offset and scale trains with the defaults; spec={"data": {"normalize_target":
    "none"}} trains on y as given. Learned: n_features_in_, model_, n_iter_, loss_ and loss_curve_
    (the cost, in standardised units where y was standardised), coefs_, intercepts_ (the network's:
    its output is the standardised target; model_.metrics["normalize_target"] holds the mean and std).
    """

    _output = {"output_activation": "linear"}
    _fixed = {"task": "regression", "output": "linear", "loss": "mean squared error"}

    def fit(self, X, y):
        X, y = validate_data(self, X, y, dtype=(np.float64, np.float32), y_numeric=True)
        self._learned(self._train(X, y.astype(np.float64, copy=False), []))
        return self

    def predict(self, X):
        """The predicted value of each row of X (m,)."""
        X = self._rows(X)
        return self.model_.predict_labels(X)
