"""Peak memory and time of `nnctl predict --csv` on CSV files of 100k, 1M and 2M rows of 10 features.

    python benchmarks/bench_predict_memory.py [--rows 100000,1000000,2000000] [--before /work/main]

Each size is predicted in a fresh process (its ru_maxrss is the peak); `--before PATH` also runs
the nnctl found at PATH (e.g. a checkout of an older version) on the same files, for comparison.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

REPO = Path(__file__).resolve().parents[1]


def write_csv(path: Path, rows: int, n_x: int = 10, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    with open(path, "w") as fh:
        fh.write(",".join(f"f{i}" for i in range(n_x)) + "\n")
        for start in range(0, rows, 100_000):
            block = rng.normal(size=(min(100_000, rows - start), n_x))
            np.savetxt(fh, block, delimiter=",", fmt="%.6g")


def run(tree: Path, args: list) -> tuple:
    """(seconds, peak MiB, exit code) of `python -m nnctl ARGS` with `tree` first on the path."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    t0 = time.perf_counter()
    with open(os.devnull, "w") as null:
        # cwd: a folder outside both trees, so that `-m nnctl` imports the one PYTHONPATH names
        proc = subprocess.Popen([sys.executable, "-m", "nnctl", *args], stdout=null, stderr=subprocess.DEVNULL, env=env, cwd=tempfile.gettempdir())
        _, status, usage = os.wait4(proc.pid, 0)
    return time.perf_counter() - t0, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", default="100000,1000000,2000000")
    parser.add_argument("--before", type=Path, default=None)
    parser.add_argument("--before-rows", default=None, help="sizes the --before tree is run on (default: all)")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rng = np.random.default_rng(1)
        x = rng.normal(size=(2000, 10))
        with h5py.File(tmp / "train.h5", "w") as f:
            f["x"], f["y"] = x, (x[:, 0] + x[:, 1] > 0).astype(np.int64)
        (tmp / "s.yaml").write_text("name: bench\ndata: {train: train.h5}\nmodel: {hidden: [16]}\ntrain: {learning_rate: 0.5, iterations: 200}\n")
        subprocess.run(
            [sys.executable, "-m", "nnctl", "train", str(tmp / "s.yaml"), "--runs-dir", str(tmp / "runs"), "-q", "--no-report"],
            check=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=subprocess.DEVNULL,
        )
        print(f"{'rows':>10} {'tree':>8} {'seconds':>8} {'peak MiB':>9} {'rows/s':>10}")
        for rows in map(int, opts.rows.split(",")):
            csv = tmp / f"rows-{rows}.csv"
            write_csv(csv, rows)
            for label, tree in (("this", REPO), ("before", opts.before)):
                if tree is None or (label == "before" and opts.before_rows and str(rows) not in opts.before_rows.split(",")):
                    continue
                seconds, peak, code = run(tree, ["predict", str(csv), "--run", str(tmp / "runs" / "latest"), "--csv"])
                print(f"{rows:>10,} {label:>8} {seconds:>8.2f} {peak:>9.0f} {rows / seconds:>10,.0f}" + ("" if code == 0 else f"  exit {code}"))
            csv.unlink()


if __name__ == "__main__":
    main()
