"""The layout shows the architecture (issue 21 §0): every import in nnctl/ points to its own layer or a
lower one, and a few third-party packages stay behind the one module that owns them.

Imports are read with ast, function-local ones too (a local import is still a dependency; it only
loads later). Imports under `if TYPE_CHECKING:` are names for annotations, never loaded: they may
name a higher layer's type (the core's annotations name the streamed file's class and the spec's
model). docs/architecture.md draws the layers.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

NNCTL = Path(__file__).resolve().parents[1] / "nnctl"

# bottom to top: a module may import from its own layer and the ones before it
LAYERS = (
    ("base", ("nnctl.errors", "nnctl.util")),  # the error family; leaves (atomic writes, safe text, memory, PNGs)
    ("core", ("nnctl.core",)),  # the numerical core: arrays in, arrays out
    ("data", ("nnctl.data",)),  # datasets, tables, pictures, streaming, import
    ("spec", ("nnctl.spec",)),  # the experiment spec
    ("rundir", ("nnctl.rundir",)),  # the run folder
    ("experiment", ("nnctl.experiment",)),  # one run: train, check, find the rate, use, track
    ("sweep", ("nnctl.sweep",)),  # many runs
    ("report", ("nnctl.report",)),  # the report page
    ("front", ("nnctl.cli", "nnctl.api", "nnctl.sklearn", "nnctl.__main__", "nnctl")),  # the doors
)
# nnctl/__init__.py is a door (nnctl.fit loads nnctl.api on first use), yet it imports nothing when
# imported (test below): any module may read these names from it
ROOT_NAMES = {"__version__"}
# (importer, imported) -> why an upward import is allowed; keep it short
EXCEPTIONS: dict = {
    ("nnctl.data.dataset", "nnctl.rundir.layout"): "prepare_output, the one rule for every file a command writes (data "
    "make and import too), refuses a run's own files: it reads their names from the layout, a module of names that imports nothing",
}
# third-party packages only these modules (or packages) may import
OWNERS = {
    "typer": ("nnctl.cli",),
    "rich": ("nnctl.cli",),
    "sklearn": ("nnctl.sklearn",),
    "mlflow": ("nnctl.experiment.tracking",),
    "onnx": ("nnctl.experiment.export",),
    "distributed": ("nnctl.sweep.launchers.dask",),
    "dask": ("nnctl.sweep.launchers.dask",),
    "cupy": ("nnctl.core.backend",),
    "cupyx": ("nnctl.core.backend",),
    "jinja2": ("nnctl.report",),
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(NNCTL.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(NNCTL.rglob("*.py"))}


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _layer(module: str) -> int:
    """The layer of a module: its longest matching prefix in LAYERS (`nnctl` alone is the root)."""
    matches = [
        (len(prefix), i)
        for i, (_, prefixes) in enumerate(LAYERS)
        for prefix in prefixes
        if _within(module, prefix) and (prefix != "nnctl" or module == "nnctl")
    ]
    assert matches, f"{module}: in no layer of tests/test_layers.py's LAYERS; give it one (docs/architecture.md)"
    return max(matches)[1]


def _type_checking_only(tree: ast.AST) -> set:
    """The import nodes inside `if TYPE_CHECKING:` blocks (for annotations only: never run)."""
    nodes = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            nodes |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return nodes


def _imports(path: Path, module: str):
    """(line, imported module, names) for every import of the file that runs, at any depth."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = _type_checking_only(tree)
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, ()
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's package up
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            yield node.lineno, base, tuple(alias.name for alias in node.names)


def _targets(imported: str, names: tuple) -> list:
    """(module, its layer) for each nnctl module an import reaches: `from nnctl.x import y` reaches
    nnctl.x.y where that is a module, else nnctl.x."""
    if not _within(imported, "nnctl"):
        return []
    if imported == "nnctl" and names and set(names) <= ROOT_NAMES:
        return [("nnctl", 0)]  # a constant of the root, which imports nothing: as low as it gets
    found = [f"{imported}.{n}" for n in names if f"{imported}.{n}" in MODULES]
    reached = found if found and len(found) == len(names) else [imported, *found]
    return [(target, _layer(target) if target in MODULES else None) for target in reached]


def _edges():
    """(importer, its path, line, imported module, the imported module's layer) for every nnctl import."""
    for module, path in MODULES.items():
        for line, imported, names in _imports(path, module):
            for target, layer in _targets(imported, names):
                yield module, path, line, target, layer


def test_every_module_has_a_layer():
    missing = [m for m in MODULES if not any(_within(m, p) and (p != "nnctl" or m == "nnctl") for _, ps in LAYERS for p in ps)]
    assert not missing, f"modules in no layer: {missing}; add them to LAYERS here and to docs/architecture.md"


def test_imports_point_downwards():
    upward = []
    for module, path, line, target, layer in _edges():
        assert layer is not None, f"{path.relative_to(NNCTL.parent)}:{line}: imports {target}, which is no module of nnctl"
        if layer > _layer(module) and (module, target) not in EXCEPTIONS:
            upward.append(f"{path.relative_to(NNCTL.parent)}:{line}: {module} ({LAYERS[_layer(module)][0]}) imports {target} ({LAYERS[layer][0]})")
    assert not upward, "imports that point up a layer:\n" + "\n".join(upward)


def test_exceptions_are_still_needed():
    edges = {(module, target) for module, _, _, target, _ in _edges()}
    assert not set(EXCEPTIONS) - edges, "EXCEPTIONS lists imports that no longer exist"


@pytest.mark.parametrize("package", sorted(OWNERS))
def test_third_party_packages_stay_with_their_owner(package):
    stray = []
    for module, path in MODULES.items():
        for line, imported, _ in _imports(path, module):
            if imported.split(".")[0] == package and not any(_within(module, owner) for owner in OWNERS[package]):
                stray.append(f"{path.relative_to(NNCTL.parent)}:{line}")
    assert not stray, f"{package} is imported outside {', '.join(OWNERS[package])}: {stray}"


def test_the_root_and_the_packages_import_nothing_when_imported():
    """`import nnctl` (and any sub-package) stays cheap. The CLI's package imports nothing either: its
    main (the console script, nnctl.cli:main) holds Ctrl-C and SIGTERM, then imports the commands."""
    for module, path in MODULES.items():
        if path.name != "__init__.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        assert not top, f"{path}: imports at import time"


# modules whose function-local imports share one reason, given in the module's docstring
LAZY_BY_DESIGN = {
    "nnctl.cli.commands": "each command imports its own machinery when it runs: start-up of --help and completion",
}


def _local_imports(path: Path):
    """(line, text, commented) of each import inside a function of `path`."""
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for inner in ast.walk(node):
                if isinstance(inner, (ast.Import, ast.ImportFrom)):
                    line, above = lines[inner.lineno - 1], lines[inner.lineno - 2].strip()
                    yield inner.lineno, line.strip(), "#" in line or above.startswith("#")


def test_a_function_local_import_says_why():
    """Imports go at the top (issue 21 §4); one inside a function buys start-up time, waits for an
    optional extra, or breaks a cycle, and says which on its line (or the comment line above)."""
    silent = [
        f"{name}:{line}: {text}"
        for name, path in MODULES.items()
        if name not in LAZY_BY_DESIGN
        for line, text, commented in _local_imports(path)
        if not commented
    ]
    assert not silent, "function-local imports with no reason; move them to the top or say why:\n" + "\n".join(silent)


def test_the_lazy_modules_say_so():
    for name in LAZY_BY_DESIGN:
        doc = ast.get_docstring(ast.parse(MODULES[name].read_text(encoding="utf-8"))) or ""
        assert "Imports:" in doc, f"{name}: its docstring should say why its commands import lazily"
