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


class _NNBase(BaseEstimator):
    """What the classifier and the regressor share: the spec they build and the fit around train_run."""

    _output: dict = {}  # the model keys the subclass fixes (the regressor's linear output)

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
        """The nnctl spec these arguments mean, as the YAML's sections (data.train names the arrays)."""
        raw: dict = {"name": type(self).__name__, "data": {"train": TRAIN_ARRAYS}, "model": dict(self._output), "train": {}}
        for keyword, (section, key) in KEYWORDS.items():
            value = getattr(self, keyword)
            raw[section][key] = list(value) if isinstance(value, tuple) else value
        raw["train"].update(seed=self._seed(), dtype=np.dtype(dtype).name, record_every=1)
        if self.early_stopping:
            raw["data"]["validation"] = self.validation_fraction
            raw["train"]["early_stopping"] = {"monitor": "validation_cost", "patience": self.patience}
        for section, keys in (self.spec or {}).items():
            if not isinstance(keys, dict):
                raise ValueError(f"spec: {section}: expected a section of keys, e.g. spec={{'train': {{'decay': 'inverse_time'}}}}")
            for key, value in keys.items():
                given = next((k for k, sk in KEYWORDS.items() if sk == (section, key)), None)
                if given is not None or (section, key) in (("data", "train"), ("train", "seed"), ("train", "dtype")):
                    fix = f"use {type(self).__name__}({given}=...)" if given else "it follows X (dtype) and random_state (seed)"
                    raise ValueError(f"spec: {section}.{key} is set by the estimator; {fix}")
                raw.setdefault(section, {})[key] = copy.deepcopy(value)
        return raw

    # ------------------------------------------------------------ fit

    def _train(self, X, labels, names) -> Model:
        """train_run on X (m, n_x) and its labels; nnctl's errors as scikit-learn's ValueError."""
        try:
            spec = spec_from_mapping(self.spec_dict(X.dtype), f"{type(self).__name__}")
            return train_model(spec, None, {TRAIN_ARRAYS: (X, labels, names)}, quiet=not self.verbose)
        except Interrupted:
            raise
        except NnctlError as exc:
            raise ValueError(str(exc)) from None

    def _learned(self, model: Model) -> None:
        self.model_ = model
        self.n_iter_ = int(model.metrics.get("epochs") or 0)
        self.loss_ = model.metrics.get("final_cost")
        self.loss_curve_ = [cost for _, cost in model.history]
        L = len(model.layer_dims) - 1
        self.coefs_ = [model.params[f"W{l}"].T for l in range(1, L + 1)]  # (n[l-1], n[l]): scikit-learn's layout
        self.intercepts_ = [model.params[f"b{l}"].ravel() for l in range(1, L + 1)]

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

    Learned: classes_, n_features_in_ (feature_names_in_ for a DataFrame), model_ (the nnctl.Model),
    n_iter_ (epochs run), loss_, loss_curve_ (the cost at each epoch), coefs_, intercepts_.
    """

    def fit(self, X, y):
        X, y = validate_data(self, X, y, dtype=(np.float64, np.float32))
        check_classification_targets(y)
        classes, labels = np.unique(y, return_inverse=True)
        if classes.size < 2:
            raise ValueError(f"{type(self).__name__}: y has 1 class ({classes.tolist()[0]!r}); a classifier needs examples of at least 2 classes")
        self.classes_ = classes
        self._learned(self._train(X, labels.ravel(), [str(c) for c in classes]))
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

    def fit(self, X, y):
        X, y = validate_data(self, X, y, dtype=(np.float64, np.float32), y_numeric=True)
        self._learned(self._train(X, y.astype(np.float64, copy=False), []))
        return self

    def predict(self, X):
        """The predicted value of each row of X (m,)."""
        X = self._rows(X)
        return self.model_.predict_labels(X)
