"""nnctl: train fully-connected networks from YAML specs, in NumPy, the course's way.

In Python: `nnctl.fit(spec, X, y)` returns a Model, `nnctl.load(run_dir)` reads one back
(nnctl.api); scikit-learn estimators are in nnctl.sklearn.
"""

__version__ = "0.1.0"

_API = ("fit", "load", "Model")


def __getattr__(name):
    # nnctl.api pulls in the whole training stack (0.8 s more than `import nnctl` here): loaded
    # on first use, so `nnctl --help` and `import nnctl` stay quick
    if name in _API:
        from nnctl import api  # `import nnctl` stays light: nnctl.fit loads the API on first use

        return getattr(api, name)
    raise AttributeError(f"module 'nnctl' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_API])
