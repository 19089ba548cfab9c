#!/usr/bin/env python3
"""Issue 21 §0: nnctl's flat modules moved into sub-packages by layer, every reference rewritten.

A codemod, not a module of nnctl (not shipped: pyproject packages only nnctl*). Run it from the
repository root of a clean checkout that holds the layout branch's first commit (the import fixes:
gradcheck_math.py, status.py):

    python tools/relayout.py --check   # the plan and every warning; nothing is written
    python tools/relayout.py           # git mv, the packages' __init__.py, the rewrites, docs/architecture.md

It refuses, before it changes anything, when a module of MODULES is missing (renamed on main, or
already moved: a second run stops here), when a destination exists, or when nnctl/ holds a module
or folder it does not know (a module another branch added: add it to MODULES, the layer its imports
suggest is printed), or when the work tree is not clean. Then it
1. `git mv`s every module (and nnctl/templates) to its place in MODULES;
2. writes each new package's __init__.py (its layer, in a docstring; nnctl.cli also keeps
   `nnctl.cli:main`, the console script, by importing main from its commands);
3. rewrites, in the tracked .py and .md files of nnctl/, tests/, benchmarks/ and docs/ and in
   README.md, pyproject.toml and mkdocs.yml:
   - `from nnctl import a, b as c` (one line per package the names now live in),
   - every dotted name `nnctl.OLD` and `nnctl.OLD.attr` (imports, `import nnctl.OLD as x`,
     monkeypatch and mock targets in strings, `python -m`, prose) to `nnctl.PKG.NEW`; a dotted
     name whose attribute the old module does not define (`nnctl.data.train.sha256`, an MLflow tag)
     or a placeholder (`nnctl.data.{role}`) is left alone and listed,
   - paths `nnctl/OLD.py` and `nnctl/templates`,
   - pyproject's package-data key for the templates;
4. writes docs/architecture.md: the layers, and the tree before and after with line counts;
5. checks its work: no `from nnctl import OLD` left, every .py file parses, every module imports.
Deterministic: the same tree in gives the same tree out. Then run ruff and the tests.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

# Layers, bottom to top: a module imports from its own layer or the ones before it
# (tests/test_layers.py holds the same order). (name, packages, what it is)
LAYERS = [
    ("base", ("errors", "util"), "the error family and leaves every layer may use"),
    ("core", ("core",), "the numerical core: arrays in, arrays out; no files but what it is handed"),
    ("data", ("data",), "datasets: files, tables, generators, pictures, streaming"),
    ("spec", ("spec",), "the experiment spec: schema, loader, overrides"),
    ("rundir", ("rundir",), "the run folder: its names, lock, writes and validated reads"),
    ("experiment", ("experiment",), "one run: train it, check it, find its rate, use it, track it"),
    ("sweep", ("sweep",), "many runs: plan, sampler, pruner, executors, the sweep folder"),
    ("report", ("report",), "the report page and what it shows"),
    ("front", ("cli", "api", "sklearn", "__init__", "__main__"), "the doors: the command line, the Python API, scikit-learn"),
]

PACKAGE_DOCS = {
    "util": "Leaves every layer may use: files written whole, text made safe to show, the memory this process\n"
            "may take, PNG figures. They import nothing of nnctl's but each other and nnctl.errors.",
    "core": "The numerical core: activations, layers, the reference math, optimizers, the first layer, the\n"
            "Trainer and its loop, regularisation, early stopping, gradient checking, resource estimates.\n"
            "Arrays in, arrays out: it imports nothing above it (no spec, no data files, no run folder).",
    "data": "Data: datasets in files (HDF5, MATLAB) and the built-in generators, tables (CSV, TSV, Parquet),\n"
            "pictures, streaming from disk, `nnctl data import`. Over the core; knows no spec or run folder.",
    "spec": "The experiment spec: the pydantic schema, the one YAML loader, --set, the resolved dump.",
    "rundir": "The run folder: its file names and statuses, its lock, creating and writing it, reading it back\n"
              "validated, checkpoints and metrics. Nothing outside it should name a run file.",
    "experiment": "One run: trained end to end from a spec (run.py), gradient-checked, its learning rate found,\n"
                  "used (predict, evaluate, export) and tracked in MLflow.",
    "sweep": "Many runs: the sweep (plan, executors, the sweep folder), the study loop, samplers, the pruner,\n"
             "the selection of the best trial.",
    "report": "`nnctl report`: a run or a sweep as one HTML page (page.py), its figures, the shapes table;\n"
              "templates/ is package data.",
    "cli": "The command line, on top of everything: commands.py (Typer: parse, call, print) and display.py\n"
           "(Rich). The only importers of typer and rich.",
}

# old module (nnctl/OLD.py) -> (new dotted path under nnctl, what it is). Top-level modules keep their place.
MODULES = {
    # front and base, where they are
    "__init__": ("__init__", "nnctl.__version__; nnctl.fit, nnctl.load and Model, loaded on first use"),
    "__main__": ("__main__", "python -m nnctl"),
    "api": ("api", "nnctl.fit and nnctl.load: arrays in rows into train_run, a run read back as a Model"),
    "sklearn": ("sklearn", "NNClassifier, NNRegressor: scikit-learn's contract over nnctl.api (its only importer of sklearn)"),
    "errors": ("errors", "NnctlError and its kinds; only the CLI turns them into `Error: ...`"),
    # util
    "atomic": ("util.atomic", "temporary file, fsync, rename: no file is ever half-written"),
    "text": ("util.text", "text from outside made harmless before a terminal or a page shows it"),
    "memory": ("util.memory", "the memory this process may still take: machine, rlimits, cgroup"),
    "plots": ("util.plots", "PNG figures: cost curve, decision boundary, misclassified, previews, sweep, lr-find"),
    # core
    "backend": ("core.backend", "where the arrays live: NumPy, CuPy or the tests' FakeDevice; fused kernels"),
    "activations": ("core.activations", "the activation table: (forward, backward) per name"),
    "layers": ("core.layers", "the arrays each kind of layer holds (W, b; or W, gamma, beta, running averages)"),
    "network": ("core.network", "the reference math (pure, course notation); the LOSSES, HEADS and INITS tables"),
    "batchnorm": ("core.batchnorm", "batch norm's in-place step, one per normalised layer, that the Trainer calls"),
    "optimizers": ("core.optimizers", "OPTIMIZERS (gd, momentum, rmsprop, adam: step, state) and SCHEDULES"),
    "firstlayer": ("core.firstlayer", "primal and dual first-layer strategies; where the dual path is exact"),
    "regularization": ("core.regularization", "inverted dropout's masks (fresh from the seed, or the course's seed(1))"),
    "training": ("core.training", "Trainer (buffers once, forward, backward -> finite, step), Batches, the loop"),
    "status": ("core.status", "a run's statuses: where the loop ends, and running before"),
    "stopping": ("core.stopping", "Ctrl-C and SIGTERM as a flag the loop reads"),
    "validation": ("core.validation", "the validation set and early stopping: a listener of the loop"),
    "gradcheck_math": ("core.gradcheck", "central differences against the Trainer's backprop, the course's reading"),
    "resources": ("core.resources", "memory and disk estimates, BLAS threads, the preflight refusal"),
    # data
    "data": ("data.dataset", "Dataset; HDF5 and MATLAB layouts, flattening, normalising, splits, generators"),
    "tables": ("data.tables", "CSV, TSV and Parquet tables; the fitted Preprocessor (table.json)"),
    "stream": ("data.stream", "data larger than memory: mini-batches read while the last one trains"),
    "images": ("data.images", "any picture Pillow reads -> the pixels a model was trained on"),
    "importer": ("data.importer", "nnctl data import (pictures, .mat -> course layout), data info, previews"),
    # spec
    "config": ("spec.config", "pydantic schema, load_config, --set, the resolved dump"),
    # rundir
    "layout": ("rundir.layout", "the run directory's file names (and its statuses, from the core)"),
    "runlock": ("rundir.lock", "one process at a time per run directory: flock on the folder"),
    "runs": ("rundir.runs", "the run directory: create, write atomically, read back validated, list"),
    "checkpoint": ("rundir.checkpoint", "every piece of training state saved and restored, with the spec's fingerprint"),
    "metrics": ("rundir.metrics", "the summary, metrics.json, costs.csv and reproduce.json"),
    # experiment
    "experiment": ("experiment.run", "one run end to end as a short script of named steps (train_run, resume_run)"),
    "gradcheck": ("experiment.gradcheck", "nnctl gradcheck: the network a spec builds, on its data, checked"),
    "lrfind": ("experiment.lrfind", "the learning-rate range test (fastai's lr_find)"),
    "inference": ("experiment.inference", "predict on files, evaluate on a dataset"),
    "export": ("experiment.export", "a trained run as one ONNX graph or one .npz"),
    "tracking": ("experiment.tracking", "MLflow: a listener of the loop, or a finished run folder"),
    # sweep
    "sweep": ("sweep.run", "the sweep: plan, trials in processes or on Dask, the sweep folder, its summary"),
    "study": ("sweep.study", "Study.optimize for nnctl: the sampler's rounds, the pruner's rungs"),
    "sampler": ("sweep.sampler", "distributions on their scales; coarse to fine"),
    "pruner": ("sweep.pruner", "successive halving: budgets and promotions"),
    "selection": ("sweep.selection", "the best trial, on validation data, never on the test set"),
    # report
    "report": ("report.page", "nnctl report: a run or a sweep collected and rendered as one HTML page"),
    "report_plots": ("report.figures", "the report's figures: matplotlib as inline SVG"),
    "shapes": ("report.shapes", "the course's matrix dimensions, one row per layer (report, nnctl shapes)"),
    # cli
    "cli": ("cli.commands", "Typer commands and error translation: parse, call, print"),
    "display": ("cli.display", "Rich progress, tables and plain log lines"),
}
FOLDERS = {"templates": "report/templates"}  # nnctl/<old>/ -> nnctl/<new>/
ROOT_NAMES = {"__version__", "fit", "load", "Model"}  # `from nnctl import` these stay as they are
KEEP = ("nnctl.cli:main",)  # the console script: nnctl/cli/__init__.py imports main

SCOPES = ("nnctl/", "tests/", "benchmarks/", "docs/")
SUFFIXES = (".py", ".md")
EXTRA_FILES = ("README.md", "pyproject.toml", "mkdocs.yml")
SKIP = ("benchmarks/results/",)

MOVED = {old: new for old, (new, _) in MODULES.items() if new != old}


def fail(message: str) -> None:
    sys.exit(f"relayout: {message}")


def git(*args: str, root: Path) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout


# ---------- what the tree holds ----------

def flat_modules(root: Path) -> list[str]:
    return sorted(p.stem for p in (root / "nnctl").glob("*.py"))


def nnctl_imports(path: Path) -> set[str]:
    """The nnctl modules a flat module imports (first component after nnctl), anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("nnctl.")}
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "nnctl":
                found |= {a.name for a in node.names}
            elif node.module.startswith("nnctl."):
                found.add(node.module.split(".")[1])
    return found


def layer_of(new: str) -> int:
    first = new.split(".")[0]
    return next(i for i, (_, packages, _) in enumerate(LAYERS) if first in packages)


def suggest(root: Path, name: str) -> str:
    """The lowest layer an unknown module fits in, from what it imports."""
    imported = nnctl_imports(root / "nnctl" / f"{name}.py") - ROOT_NAMES - {name}
    known = {m: MODULES[m][0] for m in imported if m in MODULES}
    lowest = max((layer_of(new) for new in known.values()), default=0)
    unknown = sorted(imported - set(known))
    return (f"nnctl/{name}.py imports {', '.join(sorted(imported)) or 'nothing of nnctl'}: it fits layer "
            f"'{LAYERS[lowest][0]}' or above" + (f" (and imports unknown {', '.join(unknown)})" if unknown else ""))


def relative_imports(root: Path) -> list[str]:
    """`from . import x` in nnctl/: its meaning would change with the module's package."""
    found = []
    for path in sorted((root / "nnctl").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level:
                found.append(f"nnctl/{path.name}:{node.lineno}")
    return found


def preflight(root: Path, allow_dirty: bool) -> None:
    if not (root / "nnctl" / "__init__.py").is_file() or not (root / ".git").exists():
        fail(f"{root} is not nnctl's repository root")
    if not allow_dirty and git("status", "--porcelain", root=root).strip():
        fail("the work tree is not clean: commit first (or --allow-dirty)")
    problems = []
    present = set(flat_modules(root))
    if not present & set(MOVED) and all((root / "nnctl" / (n.replace(".", "/") + ".py")).exists() for n in MOVED.values()):
        fail("nnctl is laid out already (every module of MODULES is at its destination): nothing to do")
    missing = sorted(set(MODULES) - present)
    if missing:
        problems.append("missing modules (renamed on main, or already moved?): " + ", ".join(f"nnctl/{m}.py" for m in missing))
    for name in sorted(present - set(MODULES)):
        problems.append(f"unknown module: add it to MODULES. {suggest(root, name)}")
    for entry in sorted((root / "nnctl").iterdir()):
        if entry.is_dir() and entry.name != "__pycache__" and entry.name not in FOLDERS:
            problems.append(f"unknown folder nnctl/{entry.name}/ (a package another branch added, or already moved?)")
    for old in FOLDERS:
        if not (root / "nnctl" / old).is_dir():
            problems.append(f"missing folder nnctl/{old}/")
    for where in relative_imports(root):
        problems.append(f"{where}: a relative import; make it absolute (from nnctl.X import ...) first")
    for old, new in MOVED.items():
        dest = root / "nnctl" / (new.replace(".", "/") + ".py")
        if dest.exists():
            problems.append(f"nnctl/{old}.py: its destination {dest.relative_to(root)} exists already")
    if problems:
        fail("refusing, nothing changed:\n  " + "\n  ".join(problems))


# ---------- rewriting ----------

def module_names(path: Path) -> set[str]:
    """The names a module defines at its top level (functions, classes, assignments, imports)."""
    names = {"__file__", "__name__", "__doc__", "__dict__", "__path__", "__spec__"}

    def visit(body):
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                    names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names.update((a.asname or a.name).split(".")[0] for a in node.names)
            elif isinstance(node, (ast.If, ast.Try, ast.With)):
                visit(node.body)
                for part in ("orelse", "finalbody"):
                    visit(getattr(node, part, []))
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)

    visit(ast.parse(path.read_text(encoding="utf-8")).body)
    return names


class Rewriter:
    def __init__(self, root: Path):
        self.names = {old: module_names(root / "nnctl" / f"{old}.py") for old in MOVED}
        alternatives = "|".join(sorted(map(re.escape, MOVED), key=len, reverse=True))
        self.dotted = re.compile(rf"(?<![\w.])nnctl\.({alternatives})(?!\w)")
        self.path = re.compile(rf"(?<![\w/.-])nnctl/({alternatives})\.py(?!\w)")
        folders = "|".join(map(re.escape, FOLDERS))
        self.folder = re.compile(rf"(?<![\w/.-])nnctl/({folders})(?![\w.])")
        self.from_root = re.compile(r"^([ \t]*)from nnctl import ([^\n#()]+?)([ \t]*#[^\n]*)?$", re.M)
        self.left_alone: list[str] = []  # "file:line: text" of the dotted names not rewritten

    def from_nnctl(self, match: re.Match, where: str) -> str:
        indent, names, comment = match.group(1), match.group(2), match.group(3) or ""
        kept, moved = [], defaultdict(list)
        for item in (n.strip() for n in names.split(",")):
            name, _, alias = (p.strip() for p in item.partition(" as "))
            if name in MOVED:
                package, _, new = MOVED[name].rpartition(".")
                local = alias or name
                moved[package].append(new if new == local else f"{new} as {local}")
            else:
                if name not in ROOT_NAMES and name not in MODULES:
                    self.left_alone.append(f"{where}: `from nnctl import {name}`: not a module of MODULES, kept")
                kept.append(item)
        if not moved:
            return match.group(0)
        lines = ([f"from nnctl import {', '.join(kept)}"] if kept else [])
        lines += [f"from nnctl.{package} import {', '.join(items)}" for package, items in moved.items()]
        lines[0] += comment
        return "\n".join(indent + line for line in lines)

    def dotted_name(self, text: str, match: re.Match, where: str) -> str:
        old, end = match.group(1), match.end()
        if text.startswith(KEEP, match.start()):
            return match.group(0)
        if text[end:end + 1] == ".":
            attr = re.match(r"[A-Za-z_]\w*", text[end + 1:])
            if (attr and attr.group() not in self.names[old]) or text[end + 1:end + 2] in ("{", "<"):
                line = text.count("\n", 0, match.start()) + 1
                snippet = text[match.start():end + 1 + (attr.end() if attr else 1)]
                self.left_alone.append(f"{where}:{line}: `{snippet}`: not a name of nnctl/{old}.py, left alone")
                return match.group(0)
        return f"nnctl.{MOVED[old]}"

    def rewrite(self, text: str, where: str) -> str:
        spread = re.search(r"^[ \t]*from nnctl import \(", text, re.M)
        if spread:
            fail(f"{where}:{text.count(chr(10), 0, spread.start()) + 1}: `from nnctl import (` over several lines: "
                 "put it on one line (or name the modules with their dotted path) first; nothing changed")
        # dotted names first: the `from nnctl.PKG import` lines written next name packages that were modules
        text = self.dotted.sub(lambda m: self.dotted_name(text, m, where), text)
        text = self.path.sub(lambda m: f"nnctl/{MOVED[m.group(1)].replace('.', '/')}.py", text)
        text = self.folder.sub(lambda m: f"nnctl/{FOLDERS[m.group(1)]}", text)
        text = self.from_root.sub(lambda m: self.from_nnctl(m, where), text)
        if where == "pyproject.toml":
            text, n = re.subn(r'^nnctl = (\[[^\]\n]*templates/[^\]\n]*\])$', r'"nnctl.report" = \1', text, flags=re.M)
            if n != 1:
                fail("pyproject.toml: expected one `nnctl = [\"templates/...\"]` package-data line, found %d" % n)
        return text


def files_to_rewrite(root: Path) -> list[str]:
    tracked = git("ls-files", root=root).splitlines()
    return sorted(f for f in tracked
                  if (f.startswith(SCOPES) and f.endswith(SUFFIXES) and not f.startswith(SKIP)) or f in EXTRA_FILES)


# ---------- docs/architecture.md ----------

def line_count(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def before_tree(root: Path) -> str:
    rows = [(f"nnctl/{m}.py", line_count(root / "nnctl" / f"{m}.py"), MODULES[m][0]) for m in sorted(MODULES)]
    width = max(len(r[0]) for r in rows)
    lines = [f"{path:<{width}}  {n:>5}" + (f"  -> nnctl/{new.replace('.', '/')}.py" if new != path[6:-3] else "")
             for path, n, new in rows]
    lines.append(f"{'nnctl/templates/':<{width}}         -> nnctl/{FOLDERS['templates']}/")
    lines.append(f"{'total':<{width}}  {sum(r[1] for r in rows):>5}  in {len(rows)} modules side by side")
    return "\n".join(lines)


def after_tree(root: Path) -> str:
    out = ["nnctl/"]
    total = 0
    for i, (layer, packages, what) in enumerate(reversed(LAYERS)):
        out.append(f"  # {len(LAYERS) - i}. {layer}: {what}")
        for package in packages:
            members = sorted((new, old) for old, (new, _) in MODULES.items() if new.split(".")[0] == package)
            if "." not in members[0][0]:  # a top-level module
                for new, old in members:
                    n = line_count(root / "nnctl" / f"{new}.py")
                    total += n
                    out.append(f"  {new + '.py':<24} {n:>5}  {MODULES[old][1]}")
                continue
            size = sum(line_count(root / "nnctl" / f"{new.replace('.', '/')}.py") for new, _ in members)
            out.append(f"  {package + '/':<24} {size:>5}")
            for new, old in members:
                n = line_count(root / "nnctl" / f"{new.replace('.', '/')}.py")
                total += n
                out.append(f"    {new.split('.', 1)[1] + '.py':<22} {n:>5}  {MODULES[old][1]}")
            if package == "report":
                out.append(f"    {'templates/':<22}        Jinja2 templates and the sort script (package data)")
    out.append(f"  {'total':<24} {total:>5}  (each package's __init__.py: its docstring)")
    return "\n".join(out)


ARCHITECTURE = """# Architecture

nnctl is layered. Each layer is a package (or, for the doors, a module at the top) and imports only
from its own layer and the ones below it; `tests/test_layers.py` reads every import (function-local
ones too) and fails on one that points up. From the bottom:

{layers}

The numerical core is where the math ends: it sees arrays, never a spec, a data file or a run
folder. The application begins with data and the spec; the run folder (`nnctl/rundir/`) is the only
place that names a run's files. `nnctl.api` (`nnctl.fit`, `nnctl.load`), `nnctl.sklearn`,
`python -m nnctl` and the `nnctl` command (`nnctl.cli:main`) are the public doors.

## The layout, with line counts

```
{after}
```

## Before: the flat layout it came from

Issue 21 §0 moved these modules, side by side in `nnctl/`, to the packages above
(`tools/relayout.py`, a codemod that also rewrote every import). Just before, three imports that
pointed up were fixed by hand: the gradient check's math left the spec-level `gradcheck.py` for
`gradcheck_math.py`, the run statuses the loop decides moved to `status.py`, and the report's grid
size moved beside the PNG one in `plots.py`.

```
{before}
```
"""


def architecture(root: Path, before: str) -> str:
    layers = "\n".join(f"{i + 1}. **{name}** ({', '.join(f'`nnctl/{p}/`' if p in PACKAGE_DOCS else f'`nnctl/{p}.py`' for p in packages)}): {what}"
                       for i, (name, packages, what) in enumerate(LAYERS))
    return ARCHITECTURE.format(layers=layers, after=after_tree(root), before=before)


# ---------- checks after the move ----------

def check_result(root: Path, files: list[str]) -> list[str]:
    problems = []
    stale = re.compile(r"\bfrom nnctl import ([^\n#]*)")
    for f in files:
        path = root / f
        if not path.exists():
            continue
        text = path.read_text(encoding="utf-8")
        for m in stale.finditer(text):
            names = {n.strip().split(" ")[0] for n in m.group(1).strip("()").split(",")}
            if names & set(MOVED):
                problems.append(f"{f}: `{m.group(0).strip()}` names a moved module")
        if f.endswith(".py"):
            try:
                ast.parse(text)
            except SyntaxError as exc:
                problems.append(f"{f}: does not parse ({exc})")
    modules = sorted("nnctl" if new == "__init__" else f"nnctl.{new}" for new, _ in MODULES.values() if new != "__main__")
    modules += [f"nnctl.{p}" for p in PACKAGE_DOCS]
    code = ("import importlib, sys\nbad = []\nfor m in sys.argv[1:]:\n    try:\n        importlib.import_module(m)\n"
            "    except Exception as exc:\n        bad.append(f'{m}: {type(exc).__name__}: {exc}')\nprint('\\n'.join(bad))")
    env = {**os.environ, "PYTHONPATH": str(root)}
    out = subprocess.run([sys.executable, "-c", code, *modules], cwd=root, env=env, capture_output=True, text=True)
    problems += [f"import {line}" for line in out.stdout.splitlines() if line.strip()]
    if out.returncode:
        problems.append(f"importing the modules failed: {out.stderr.strip()[-500:]}")
    return problems


# ---------- the run ----------

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="print the plan and the warnings; write nothing")
    parser.add_argument("--allow-dirty", action="store_true", help="run on a work tree with uncommitted changes")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1], help="the repository (default: this one)")
    args = parser.parse_args(argv)
    root = args.root.resolve()

    preflight(root, args.allow_dirty)
    rewriter = Rewriter(root)
    files = files_to_rewrite(root)
    before = before_tree(root)
    new_texts, changed = {}, []
    for f in files:
        text = (root / f).read_text(encoding="utf-8")
        new = rewriter.rewrite(text, f)
        if new != text:
            new_texts[f] = new
            changed.append(f)

    print(f"relayout: {len(MOVED)} modules and {len(FOLDERS)} folder to move, {len(changed)} of {len(files)} files to rewrite")
    for old, new in sorted(MOVED.items()):
        print(f"  nnctl/{old}.py -> nnctl/{new.replace('.', '/')}.py")
    for line in rewriter.left_alone:
        print(f"  note: {line}")
    if args.check:
        for f in changed:
            print(f"  would rewrite {f}")
        return 0

    # 1. move
    for package in PACKAGE_DOCS:
        (root / "nnctl" / package).mkdir(exist_ok=True)
    for old, new in sorted(MOVED.items()):
        git("mv", f"nnctl/{old}.py", f"nnctl/{new.replace('.', '/')}.py", root=root)
    for old, new in FOLDERS.items():
        git("mv", f"nnctl/{old}", f"nnctl/{new}", root=root)
    # 2. the packages
    for package, doc in PACKAGE_DOCS.items():
        body = f'"""{doc}\n"""\n'
        if package == "cli":
            body += "\nfrom nnctl.cli.commands import main  # noqa: F401  (the console script is nnctl.cli:main)\n"
        (root / "nnctl" / package / "__init__.py").write_text(body, encoding="utf-8")
    # 3. the rewrites (paths after the move)
    for f, text in new_texts.items():
        path = root / f
        for old, new in MOVED.items():
            if f == f"nnctl/{old}.py":
                path = root / "nnctl" / (new.replace(".", "/") + ".py")
        for old, new in FOLDERS.items():
            if f.startswith(f"nnctl/{old}/"):
                path = root / "nnctl" / new / f[len(f"nnctl/{old}/"):]
        path.write_text(text, encoding="utf-8")
    # 4. the architecture page
    (root / "docs" / "architecture.md").write_text(architecture(root, before), encoding="utf-8")
    git("add", "-A", "nnctl", "tests", "benchmarks", "docs", *EXTRA_FILES, root=root)
    # 5. checks
    problems = check_result(root, files_to_rewrite(root))
    if problems:
        print("relayout: moved and rewritten, but:\n  " + "\n  ".join(problems))
        return 1
    print("relayout: done; every module imports. Next: python -m ruff check . && python -m pytest")
    return 0


if __name__ == "__main__":
    sys.exit(main())
