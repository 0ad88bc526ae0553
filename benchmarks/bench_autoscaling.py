"""Autoscaling: a simulated day of jobs on the autoscaler and on fixed-size clusters.

Runs :func:`candela.scaling.simulation.compare` for each seed: the same seeded arrivals on the
autoscaler (the shipped simulation policy), on a fixed cluster of the autoscaler's peak size and
on one of its mean size. Prints the parameters and a markdown table (queue wait, scale events
per hour, worker-hours, idle worker-hours, peak workers) for docs/benchmarks.md. No clock, no
I/O: the figures depend only on the seeds. Run by hand:

    .venv/bin/python benchmarks/bench_autoscaling.py [--seeds 1 2 3]
"""

import argparse
import sys
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from candela.scaling.simulation import POLICY, Cluster, Day, compare, table  # noqa: E402


def parameters(day, policy, cluster):
    """The run's parameters, one markdown line each."""
    return "\n".join(f"- {name}: " + ", ".join(f"{key}={value}" for key, value in asdict(what).items())
                     for name, what in (("day", day), ("policy", policy), ("cluster", cluster)))


def main():
    """Print the parameters and one table of all seeds."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args()
    day, cluster = Day(), Cluster()
    print(parameters(day, POLICY, cluster))
    print(f"- expected jobs a day: {day.expected_jobs():.0f}, mean duration {day.mean_duration():.0f} s\n")
    started = time.perf_counter()
    lines = []
    for seed in args.seeds:
        text = table(compare(seed, day, POLICY, cluster), seed=seed).splitlines()
        lines.extend(text if not lines else text[2:])  # one header for all seeds
    print("\n".join(lines))
    print(f"\n({len(args.seeds) * 3} runs in {time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
