"""Benchmark of FusionClassify on a full-size 10980 x 10980 scene: 10 optical bands and VV/VH.

Run by hand (``.venv/bin/python benchmarks/bench_fusionclassify.py``), never by CI. It writes,
under benchmarks/out/fusion/, a 1098 px generated scene (candela.datasets.synthetic_fusion)
with four more Sentinel-2 bands (B05, B06, B07, B8A, interpolated between their neighbours)
and mosaics it 10 x 10 through GDAL VRTs into a full tile; samples 10 000 labelled points
over the tile; then runs ``candela.classification.classify.classify`` (features fusion, 20
suggestions) in this process and reports the wall time of training (features at the samples,
blocked cross-validation of every fusion, the final forests) and of the whole run, and the
peak RSS. Prints the figures; the docs record them by hand.
"""

import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
import rasterio

from candela.classification import classify as core
from candela.datasets.synthetic_fusion import sample_points, write_fusion_scene

OUT = Path(__file__).resolve().parent / "out" / "fusion"
TILE, REPEAT = 1098, 10
BANDS = ("B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12")


def ten_bands(scene, path):
    """The scene's optical image with B05, B06, B07 and B8A added between B04 and B08."""
    with rasterio.open(scene.optical[0]) as source:
        six = dict(zip(source.descriptions, source.read().astype("float32")))
        profile = source.profile | {"count": len(BANDS), "tiled": True, "blockxsize": 512, "blockysize": 512}
        tags = source.tags()
    red, nir = six["B04"], six["B08"]
    six |= {"B05": red * 0.7 + nir * 0.3, "B06": red * 0.4 + nir * 0.6, "B07": red * 0.2 + nir * 0.8, "B8A": nir}
    with rasterio.open(path, "w", **profile) as out:
        out.write(np.stack([six[b] for b in BANDS]).astype("uint16"))
        out.descriptions = BANDS
        out.update_tags(**tags)
    return path


def mosaic(tile, path, names):
    """A VRT of ``tile`` repeated REPEAT x REPEAT times, bands named and tags kept."""
    with rasterio.open(tile) as source:
        t, tags, dtype, nodata = source.transform, source.tags(), source.dtypes[0], source.nodata
    size = TILE * REPEAT
    geo = f"{t.c}, {t.a}, 0, {t.f}, 0, {t.e}"
    vrt_type = {"uint16": "UInt16", "float32": "Float32"}[dtype]
    metadata = "".join(f'<MDI key="{k}">{v}</MDI>' for k, v in tags.items())
    bands = []
    for index, name in enumerate(names, 1):
        sources = "".join(
            f'<SimpleSource><SourceFilename relativeToVRT="1">{tile.name}</SourceFilename><SourceBand>{index}'
            f'</SourceBand><SrcRect xOff="0" yOff="0" xSize="{TILE}" ySize="{TILE}"/><DstRect xOff="{c * TILE}" '
            f'yOff="{r * TILE}" xSize="{TILE}" ySize="{TILE}"/></SimpleSource>'
            for r in range(REPEAT) for c in range(REPEAT))
        bands.append(f'<VRTRasterBand dataType="{vrt_type}" band="{index}"><Description>{name}</Description>'
                     f'<NoDataValue>{"nan" if nodata != nodata else nodata}</NoDataValue>{sources}</VRTRasterBand>')
    path.write_text(f'<VRTDataset rasterXSize="{size}" rasterYSize="{size}"><SRS>EPSG:32633</SRS>'
                    f'<GeoTransform>{geo}</GeoTransform><Metadata>{metadata}</Metadata>{"".join(bands)}</VRTDataset>')
    return path


def samples(scene, count):
    """``count`` labelled points spread over the mosaic (the tile's points, shifted to each copy)."""
    import geopandas
    import pandas

    per_tile = sample_points(scene, count // (4 * REPEAT * REPEAT), seed=0)
    width = TILE * abs(scene.grid.transform.a)
    shifted = [per_tile.set_geometry(per_tile.geometry.translate(c * width, -r * width))
               for r in range(REPEAT) for c in range(REPEAT)]
    return geopandas.GeoDataFrame(pandas.concat(shifted, ignore_index=True), crs=per_tile.crs)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    scene = write_fusion_scene(OUT / "scene", size=TILE, seed=0)
    optical = mosaic(ten_bands(scene, OUT / "s2_tile.tif"), OUT / "s2.vrt", BANDS)
    sar = mosaic(scene.sar, OUT / "s1.vrt", ("VV", "VH"))
    sar_tile = OUT / scene.sar.name
    if not sar_tile.exists():
        sar_tile.symlink_to(scene.sar)
    training = samples(scene, 10_000)
    marks = {}

    def progress(fraction, message):
        marks.setdefault(message, time.monotonic())

    start = time.monotonic()
    result = core.classify([("s2.vrt", optical)], [("s1.vrt", sar)], training, OUT / "run", suggestions=20,
                           progress=progress)
    total = time.monotonic() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report = result["report"]
    figures = {
        "pixels": f"{TILE * REPEAT} x {TILE * REPEAT}", "samples": len(training),
        "training_pixels": report["training"]["pixels"], "features": len(report["features"]),
        "train_s (features at samples, CV of 4 fusions x 5 folds, final forest)":
            round(marks.get("classifying", time.monotonic()) - start, 1),
        "classify_s (features, prediction, maps, COG copy)": round(start + total - marks["classifying"], 1),
        "total_s": round(total, 1), "peak_rss_mb": round(peak), "kappa_features": report["validation"]
        ["by_fusion"]["features"]["kappa"], "classifier_threads": "all cores",
    }
    json.dump(figures, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
