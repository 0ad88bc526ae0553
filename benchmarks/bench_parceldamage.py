"""Benchmark of ParcelDamage's ranking on a full-size Sentinel-2 tile: 10980 x 10980 change maps.

Run by hand (``.venv/bin/python benchmarks/bench_parceldamage.py``), never by CI. It writes,
under benchmarks/out/damage/, an optical change map on the 10 m tile grid (float32, tiled,
DEFLATE, windthrow-like blobs of damage and a NaN "cloud"), a SAR map on a 20 m grid of the
same tile, a land-cover map on a 20 m grid offset by half a pixel (forest and meadow) and 3000
parcels of about 10 ha over the tile; then runs ``candela.damage.ranking.rank_parcels`` with
both maps and the land cover (classes=forest) in a child process, once without the land
cover, and reports wall time and the child's peak RSS. Prints the figures; the docs record
them by hand.
"""

import json
import multiprocessing
import resource
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
from rasterio.transform import from_origin
from rasterio.windows import Window
from shapely import affinity
from shapely.geometry import box

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

OUT = Path(__file__).resolve().parent / "out" / "damage"
SIZE, ORIGIN, CRS = 10980, (600000.0, 5900040.0), "EPSG:32634"
PARCELS = 3000
BLOCK = 1098


def write_map(path, size, pixel, offset=0.0, dtype="float32", fill=None):
    """A tiled GeoTIFF over the tile, written block by block by ``fill(rows, cols, rng)``."""
    profile = dict(driver="GTiff", width=size, height=size, count=1, dtype=dtype, crs=CRS, tiled=True,
                   blockxsize=512, blockysize=512, compress="deflate",
                   transform=from_origin(ORIGIN[0] + offset, ORIGIN[1] - offset, pixel, pixel),
                   nodata=float("nan") if dtype == "float32" else 0)
    rng = np.random.default_rng(0)
    step = BLOCK * 10 // pixel
    with rasterio.open(path, "w", **profile) as out:
        for row in range(0, size, step):
            for col in range(0, size, step):
                height, width = min(step, size - row), min(step, size - col)
                out.write(fill(height, width, rng).astype(dtype), 1, window=Window(col, row, width, height))
    return path


def change(height, width, rng):
    values = rng.beta(0.5, 8, (height, width))
    blobs = rng.random((height // 4 + 1, width // 4 + 1)) < 0.05
    values[np.kron(blobs, np.ones((4, 4), bool))[:height, :width]] = 0.95
    return values


def clouded(height, width, rng):
    values = change(height, width, rng)
    values[: height // 8] = np.nan
    return values


def cover(height, width, rng):
    return np.where(rng.random((height // 50 + 1, width // 50 + 1)) < 0.7, 1, 2).repeat(50, 0).repeat(50, 1)[
        :height, :width]


def scene():
    OUT.mkdir(parents=True, exist_ok=True)
    optical = write_map(OUT / "optical.tif", SIZE, 10, fill=clouded)
    sar = write_map(OUT / "sar.tif", SIZE // 2, 20, fill=change)
    landcover = write_map(OUT / "landcover.tif", SIZE // 2, 20, offset=10.0, dtype="uint8", fill=cover)
    with rasterio.open(landcover, "r+") as dataset:
        dataset.update_tags(CLASSES=json.dumps(["forest", "meadow"]))
    rng = np.random.default_rng(1)
    side = 316.0  # about 10 ha
    x = ORIGIN[0] + rng.uniform(0, SIZE * 10 - side, PARCELS)
    y = ORIGIN[1] - rng.uniform(side, SIZE * 10, PARCELS)
    parcels = gpd.GeoDataFrame({"parcel_id": [f"P-{n}" for n in range(PARCELS)]},
                               geometry=[affinity.rotate(box(a, b, a + side, b + side), 17) for a, b in zip(x, y)], crs=CRS)
    return optical, sar, landcover, parcels


def run(queue, optical, sar, landcover, parcels, with_cover):
    from candela.damage.ranking import rank_parcels
    from candela.damage.sources import ChangeSource

    started = time.perf_counter()
    ranking = rank_parcels(parcels, [ChangeSource("optical", optical), ChangeSource("sar", sar)], OUT,
                           landcover=landcover if with_cover else None, classes="forest" if with_cover else None)
    seconds = time.perf_counter() - started
    queue.put({"seconds": round(seconds, 1), "ranked": int(ranking.table["status"].eq("ranked").sum()),
               "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)})


def main():
    started = time.perf_counter()
    optical, sar, landcover, parcels = scene()
    print(f"scene written in {time.perf_counter() - started:.0f} s", flush=True)
    context = multiprocessing.get_context("spawn")
    for with_cover in (True, False):
        queue = context.Queue()
        child = context.Process(target=run, args=(queue, optical, sar, landcover, parcels, with_cover))
        child.start()
        figures = queue.get()
        child.join()
        print(json.dumps({"landcover": with_cover, "parcels": PARCELS, **figures}), flush=True)


if __name__ == "__main__":
    main()
