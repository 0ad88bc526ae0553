"""What each ChangeDetect target keeps and drops on the labelled OSCD cities. Run by hand, never by CI::

    .venv/bin/python benchmarks/bench_change_targets.py [--cities bercy,paris,rennes] [--crop 256]

For each city, both dates' B02, B03, B04, B08, B11 and B12 are stacked on the date-1 10 m
grid (20 m bands and date 2 resampled bilinearly, :func:`candela.datasets.oscd.write_stack`),
cut to the top-left ``crop`` x ``crop`` pixels if asked, and
:func:`candela.change.changedetect.detect` (method autoencoder, default model) runs once per
target. Per target: the fraction of the image flagged at 0.5, the fraction of the labelled
change flagged at 0.5 ("kept") and the AUROC of the map against the labels. OSCD labels
are urban change, so ``urban`` should keep most of them and ``vegetation_loss`` few.
Prints a markdown table (per city, then the means over the cities).
"""

import argparse
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import rasterio
from rasterio.windows import Window

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_jpeg2tiff import environment  # noqa: E402
from candela.change import changedetect  # noqa: E402
from candela.change.metrics import auroc  # noqa: E402
from candela.change.targets import TARGETS  # noqa: E402
from candela.datasets import oscd  # noqa: E402

DEFAULT_ROOT = ROOT.parent / "shared" / "data" / "oscd"
BANDS = ("B02", "B03", "B04", "B08", "B11", "B12")
DEFAULT_CITIES = oscd.LABELLED


def city_pair(root, city, folder, crop):
    """The two dates' 6-band stacks of ``city`` (top-left ``crop`` pixels; None: all) and its label."""
    labels = oscd.read_labels(root, city)[:crop, :crop]
    paths = []
    for index in (1, 2):
        stack, profile = oscd.read_stack(root, city, index, bands=BANDS, grid_of=1)
        stack = stack[:, :crop, :crop]
        window = Window(0, 0, stack.shape[2], stack.shape[1])
        profile = dict(profile, height=stack.shape[1], width=stack.shape[2],
                       transform=rasterio.windows.transform(window, profile["transform"]))
        paths.append(oscd.save_stack(stack, profile, folder / f"{city}_{index}.tif"))
    return paths, labels


def score_city(root, city, folder, crop):
    """``{target: {"flagged", "kept", "auroc", "seconds"}}`` for one city, and its pixel counts."""
    (before, after), labels = city_pair(root, city, folder, crop)
    figures = {}
    for target in TARGETS:
        started = time.perf_counter()
        destination = folder / f"{city}_{target}.tif"
        changedetect.detect(before, after, destination, method="autoencoder", target=target)
        with rasterio.open(destination) as dataset:
            probability = dataset.read(1).astype(np.float64)
        valid = np.isfinite(probability)
        flagged = valid & (probability > 0.5)
        figures[target] = dict(flagged=flagged.sum() / valid.sum(), kept=flagged[labels & valid].mean(),
                               auroc=auroc(probability, labels), seconds=time.perf_counter() - started)
    return figures, dict(pixels=labels.size, changed=int(labels.sum()))


def markdown(results, counts, crop, seconds):
    command = "benchmarks/bench_change_targets.py" + (f" --crop {crop}" if crop else "")
    lines = [f"{date.today().isoformat()}: {environment()}. `{command}` ({seconds:.0f} s in all).", "",
             "| city (px, labelled) | target | flagged at 0.5 | labelled change kept | AUROC |",
             "|---|---|---:|---:|---:|"]
    for city, figures in results.items():
        shown = f"{city} ({counts[city]['pixels']}, {counts[city]['changed']})"
        for target, f in figures.items():
            lines.append(f"| {shown} | `{target}` | {f['flagged']:.4f} | {f['kept']:.3f} | {f['auroc']:.3f} |")
    for target in TARGETS:
        mean = {k: np.mean([results[c][target][k] for c in results]) for k in ("flagged", "kept", "auroc")}
        lines.append(f"| **mean** | `{target}` | {mean['flagged']:.4f} | {mean['kept']:.3f} | {mean['auroc']:.3f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=str(DEFAULT_ROOT), help="the OSCD folder (default: %(default)s)")
    parser.add_argument("--cities", default=",".join(DEFAULT_CITIES), help="labelled cities (default: %(default)s)")
    parser.add_argument("--crop", type=int, help="keep only the top-left crop x crop pixels (default: whole cities)")
    args = parser.parse_args(argv)
    if not Path(args.root, "images").is_dir():
        parser.error(f"no OSCD dataset at {args.root} (give --root)")
    started = time.perf_counter()
    results, counts = {}, {}
    with tempfile.TemporaryDirectory() as folder:
        for city in [c.strip() for c in args.cities.split(",") if c.strip()]:
            results[city], counts[city] = score_city(args.root, city, Path(folder), args.crop)
            print(f"{city}: " + ", ".join(f"{t} kept {f['kept']:.3f} AUROC {f['auroc']:.3f}"
                                          for t, f in results[city].items()), file=sys.stderr, flush=True)
    print(markdown(results, counts, args.crop, time.perf_counter() - started))


if __name__ == "__main__":
    main()
