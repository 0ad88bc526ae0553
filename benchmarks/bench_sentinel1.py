"""Speed and memory of Sentinel-1 GRD calibration and geocoding. Run by hand, never by CI::

    .venv/bin/python benchmarks/bench_sentinel1.py [--resolution 10] [--docs]

The real IW GRDH product in ../shared/data/sentinel1 (real annotation, calibration and noise
XML; its measurement folder is empty) is unpacked once into ``benchmarks/out/`` and given
synthetic DN rasters of the annotated size (25931 x 16854 px per polarisation, by
``candela.datasets.synthetic_s1.write_grd_measurements``). Then ``candela.conversion.grd2tiff.calibrate``
writes sigma nought (VV and VH) on a UTM grid at ``--resolution`` metres in its own process:
wall time and peak RSS (GNU time). With ``--docs`` the figures go to the "Sentinel-1
calibration speed" section of docs/benchmarks.md.
"""

import argparse
import json
import sys
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_jpeg2tiff import environment, measure, write_docs  # noqa: E402

OUT = ROOT / "benchmarks" / "out"
PRODUCT = ROOT.parent / "shared" / "data" / "sentinel1" / \
    "S1A_IW_GRDH_1SDV_20210119T031653_20210119T031718_036201_043ED0_8255.zip"


def prepared_product():
    """The unpacked product with synthetic measurement rasters (cached)."""
    from candela.datasets.synthetic_s1 import write_grd_measurements

    folder = OUT / "s1-grd"
    safe = folder / (PRODUCT.stem + ".SAFE")
    if not (safe / "measurement").is_dir() or not any((safe / "measurement").glob("*.tiff")):
        folder.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(PRODUCT) as archive:
            archive.extractall(folder)
        write_grd_measurements(safe, seed=0)
    return safe


def run_calibrate(safe, destination, resolution, result_path):
    """In a child process: one calibration, its result written as JSON."""
    from candela.conversion.grd2tiff import calibrate
    from candela.safe.sentinel1 import read_product

    started = time.perf_counter()
    result = calibrate(read_product(safe), destination, resolution=resolution)
    result = {k: str(v) for k, v in result.items()}
    result["seconds"] = time.perf_counter() - started
    Path(result_path).write_text(json.dumps(result))


def section(wall, rss, resolution, result, environment_text):
    size_mib = Path(result["path"]).stat().st_size / 2**20
    return f"""## Sentinel-1 calibration speed

{time.strftime('%Y-%m-%d')}: {environment_text}.

`benchmarks/bench_sentinel1.py`: the real IW GRDH product of `../shared/data/sentinel1`
(S1A, 2021-01-19; real annotation, calibration and noise LUTs) with synthetic DN rasters of the
annotated size, 25931 x 16854 px per polarisation (a constant background with blocks,
DEFLATE: they decode faster than real, uncompressed and speckled, ones). `sentinel1.calibrate`
computes sigma nought with thermal-noise removal for VV and VH and warps it through the
product's GCPs (thin-plate spline) onto a UTM grid at {resolution:g} m, in its own process.

| resolution | grid (px) | wall time (s) | peak RSS (MiB) | output (MiB) |
|---|---|---:|---:|---:|
| {resolution:g} m | {result['width']} x {result['height']} | {wall:.1f} | {rss:.0f} | {size_mib:.0f} |

"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resolution", type=float, default=10.0)
    parser.add_argument("--docs", action="store_true", help="write the figures into docs/benchmarks.md")
    args = parser.parse_args()
    if not PRODUCT.exists():
        raise SystemExit(f"needs {PRODUCT}")
    safe = prepared_product()
    destination = OUT / f"s1-sigma0-{args.resolution:g}m.tif"
    result_path = OUT / "s1-calibrate.json"
    code = (f"import sys; sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); import bench_sentinel1 as b; "
            f"b.run_calibrate({str(safe)!r}, {str(destination)!r}, {args.resolution!r}, {str(result_path)!r})")
    wall, rss = measure([sys.executable, "-c", code])
    result = json.loads(result_path.read_text())
    text = section(wall, rss, args.resolution, result, environment())
    print(text)
    if args.docs:
        write_docs(text, "Sentinel-1 calibration speed")


if __name__ == "__main__":
    main()
