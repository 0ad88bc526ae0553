"""Evaluation of change detection on the labelled cities of the OSCD dataset.

Run by hand, never by CI::

    .venv/bin/python benchmarks/evaluate_oscd.py [--methods autoencoder,raw] \
        [--markdown out.md] [--json out.json] [--workdir DIR] [--cities paris,bercy]

For each labelled city (date 2 brought onto the date-1 10 m grid, bilinear) and each method,
the change score is compared with the city's change label: AUROC, average precision (AP) and
block r, the Pearson correlation between the mean score and the changed fraction of
non-overlapping 16 x 16 pixel blocks (blocks cut short by the edge are dropped); then each
figure is averaged over the cities (the mean of per-city figures).

Methods:

* reference baselines, computed here from the 4-band stacks (B02, B03, B04, B08):
  ``euclid_raw`` (Euclidean distance of raw reflectance), ``zcva`` (the same after
  standardising each band of each image by its own mean and standard deviation) and
  ``zcva_5x5`` (zCVA averaged over a 5 x 5 window). Their means reproduce the figures of
  ../shared/data/README.md (:data:`REFERENCE`);
* ChangeDetect methods (``--methods``): ``candela.change.changedetect.detect`` on GeoTIFF stacks of
  the two dates (uint16 reflectance x 10000, band descriptions, ``ACQUISITION_DATE``), its
  output (float32 change probability on the date-1 grid) scored like the baselines. Skipped,
  with a note, while ``candela.change.changedetect`` does not exist.
"""

import argparse
import importlib
import importlib.util
import json
import math
import os
import platform
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import rasterio
from scipy.ndimage import uniform_filter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from candela.datasets import oscd  # noqa: E402
from candela.change.metrics import score  # noqa: E402

DEFAULT_ROOT = ROOT.parent / "shared" / "data" / "oscd"
DEFAULT_METHODS = ("autoencoder", "raw")
FIGURES = ("auroc", "ap", "block_r")
#: Means over the labelled cities quoted by ../shared/data/README.md.
REFERENCE = {
    "euclid_raw": {"auroc": 0.740, "ap": 0.150, "block_r": 0.282},
    "zcva": {"auroc": 0.827, "ap": 0.188, "block_r": 0.387},
    "zcva_5x5": {"auroc": 0.893, "ap": 0.251, "block_r": 0.387},
}
#: How far a reproduced mean may be from :data:`REFERENCE` (the README gives 3 decimals).
TOLERANCE = 0.003


def euclid_raw(before, after):
    """Euclidean distance between the two stacks ``(bands, rows, columns)``, per pixel."""
    difference = np.asarray(before, dtype=np.float64) - np.asarray(after, dtype=np.float64)
    return np.sqrt((difference * difference).sum(axis=0))


def standardise(stack):
    """Each band of ``stack`` minus its mean, over its standard deviation (NaN pixels ignored)."""
    stack = np.asarray(stack, dtype=np.float64)
    mean = np.nanmean(stack, axis=(1, 2), keepdims=True)
    std = np.nanstd(stack, axis=(1, 2), keepdims=True)
    return (stack - mean) / np.where(std > 0, std, 1.0)


def zcva(before, after):
    """zCVA: the Euclidean distance of the two stacks, each band of each image standardised."""
    return euclid_raw(standardise(before), standardise(after))


def zcva_5x5(before, after):
    """zCVA averaged over a 5 x 5 window (edges mirrored)."""
    return uniform_filter(zcva(before, after), size=5, mode="reflect")


BASELINES = {"euclid_raw": euclid_raw, "zcva": zcva, "zcva_5x5": zcva_5x5}


def load_city(root, city):
    """``(before, after, labels, profiles)``: the 4-band stacks of both dates on the date-1 grid,
    the label, and the two stacks' profiles (see :func:`candela.datasets.oscd.read_stack`)."""
    before, before_profile = oscd.read_stack(root, city, 1)
    after, after_profile = oscd.read_stack(root, city, 2, grid_of=1)
    return before, after, oscd.read_labels(root, city), (before_profile, after_profile)


def changedetect():
    """``(module, None)``, or ``(None, why)`` when ``candela.change.changedetect`` cannot be used."""
    try:
        missing = importlib.util.find_spec("candela.change.changedetect") is None
    except ValueError:  # in sys.modules without a spec (a stand-in): there all the same
        missing = False
    if missing:
        return None, "candela.change.changedetect does not exist yet"
    try:
        module = importlib.import_module("candela.change.changedetect")
    except Exception as error:  # noqa: BLE001 - any import failure means: skip, and say why
        return None, f"candela.change.changedetect cannot be imported: {type(error).__name__}: {error}"
    if not callable(getattr(module, "detect", None)):
        return None, "candela.change.changedetect has no detect()"
    return module, None


def read_probability(path):
    """Band 1 of a raster as float64, its nodata as NaN."""
    with rasterio.open(path) as dataset:
        return dataset.read(1, masked=True).astype(np.float64).filled(np.nan)


def evaluate(root=DEFAULT_ROOT, methods=DEFAULT_METHODS, workdir=None, cities=oscd.LABELLED,
             baselines=tuple(BASELINES), progress=None, model=None):
    """Scores of the baselines and of ChangeDetect ``methods`` on ``cities``, as a JSON-ready dict.

    ``workdir`` holds the stacks given to ``detect`` and its outputs (a temporary folder,
    removed afterwards, when None). ``model`` goes to ``detect`` as it is (None: its default
    model). ``progress`` is called with one line of text per step.
    Returns ``{"dataset", "cities", "bands", "started", "seconds", "read_seconds", "platform",
    "model", "methods", "skipped", "reference"}``; ``methods[name]`` is ``{"kind", "cities": {city: scores},
    "mean": {figure: value}, "seconds", "errors"}`` (scores as :func:`candela.change.metrics.score`,
    plus ``seconds``, and ``summary`` from ``detect``); ``skipped`` maps a method not run to why.
    """
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="oscd-") as temporary:
            return evaluate(root, methods, temporary, cities, baselines, progress, model)
    say = progress or (lambda text: None)
    started = time.perf_counter()
    root, workdir = Path(root), Path(workdir)
    unknown = [name for name in baselines if name not in BASELINES]
    if unknown:
        raise ValueError(f"unknown baselines: {', '.join(unknown)} (known: {', '.join(BASELINES)})")
    methods = [m for m in methods if m]
    result = {
        "dataset": str(root),
        "cities": list(cities),
        "bands": list(oscd.BANDS),
        "started": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "platform": f"{platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "methods": {},
        "skipped": {},
        "reference": REFERENCE,
        "model": model,
    }
    for name in baselines:
        result["methods"][name] = {"kind": "baseline", "cities": {}, "errors": {}, "seconds": 0.0}
    module = None
    if methods:
        module, why = changedetect()
        if module is None:
            say(f"NOTE: ChangeDetect methods ({', '.join(methods)}) skipped: {why}")
            result["skipped"] = {method: why for method in methods}
        else:
            for method in methods:
                result["methods"][method] = {"kind": "changedetect", "cities": {}, "errors": {}, "seconds": 0.0}
    read_seconds = 0.0
    for city in cities:
        tick = time.perf_counter()
        before, after, labels, (before_profile, after_profile) = load_city(root, city)
        read_seconds += time.perf_counter() - tick
        for name in baselines:
            tick = time.perf_counter()
            figures = score(BASELINES[name](before, after), labels)
            figures["seconds"] = time.perf_counter() - tick
            _record(result["methods"][name], city, figures, say, name)
        if module is None:
            continue
        tick = time.perf_counter()
        inputs = workdir / "inputs"
        inputs.mkdir(parents=True, exist_ok=True)
        before_path = oscd.save_stack(before, before_profile, inputs / f"{city}_1.tif")
        after_path = oscd.save_stack(after, after_profile, inputs / f"{city}_2.tif")
        read_seconds += time.perf_counter() - tick
        for method in methods:
            entry = result["methods"][method]
            destination = workdir / method / f"{city}.tif"
            destination.parent.mkdir(parents=True, exist_ok=True)
            tick = time.perf_counter()
            try:
                summary = module.detect(before_path, after_path, destination, method=method, model=model)
                probability = read_probability(destination)
                if probability.shape != labels.shape:
                    raise ValueError(f"output is {probability.shape}, the label {labels.shape}")
                figures = score(probability, labels)
            except Exception as error:  # noqa: BLE001 - one failing method must not stop the run
                entry["errors"][city] = f"{type(error).__name__}: {error}"
                entry["seconds"] += time.perf_counter() - tick
                say(f"{method:>12} {city:<12} FAILED: {entry['errors'][city]}")
                continue
            figures["seconds"] = time.perf_counter() - tick
            figures["summary"] = summary
            _record(entry, city, figures, say, method)
    for entry in result["methods"].values():
        scored = list(entry["cities"].values())
        entry["mean"] = {figure: (float(np.mean([s[figure] for s in scored])) if scored else float("nan"))
                         for figure in FIGURES}
        entry["scored_cities"] = len(scored)
    result["read_seconds"] = read_seconds
    result["seconds"] = time.perf_counter() - started
    return result


def _record(entry, city, figures, say, name):
    entry["cities"][city] = figures
    entry["seconds"] += figures["seconds"]
    say(f"{name:>12} {city:<12} AUROC {figures['auroc']:.4f}  AP {figures['ap']:.4f}  "
        f"block r {figures['block_r']:.4f}  ({figures['seconds']:.2f} s)")


def reference_check(result):
    """``{baseline: {figure: reproduced - README}}`` for the baselines the README quotes."""
    return {name: {figure: result["methods"][name]["mean"][figure] - value for figure, value in figures.items()}
            for name, figures in REFERENCE.items() if name in result["methods"]}


def markdown(result):
    """The result as a markdown section: per-city and mean rows per method, and the README check."""
    def number(value, digits=3):
        return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"

    lines = [
        "## OSCD change detection (labelled cities)",
        "",
        f"Dataset `{result['dataset']}`: {len(result['cities'])} cities ({', '.join(result['cities'])}), "
        f"bands {', '.join(result['bands'])}, date 2 resampled bilinearly onto the date-1 10 m grid. "
        "AUROC, average precision (AP) and block r (Pearson r between the mean score and the changed "
        "fraction of whole 16 x 16 pixel blocks) per city; mean = mean of the per-city figures.",
        "",
        f"Run {result['started']} on {result['platform']}: {result['seconds']:.1f} s in all "
        f"({result['read_seconds']:.1f} s reading and stacking).",
        "",
        "| Method | City | AUROC | AP | block r | Time (s) |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for name, entry in result["methods"].items():
        for city in result["cities"]:
            if city in entry["cities"]:
                s = entry["cities"][city]
                lines.append(f"| {name} | {city} | {number(s['auroc'])} | {number(s['ap'])} | "
                             f"{number(s['block_r'])} | {s['seconds']:.2f} |")
            elif city in entry["errors"]:
                lines.append(f"| {name} | {city} | failed: {entry['errors'][city][:80]} | | | |")
        m = entry["mean"]
        shown = "mean" if entry["scored_cities"] == len(result["cities"]) else f"mean of {entry['scored_cities']}"
        lines.append(f"| **{name}** | **{shown}** | **{number(m['auroc'])}** | **{number(m['ap'])}** | "
                     f"**{number(m['block_r'])}** | {entry['seconds']:.2f} |")
    for method, why in result["skipped"].items():
        lines.append(f"| {method} | skipped: {why} | | | | |")
    check = reference_check(result)
    if check and list(result["cities"]) == list(oscd.LABELLED):
        lines += ["", "Baseline means against ../shared/data/README.md (reproduced / README):", "",
                  "| Baseline | AUROC | AP | block r |", "| --- | ---: | ---: | ---: |"]
        for name, deltas in check.items():
            cells = [f"{number(result['methods'][name]['mean'][f], 4)} / {REFERENCE[name][f]:.3f}" for f in FIGURES]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        worst = max(abs(d) for deltas in check.values() for d in deltas.values())
        verdict = "within" if worst <= TOLERANCE else "NOT within"
        lines += ["", f"Largest difference {worst:.4f}: {verdict} ±{TOLERANCE}."]
    return "\n".join(lines) + "\n"


def jsonable(value):
    """``value`` with NumPy scalars and arrays made plain, and NaN or infinity made None."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=str(DEFAULT_ROOT), help="the OSCD folder (default: %(default)s)")
    parser.add_argument("--methods", default=",".join(DEFAULT_METHODS),
                        help="ChangeDetect methods, comma-separated; empty for none (default: %(default)s)")
    parser.add_argument("--baselines", default=",".join(BASELINES), help="default: %(default)s")
    parser.add_argument("--cities", default=",".join(oscd.LABELLED), help="default: the labelled cities")
    parser.add_argument("--model", help="model id given to detect (default: its default model)")
    parser.add_argument("--workdir", help="keep the stacks and outputs here (default: a temporary folder)")
    parser.add_argument("--markdown", help="also write the markdown table here")
    parser.add_argument("--json", help="write the full result as JSON here")
    parser.add_argument("--record", action="store_true",
                        help="write the mean figures into the evaluated model's metadata.json ('evaluation')")
    args = parser.parse_args(argv)
    if not Path(args.root, "images").is_dir():
        parser.error(f"no OSCD dataset at {args.root} (give --root)")
    split = lambda text: [part.strip() for part in text.split(",") if part.strip()]  # noqa: E731
    result = evaluate(args.root, split(args.methods), args.workdir, split(args.cities), split(args.baselines),
                      progress=lambda text: print(text, file=sys.stderr, flush=True), model=args.model)
    text = markdown(result)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text)
    if args.json:
        Path(args.json).write_text(json.dumps(jsonable(result), indent=2, default=str, allow_nan=False) + "\n")
    failed = any(entry["errors"] for entry in result["methods"].values())
    if args.record and not failed:
        record_in_model(result, args.model)
    return 1 if failed else 0


def record_in_model(result, model_id=None):
    """Store the mean (and per-city) figures in the model's metadata, beside its weights."""
    from candela.change import changedetect as module

    model = module.load_model(model_id)
    path = model.weights.parent / "metadata.json"
    metadata = json.loads(path.read_text())
    rounded = lambda figures: {k: round(figures[k], 4) for k in FIGURES}  # noqa: E731
    metadata["evaluation"] = dict(
        dataset="OSCD labelled cities (labels: 2 = change); date 2 resampled onto the date-1 grid",
        cities=list(result["cities"]),
        date=result["started"],
        script="benchmarks/evaluate_oscd.py --record",
        mean={name: rounded(entry["mean"]) for name, entry in result["methods"].items()},
        per_city={city: rounded(figures) for city, figures in result["methods"]["autoencoder"]["cities"].items()}
        if "autoencoder" in result["methods"] else {},
    )
    path.write_text(json.dumps(metadata, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
