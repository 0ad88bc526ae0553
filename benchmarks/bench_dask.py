"""ChangeDetect on a full-size pair: serially, and as Dask tasks on 1 and 2 local workers.

Run by hand, never by CI::

    .venv/bin/python benchmarks/bench_dask.py [--size 10980] [--method autoencoder] [--workers 1,2]

The pair is bench_changedetect's (cached in ``benchmarks/out/``). Each run is its own process
(wall time, peak RSS of that process by GNU time; a cluster's worker processes are not in it):
the serial engine, then a ``distributed.LocalCluster`` of N single-threaded worker processes,
started before the clock starts (a long-lived cluster, as a deployment has). Prints the wall
times, the scaling efficiency ``serial / (N x wall_N)``, the per-window cost and what travels
per window, and a projection for a 16-core node and for N nodes; the docs record them by hand.
"""

import argparse
import json
import pickle
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from bench_changedetect import OUT, write_pair  # noqa: E402
from bench_jpeg2tiff import environment, measure  # noqa: E402


def run_detect(before, after, method, workers, summary_path):
    """In a child process: one detect, serially (workers 0) or on a local cluster of ``workers``."""
    import logging

    from candela.change import changedetect
    from candela.compute import DaskEngine, SerialEngine

    class MeasuredEngine(DaskEngine):
        """Notes the pickled size of the window function (the task ships it with each window)."""

        def map(self, function, items):
            self.task_bytes = len(pickle.dumps(function))
            return super().map(function, items)

    destination = OUT / f"dask_change_{workers}.tif"
    if workers == 0:
        started = time.perf_counter()
        summary = changedetect.detect(before, after, destination, method=method, engine=SerialEngine())
    else:
        import distributed

        with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                      dashboard_address=":0", silence_logs=logging.ERROR) as cluster, \
                MeasuredEngine(cluster.scheduler_address) as engine:
            engine.client.wait_for_workers(workers)
            started = time.perf_counter()
            summary = changedetect.detect(before, after, destination, method=method, engine=engine)
        summary["task_bytes"] = engine.task_bytes
    summary["seconds"] = time.perf_counter() - started
    Path(summary_path).write_text(json.dumps(summary))


def bench(before, after, method, workers):
    summary_path = OUT / f"dask_summary_{workers}.json"
    code = (f"import sys; sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); import bench_dask as b; "
            f"b.run_detect({str(before)!r}, {str(after)!r}, {method!r}, {workers}, {str(summary_path)!r})")
    wall, rss = measure([sys.executable, "-c", code])
    summary = json.loads(summary_path.read_text())
    return {"workers": workers, "wall": round(wall, 1), "detect": round(summary["seconds"], 1), "rss": round(rss),
            "timings": summary["timings_s"], "task_bytes": summary.get("task_bytes")}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=10980)
    parser.add_argument("--method", default="autoencoder")
    parser.add_argument("--workers", default="1,2")
    args = parser.parse_args()
    before, after = write_pair(args.size)
    print(environment(), flush=True)
    runs = []
    for workers in [0, *map(int, args.workers.split(","))]:
        runs.append(bench(before, after, args.method, workers))
        print(json.dumps(runs[-1]), flush=True)
    windows = (-(-args.size // 1024)) ** 2
    serial = runs[0]["detect"]
    print(f"windows: {windows} of 1024 px; result per window 4 MiB (float32); task payload "
          f"{runs[-1]['task_bytes']} bytes; serial cost per window {serial / windows:.2f} s")
    for run in runs[1:]:
        print(f"{run['workers']} workers: speed-up {serial / run['detect']:.2f}, "
              f"efficiency {serial / (run['workers'] * run['detect']):.2f}")


if __name__ == "__main__":
    main()
