"""Benchmark of SARChangeDetect's core on a pair of full-size Sentinel-1 IW GRD stacks.

Run by hand (``.venv/bin/python benchmarks/bench_sar.py``), never by CI. The first run writes,
under benchmarks/out/ (kept for later runs), two 25000 x 17000 float32 GeoTIFFs of linear VV
and VH sigma nought (about an IW GRDH scene at 10 m), tiled 512 x 512 and DEFLATE-compressed
with the floating-point predictor as :func:`candela.conversion.grd2tiff.calibrate` writes them: fields
of constant backscatter under 4.4-look gamma speckle, with blocks losing 3 dB in the second
image (clear cuts). Random speckle barely compresses, as in real images.

Then :func:`candela.change.sar.detect` runs end to end (omnibus test, three maps, quicklook) in its
own process, whose wall time and peak RSS (GNU time) are reported, with megapixels per
second. ``--enl estimate`` and ``--event`` time those variants instead.
"""

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"
WIDTH, HEIGHT = 25000, 17000
LOOKS = 4.4
STRIP = 512
START = datetime(2023, 6, 1, 5, 43, 11, tzinfo=timezone.utc)

sys.path.insert(0, str(ROOT))


def stack_paths(width, height):
    folder = OUT / f"s1-{width}x{height}"
    return folder, [folder / f"S1A_IW_GRDH_sigma0_{i + 1}.tif" for i in range(2)]


def synthetic_stack(width, height):
    """The cached pair of images, written on first use."""
    folder, paths = stack_paths(width, height)
    if (folder / "complete").exists():
        return paths
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for number, path in enumerate(paths):
        print(f"writing {path.relative_to(ROOT)} ({width} x {height}, VV+VH float32)", flush=True)
        write_image(path, width, height, number, START + timedelta(days=12 * number))
    (folder / "complete").write_text("synthetic\n")
    return paths


def field_means(rows, width, number):
    """Mean VV, VH sigma0 of a strip: 1 km fields of -14..-6 dB (VH 7 dB lower), clear cuts in image 2."""
    import numpy as np

    field = 100
    row_field, col_field = rows // field, np.arange(width) // field
    seed = (row_field[:, None] * 7919 + col_field[None, :] * 104729) % 1000
    vv_db = -14 + 8 * seed / 1000
    if number == 1:
        cut = (row_field[:, None] % 9 == 4) & (col_field[None, :] % 13 == 6)
        vv_db = np.where(cut, vv_db - 3, vv_db)
    vv = 10 ** (vv_db / 10)
    return np.stack([vv, vv * 10 ** -0.7]).astype(np.float32)


def write_image(path, width, height, number, when):
    import numpy as np
    import rasterio
    from affine import Affine
    from rasterio.windows import Window

    from candela.rasters.dating import format_time

    rng = np.random.default_rng(number)
    profile = dict(driver="GTiff", width=width, height=height, count=2, dtype="float32", nodata=np.nan,
                   crs="EPSG:32631", transform=Affine(10, 0, 500000, 0, -10, 5100000), tiled=True,
                   blockxsize=512, blockysize=512, interleave="band", compress="DEFLATE", predictor=3,
                   BIGTIFF="YES", NUM_THREADS="ALL_CPUS")
    with rasterio.open(path, "w", **profile) as out:
        out.descriptions = ("VV", "VH")
        out.update_tags(ACQUISITION_DATE=format_time(when))
        for row in range(0, height, STRIP):
            rows = min(STRIP, height - row)
            means = field_means(np.arange(row, row + rows), width, number)
            speckle = rng.standard_gamma(LOOKS, size=means.shape, dtype=np.float32) / np.float32(LOOKS)
            out.write(means * speckle, window=Window(0, row, width, rows))


def run_detect(paths, folder, enl, event):
    """In a child process: the detection measured."""
    from candela.change import sar

    images = [(Path(p).name, p) for p in paths]
    started = time.perf_counter()
    result = sar.detect(images, Path(folder), enl=enl, event_date=event or None)
    summary = result["summary"]
    print(f"  detect: {time.perf_counter() - started:.1f} s; changed fraction {summary['changed_fraction']:.4f}, "
          f"ENL {summary['enl']}", flush=True)


def measure(command):
    """Run ``command``; return (wall seconds, peak RSS in MiB) of that process alone."""
    # GNU time forks from a small process: the peak RSS is the child's, not this process's.
    timer = shutil.which("time", path="/usr/bin:/bin")
    report = OUT / "rss-sar.txt"
    started = time.perf_counter()
    process = subprocess.run([timer, "-f", "%M", "-o", str(report), *command] if timer else command, cwd=ROOT)
    wall = time.perf_counter() - started
    if process.returncode:
        raise SystemExit(f"{' '.join(command[:4])} ... failed with exit status {process.returncode}")
    kib = int(report.read_text().split()[-1]) if timer else 0
    report.unlink(missing_ok=True)
    return wall, kib / 1024


def environment():
    import rasterio

    cpu = platform.processor() or "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB RAM, GDAL {rasterio.__gdal_version__}, "
            f"rasterio {rasterio.__version__}, Python {platform.python_version()}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=int, default=WIDTH)
    parser.add_argument("--height", type=int, default=HEIGHT)
    parser.add_argument("--enl", default=str(LOOKS), help="a number, or 'estimate' (default 4.4)")
    parser.add_argument("--event", default="", help="an event date: time the before/after F test instead")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        folder, *paths = args.child
        run_detect(paths, folder, args.enl, args.event)
        return

    paths = synthetic_stack(args.width, args.height)
    result = OUT / "sar-result"
    if result.exists():
        shutil.rmtree(result)
    result.mkdir(parents=True)
    for path in paths:
        # Every run starts from the page cache, not from the disk.
        with open(path, "rb") as stream:
            while stream.read(1 << 24):
                pass
    load = os.getloadavg()[0]
    command = [sys.executable, str(Path(__file__).resolve()), "--enl", args.enl, "--event", args.event,
               "--child", str(result), *map(str, paths)]
    wall, rss = measure(command)
    megapixels = args.width * args.height / 1e6
    inputs = sum(p.stat().st_size for p in paths) / 2**20
    outputs = {p.name: p.stat().st_size / 2**20 for p in sorted(result.iterdir())}
    print(f"{environment()}; load average before: {load:.2f}")
    print(f"2 images of {args.width} x {args.height} px (VV+VH float32, {inputs:.0f} MiB on disk), "
          f"enl={args.enl}{', event ' + args.event if args.event else ''}")
    print(f"wall time {wall:.1f} s, {megapixels / wall:.2f} Mpx/s (per date), peak RSS {rss:.0f} MiB")
    print("outputs: " + ", ".join(f"{name} {size:.0f} MiB" for name, size in outputs.items()))
    shutil.rmtree(result)


if __name__ == "__main__":
    main()
