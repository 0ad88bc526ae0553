"""Sentinel-1 GRD: the real product's metadata in ../shared, with synthetic measurement rasters.

The real product's ``measurement/`` folder is empty: a module fixture extracts it to a
temporary folder and writes uint16 DN rasters of the annotated size there
(:mod:`candela.datasets.synthetic_s1`), with blocks of known DNs at known lines and pixels. Expected
values are computed here independently of :mod:`candela.safe.sentinel1` and
:mod:`candela.conversion`: from the XML elements,
with plain loops.
"""

import math
import shutil
import zipfile

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.warp import transform as warp_transform
from rasterio.windows import Window
from shapely.geometry import Point, Polygon

from candela.datasets import synthetic_s1
from candela.conversion import calibration, geocoding, grd2tiff
from candela.errors import InputError
from candela.safe import sentinel1
from candela.safe.archive import extract_zip
from candela.safe.xml import parse_xml
from helpers.paths import SENTINEL1_NAME, sentinel1_zip

NAME = SENTINEL1_NAME
STEMS = {
    "VV": "s1a-iw-grd-vv-20210119t031653-20210119t031718-036201-043ed0-001",
    "VH": "s1a-iw-grd-vh-20210119t031653-20210119t031718-036201-043ed0-002",
}
WIDTH, HEIGHT = 25931, 16854
BRIGHT = {"VV": 1500, "VH": 600}
# Bright 600 x 600 blocks centred on geolocation grid points (line, pixel), to half a pixel.
NODES = [(8092, 12970), (2023, 2594), (14161, 23346)]
PATTERN = [(line - 300, pixel - 300, 600, 600, BRIGHT) for line, pixel in NODES] + [
    (3000, 100, 400, 400, {"VV": 25, "VH": 12}),  # dark, at near range: DN**2 below the noise
    (8600, 12500, 200, 400, 0),  # no data, beside the first bright block
]
BACKGROUND = synthetic_s1.BACKGROUND
RESOLUTION = 300.0


@pytest.fixture(scope="module")
def safe(tmp_path_factory):
    """A copy of the real product with synthetic measurement rasters (module-wide: do not modify)."""
    folder = extract_zip(sentinel1_zip(), tmp_path_factory.mktemp("s1"))
    safe = folder / f"{NAME}.SAFE"
    synthetic_s1.write_grd_measurements(safe, pattern=PATTERN)
    return safe


@pytest.fixture(scope="module")
def product(safe):
    return sentinel1.read_product(safe)


@pytest.fixture(scope="module")
def calibrated(product, tmp_path_factory):
    """The product calibrated and geocoded at 300 m on its own grid: (result, data, progress calls)."""
    calls = []
    result = grd2tiff.calibrate(product, tmp_path_factory.mktemp("out") / "sigma0.tif", resolution=RESOLUTION,
                                 progress=lambda fraction, message: calls.append((fraction, message)))
    with rasterio.open(result["path"]) as dataset:
        data = dataset.read()
    return result, data, calls


@pytest.fixture(scope="module")
def xml():
    """The real product's XML documents, parsed: {(kind, polarisation): root}."""
    documents = {}
    with zipfile.ZipFile(sentinel1_zip()) as archive:
        for polarisation, stem in STEMS.items():
            for kind, name in (("annotation", f"annotation/{stem}.xml"),
                               ("calibration", f"annotation/calibration/calibration-{stem}.xml"),
                               ("noise", f"annotation/calibration/noise-{stem}.xml")):
                documents[kind, polarisation] = parse_xml(archive.read(f"{NAME}.SAFE/{name}"), name)
    return documents


# --- Independent computations -------------------------------------------------------------


def numbers(element, name):
    return [float(v) for v in element.findtext(name).split()]


def along(positions, values, x):
    """Linear interpolation in plain Python, clamped at the ends."""
    if x <= positions[0]:
        return values[0]
    for k in range(len(positions) - 1):
        if positions[k] <= x <= positions[k + 1]:
            if positions[k + 1] == positions[k]:
                return values[k + 1]
            return values[k] + (x - positions[k]) * (values[k + 1] - values[k]) / (positions[k + 1] - positions[k])
    return values[-1]


def by_hand(root, vector_path, lut, line, pixel):
    """A LUT at (line, pixel): each vector along pixels, then between the vectors along lines."""
    lines, values = [], []
    for vector in root.iterfind(vector_path):
        lines.append(int(vector.findtext("line")))
        values.append(along(numbers(vector, "pixel"), numbers(vector, lut), pixel))
    return along(lines, values, line)


def calibration_by_hand(xml, polarisation, line, pixel):
    return by_hand(xml["calibration", polarisation], "calibrationVectorList/calibrationVector", "sigmaNought",
                   line, pixel)


def noise_by_hand(xml, polarisation, line, pixel):
    root = xml["noise", polarisation]
    noise = by_hand(root, "noiseRangeVectorList/noiseRangeVector", "noiseRangeLut", line, pixel)
    for block in root.iterfind("noiseAzimuthVectorList/noiseAzimuthVector"):
        first_line, last_line = int(block.findtext("firstAzimuthLine")), int(block.findtext("lastAzimuthLine"))
        first_pixel, last_pixel = int(block.findtext("firstRangeSample")), int(block.findtext("lastRangeSample"))
        if first_line <= line <= last_line and first_pixel <= pixel <= last_pixel:
            noise *= along(numbers(block, "line"), numbers(block, "noiseAzimuthLut"), line)
    return noise


def dn_at(polarisation, line, pixel):
    dn = BACKGROUND[polarisation]
    for top, left, lines, pixels, value in PATTERN:
        if top <= line < top + lines and left <= pixel < left + pixels:
            dn = value[polarisation] if isinstance(value, dict) else value
    return dn


def sigma0_by_hand(xml, polarisation, line, pixel):
    dn = dn_at(polarisation, line, pixel)
    if dn == 0:
        return float("nan")
    a = calibration_by_hand(xml, polarisation, line, pixel)
    return max(dn * dn - noise_by_hand(xml, polarisation, line, pixel), 0.0) / (a * a)


def grid_point(xml, line, pixel):
    """(lon, lat) of a geolocation grid point, from the VV annotation."""
    for point in xml["annotation", "VV"].iterfind("geolocationGrid/geolocationGridPointList/geolocationGridPoint"):
        if int(point.findtext("line")) == line and int(point.findtext("pixel")) == pixel:
            return float(point.findtext("longitude")), float(point.findtext("latitude"))
    raise AssertionError(f"no grid point at line {line}, pixel {pixel}")


def utm_outline(xml, crs):
    """The image outline (its edge grid points, in order) as a polygon in ``crs``."""
    points = xml["annotation", "VV"].iterfind("geolocationGrid/geolocationGridPointList/geolocationGridPoint")
    nodes = {(int(p.findtext("line")), int(p.findtext("pixel"))): (float(p.findtext("longitude")),
                                                                 float(p.findtext("latitude"))) for p in points}
    lines, pixels = sorted({l for l, _ in nodes}), sorted({p for _, p in nodes})
    edge = ([(lines[0], p) for p in pixels] + [(l, pixels[-1]) for l in lines[1:]]
            + [(lines[-1], p) for p in reversed(pixels[:-1])] + [(l, pixels[0]) for l in reversed(lines[1:-1])])
    xs, ys = warp_transform("EPSG:4326", crs, [nodes[n][0] for n in edge], [nodes[n][1] for n in edge])
    return Polygon(list(zip(xs, ys)))


def output_position(result, lon, lat):
    """Continuous (col, row) of a lon/lat in the output grid."""
    xs, ys = warp_transform("EPSG:4326", result["crs"], [lon], [lat])
    col, row = ~rasterio.Affine(*result["transform"]) @ (xs[0], ys[0])
    return col, row


def value_at(data, band, col, row):
    """The output pixel holding (col, row); NaN outside the output."""
    row, col = int(math.floor(row)), int(math.floor(col))
    if not (0 <= row < data.shape[1] and 0 <= col < data.shape[2]):
        return float("nan")
    return data[band, row, col]


# --- Metadata -----------------------------------------------------------------------------


def test_reads_the_real_metadata_from_the_zip():
    product = sentinel1.read_product(sentinel1_zip(), require_measurements=False)
    assert product.product_id == NAME
    assert (product.mission, product.mode, product.product_type) == ("S1A", "IW", "GRD")
    assert product.polarisations == ("VV", "VH")
    assert (product.width, product.height) == (WIDTH, HEIGHT)
    assert product.start_time.isoformat() == "2021-01-19T03:16:53.799379+00:00"
    assert product.stop_time.isoformat() == "2021-01-19T03:17:18.797132+00:00"
    assert product.pass_direction == "DESCENDING"
    assert product.ipf_version == "003.31"
    for polarisation in ("VV", "VH"):
        measurement = product.measurement(polarisation)
        assert measurement.path is None  # the real measurement/ folder is empty
        assert (measurement.width, measurement.height) == (WIDTH, HEIGHT)
        assert measurement.pixel_spacing == (10.0, 10.0)
        assert len(measurement.gcps) == 210
        assert measurement.grid.longitude.shape == (10, 21)
        assert list(measurement.grid.lines[[0, -1]]) == [0, HEIGHT - 1]
        assert list(measurement.grid.pixels[[0, -1]]) == [0, WIDTH - 1]
        calibration = measurement.calibration
        assert len(calibration.lines) == 27 and calibration.lines[-1] == 17529
        assert {len(p) for p in calibration.pixels} == {650} and {len(v) for v in calibration.values} == {650}
        noise = measurement.noise_range
        assert len(noise.lines) == 27 and noise.lines[-1] == HEIGHT - 1
        assert {len(p) for p in noise.pixels} == {653}
        blocks = measurement.noise_azimuth
        assert [b.swath for b in blocks] == ["IW1", "IW2", "IW3"]
        assert [(b.first_pixel, b.last_pixel) for b in blocks] == [(0, 8742), (8743, 17561), (17562, 25930)]
        assert [len(b.values) for b in blocks] == [1702, 1704, 1702]
        assert all((b.first_line, b.last_line) == (0, HEIGHT - 1) for b in blocks)


def test_gcps_are_pixel_centres_of_the_grid(xml):
    product = sentinel1.read_product(sentinel1_zip(), require_measurements=False)
    gcps = {(g.row, g.col): (g.x, g.y) for g in product.measurement("VV").gcps}
    assert gcps[(0.5, 0.5)] == grid_point(xml, 0, 0)
    assert gcps[(HEIGHT - 0.5, WIDTH - 0.5)] == grid_point(xml, HEIGHT - 1, WIDTH - 1)


def test_footprint_is_the_grid_outline(xml):
    product = sentinel1.read_product(sentinel1_zip(), require_measurements=False)
    area = sentinel1.footprint(product)
    corners = [grid_point(xml, line, pixel) for line, pixel in
               ((0, 0), (0, WIDTH - 1), (HEIGHT - 1, WIDTH - 1), (HEIGHT - 1, 0))]
    assert area.is_valid
    assert area.area == pytest.approx(Polygon(corners).area, rel=0.01)
    for point in xml["annotation", "VV"].iterfind("geolocationGrid/geolocationGridPointList/geolocationGridPoint"):
        lon, lat = float(point.findtext("longitude")), float(point.findtext("latitude"))
        assert area.buffer(1e-9).contains(Point(lon, lat))


def test_product_grid_is_utm_and_snapped(product, xml):
    crs, transform, width, height = geocoding.product_grid(product, resolution=RESOLUTION)
    assert crs == CRS.from_epsg(32736)  # 33.6 E, 18 S
    assert (transform.a, transform.e) == (RESOLUTION, -RESOLUTION)
    assert transform.c % RESOLUTION == 0 and transform.f % RESOLUTION == 0
    outline = utm_outline(xml, crs)
    left, bottom, right, top = outline.bounds
    assert transform.c <= left < transform.c + RESOLUTION
    assert transform.f - RESOLUTION < top <= transform.f
    assert transform.c + width * RESOLUTION - RESOLUTION < right <= transform.c + width * RESOLUTION
    assert transform.f - height * RESOLUTION <= bottom < transform.f - height * RESOLUTION + RESOLUTION
    with pytest.raises(InputError, match="projected"):
        geocoding.product_grid(product, crs="EPSG:4326")
    with pytest.raises(InputError, match="resolution"):
        geocoding.product_grid(product, resolution=-10)


# --- Errors ---------------------------------------------------------------------------------


def test_refuses_what_is_not_a_sentinel1_grd_product(tmp_path):
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("S2A_MSIL2A_20221005T115411.SAFE/MTD_MSIL2A.xml", "<x/>")
    with pytest.raises(InputError, match="not a Sentinel-1 GRD product"):
        sentinel1.read_product(other)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(InputError, match="not a Sentinel-1 GRD product"):
        sentinel1.read_product(text)
    with pytest.raises(InputError, match="not a Sentinel-1 GRD product"):
        sentinel1.read_product(tmp_path / "absent.zip")
    empty = tmp_path / "empty.SAFE"
    empty.mkdir()
    (empty / "manifest.safe").write_text("<x/>")
    with pytest.raises(InputError, match="not a Sentinel-1 GRD product"):
        sentinel1.read_product(empty)


def test_refuses_an_slc_product(tmp_path):
    folder = extract_zip(sentinel1_zip(), tmp_path)
    for path in (folder / f"{NAME}.SAFE" / "annotation").rglob("*.xml"):
        path.rename(path.with_name(path.name.replace("-grd-", "-slc-")))
    with pytest.raises(InputError, match="not a Sentinel-1 GRD product .it is a SLC product"):
        sentinel1.read_product(folder, require_measurements=False)


def test_refuses_a_product_without_its_measurement_rasters(tmp_path, safe):
    with pytest.raises(InputError, match="VV measurement raster is missing"):
        sentinel1.read_product(sentinel1_zip())
    copy = tmp_path / safe.name
    shutil.copytree(safe, copy)
    (copy / "measurement" / f"{STEMS['VH']}.tiff").unlink()
    with pytest.raises(InputError, match="VH measurement raster is missing"):
        sentinel1.read_product(copy)
    product = sentinel1.read_product(copy, require_measurements=False)
    with pytest.raises(InputError, match="VH measurement raster is missing"):
        grd2tiff.calibrate(product, tmp_path / "out.tif")
    with pytest.raises(InputError, match="VH measurement raster is missing"):
        calibration.sigma0(product, "VH", Window(0, 0, 10, 10))


def test_refuses_a_measurement_of_the_wrong_size(tmp_path, safe):
    copy = tmp_path / safe.name
    shutil.copytree(safe, copy)
    target = copy / "measurement" / f"{STEMS['VH']}.tiff"
    with rasterio.open(target, "w", driver="GTiff", width=100, height=50, count=1, dtype="uint16",
                       crs="EPSG:4326", transform=rasterio.Affine(0.001, 0, 33, 0, -0.001, -17)) as out:
        out.write(np.ones((1, 50, 100), dtype=np.uint16))
    with pytest.raises(InputError, match=f"VH measurement raster is 100 x 50 pixels .* says {WIDTH} x {HEIGHT}"):
        sentinel1.read_product(copy)


def test_refuses_a_product_without_vv(tmp_path):
    folder = extract_zip(sentinel1_zip(), tmp_path)
    for path in (folder / f"{NAME}.SAFE" / "annotation").rglob("*vv*.xml"):
        path.unlink()
    with pytest.raises(InputError, match="no VV measurement"):
        sentinel1.read_product(folder, require_measurements=False)


def test_refuses_metadata_with_a_doctype(tmp_path):
    folder = extract_zip(sentinel1_zip(), tmp_path)
    path = folder / f"{NAME}.SAFE" / "annotation" / "calibration" / f"calibration-{STEMS['VV']}.xml"
    text = path.read_text()
    path.write_text(text.replace("<calibration>", '<!DOCTYPE calibration [<!ENTITY x "1">]>\n<calibration>', 1))
    with pytest.raises(InputError, match="DOCTYPE"):
        sentinel1.read_product(folder, require_measurements=False)


# --- Calibration in sensor geometry ----------------------------------------------------------

# (line, pixel): grid and vector lines, between them, the sub-swath edges (8742 | 8743,
# 17561 | 17562), the image edges and the blocks of the pattern.
POINTS = [(0, 0), (337, 20), (674, 8742), (1000, 8743), (2023, 2594), (3100, 300), (8700, 12600),
          (6069, 17561), (9999, 17562), (12345, 6789), (16180, 25000), (HEIGHT - 1, WIDTH - 1)]


def window_around(line, pixel):
    top, left = max(0, line - 1), max(0, pixel - 1)
    return Window(left, top, min(WIDTH, pixel + 2) - left, min(HEIGHT, line + 2) - top), (line - top, pixel - left)


@pytest.mark.parametrize("polarisation", ["VV", "VH"])
def test_luts_and_sigma0_match_the_formula_at_sample_points(product, xml, polarisation):
    for line, pixel in POINTS:
        window, (row, col) = window_around(line, pixel)
        a = calibration.calibration_lut(product, polarisation, window)
        noise = calibration.noise_lut(product, polarisation, window)
        values = calibration.sigma0(product, polarisation, window)
        assert a.shape == noise.shape == values.shape == (window.height, window.width)
        assert values.dtype == np.float32
        where = f"{polarisation} at line {line}, pixel {pixel}"
        assert a[row, col] == pytest.approx(calibration_by_hand(xml, polarisation, line, pixel), rel=1e-6), where
        assert noise[row, col] == pytest.approx(noise_by_hand(xml, polarisation, line, pixel), rel=1e-6), where
        expected = sigma0_by_hand(xml, polarisation, line, pixel)
        if math.isnan(expected):
            assert math.isnan(values[row, col]), where
        else:
            assert values[row, col] == pytest.approx(expected, rel=1e-5, abs=0), where


def test_a_large_window_matches_the_formula_inside(product, xml):
    # Spans the vector line 674 and the IW1 | IW2 edge (8742 | 8743), and the dark block.
    window = Window(7000, 600, 2000, 150)
    values = calibration.sigma0(product, "VV", window)
    a = calibration.calibration_lut(product, "VV", window)
    for line, pixel in [(600, 7000), (673, 8742), (674, 8743), (700, 7500), (749, 8999), (674, 8000)]:
        row, col = line - 600, pixel - 7000
        assert a[row, col] == pytest.approx(calibration_by_hand(xml, "VV", line, pixel), rel=1e-6)
        assert values[row, col] == pytest.approx(sigma0_by_hand(xml, "VV", line, pixel), rel=1e-5)


def test_noise_above_the_signal_gives_zero_and_dn_zero_gives_nan(product):
    dark = calibration.sigma0(product, "VV", Window(100, 3000, 400, 400))
    assert np.all(dark == 0)  # 25**2 is below the near-range noise, about 2300
    nodata = calibration.sigma0(product, "VV", Window(12490, 8590, 420, 220))
    assert np.isnan(nodata[10:-10, 10:-10]).all()
    assert np.isfinite(nodata[:10]).all() and np.isfinite(nodata[:, :10]).all()


def test_window_outside_the_image_is_refused(product):
    with pytest.raises(ValueError):
        calibration.calibration_lut(product, "VV", Window(WIDTH - 5, 0, 10, 10))
    with pytest.raises(InputError, match="no HH measurement"):
        calibration.sigma0(product, "HH", Window(0, 0, 10, 10))


def test_reads_the_measurements_through_the_zip(tmp_path, safe, product):
    zipped = synthetic_s1.write_zip(safe, tmp_path / f"{NAME}.zip")
    from_zip = sentinel1.read_product(zipped)
    assert from_zip.measurement("VH").path.startswith("/vsizip/")
    window = Window(12500, 7700, 700, 500)
    for polarisation in ("VV", "VH"):
        np.testing.assert_array_equal(calibration.sigma0(from_zip, polarisation, window),
                                      calibration.sigma0(product, polarisation, window))


def test_default_pattern_depends_on_the_seed_only():
    blocks = synthetic_s1.default_pattern(WIDTH, HEIGHT, seed=4)
    assert blocks == synthetic_s1.default_pattern(WIDTH, HEIGHT, seed=4)
    assert blocks != synthetic_s1.default_pattern(WIDTH, HEIGHT, seed=5)
    for block in blocks:
        assert 0 <= block.line and block.line + block.lines <= HEIGHT
        assert 0 <= block.pixel and block.pixel + block.pixels <= WIDTH
        assert block.value("VV") > 0 and block.value("VH") > 0


def test_multilook_averages_and_ignores_nan():
    rng = np.random.default_rng(1)
    values = rng.random((37, 101)).astype(np.float32)
    values[rng.random(values.shape) < 0.3] = np.nan
    values[:8, :8] = np.nan
    looked = calibration.multilook(values, 4)
    assert looked.shape == (10, 26)
    for i in range(10):
        for j in range(26):
            block = values[4 * i:4 * i + 4, 4 * j:4 * j + 4]
            if np.isnan(block).all():
                assert np.isnan(looked[i, j])
            else:
                assert looked[i, j] == pytest.approx(float(np.nanmean(block.astype(np.float64))), rel=1e-6)


# --- Geocoded output ---------------------------------------------------------------------------


def test_calibrated_file(calibrated, product, xml):
    result, data, calls = calibrated
    with rasterio.open(result["path"]) as dataset:
        assert dataset.count == 2 and dataset.dtypes == ("float32", "float32")
        assert dataset.descriptions == ("VV", "VH")
        assert math.isnan(dataset.nodata)
        assert dataset.tags()["ACQUISITION_DATE"] == "2021-01-19T03:16:53.799379Z"
        assert dataset.crs == CRS.from_epsg(32736)
        assert dataset.res == (RESOLUTION, RESOLUTION)
        assert dataset.profile["tiled"] and dataset.compression.name == "deflate"
        assert (dataset.width, dataset.height) == (result["width"], result["height"])
        assert tuple(dataset.transform)[:6] == result["transform"]
    assert (result["crs"], result["polarisations"]) == ("EPSG:32736", ["VV", "VH"])
    assert result["acquisition_time"] == "2021-01-19T03:16:53.799379Z"
    assert (result["width"], result["height"]) == geocoding.product_grid(product, resolution=RESOLUTION)[2:]
    fractions = [fraction for fraction, _ in calls]
    assert fractions == sorted(fractions) and fractions[0] >= 0 and fractions[-1] == 1.0
    # Every value is a power (>= 0) or no data; the valid area is the footprint's.
    assert np.all(np.isnan(data) | (data >= 0))
    valid = np.isfinite(data[0])
    outline = utm_outline(xml, CRS.from_epsg(32736))
    assert valid.sum() * RESOLUTION**2 == pytest.approx(outline.area, rel=0.01)
    np.testing.assert_array_equal(valid, np.isfinite(data[1]))


CORNERS = [(0, 0), (0, WIDTH - 1), (HEIGHT - 1, 0), (HEIGHT - 1, WIDTH - 1),
           (0, 12970), (HEIGHT - 1, 12970), (8092, 0), (8092, WIDTH - 1)]


def test_image_corners_and_edges_land_on_the_geolocation_grid(calibrated, xml):
    result, data, _ = calibrated
    positions = {node: output_position(result, *grid_point(xml, *node)) for node in CORNERS}
    centre_col = sum(c for c, _ in positions.values()) / len(positions)
    centre_row = sum(r for _, r in positions.values()) / len(positions)
    for node, (col, row) in positions.items():
        length = math.hypot(col - centre_col, row - centre_row)
        out_col, out_row = (col - centre_col) / length, (row - centre_row) / length
        for band in (0, 1):
            assert np.isfinite(value_at(data, band, col - 2 * out_col, row - 2 * out_row)), node
            assert np.isnan(value_at(data, band, col + 3 * out_col, row + 3 * out_row)), node


def test_bright_blocks_land_where_the_grid_says(calibrated, xml):
    result, data, _ = calibrated
    bright = data[0] > 1.0
    labels = np.zeros(bright.shape, dtype=int)
    for node in NODES:
        col, row = output_position(result, *grid_point(xml, *node))
        # The block is 6 km (20 pixels) wide: collect the bright pixels within 15 pixels.
        rows, cols = np.nonzero(bright)
        near = np.hypot(rows + 0.5 - row, cols + 0.5 - col) < 15
        assert near.sum() == pytest.approx(400, rel=0.15), node
        assert rows[near].mean() + 0.5 == pytest.approx(row, abs=0.3), node
        assert cols[near].mean() + 0.5 == pytest.approx(col, abs=0.3), node
        labels[rows[near], cols[near]] = 1
        for band, polarisation in enumerate(("VV", "VH")):
            expected = sigma0_by_hand(xml, polarisation, *node)
            assert value_at(data, band, col, row) == pytest.approx(expected, rel=0.02), (node, polarisation)
    # No other bright pixel anywhere.
    assert bright.sum() == labels.sum()
    # The background away from the blocks has the background's sigma nought.
    col, row = output_position(result, *grid_point(xml, 12138, 7782))
    assert value_at(data, 0, col, row) == pytest.approx(sigma0_by_hand(xml, "VV", 12138, 7782), rel=0.02)


def test_calibrates_onto_a_given_grid(product, xml, tmp_path):
    lon, lat = grid_point(xml, *NODES[0])
    (x,), (y,) = warp_transform("EPSG:4326", "EPSG:32736", [lon], [lat])
    # A 100 m grid of 20 km around the first block, not aligned on round coordinates.
    transform = rasterio.Affine(100.0, 0.0, x - 10025.0, 0.0, -100.0, y + 9975.0)
    result = grd2tiff.calibrate(product, tmp_path / "grid.tif", grid=("EPSG:32736", transform, 201, 201))
    with rasterio.open(result["path"]) as dataset:
        assert dataset.transform == transform and (dataset.width, dataset.height) == (201, 201)
        data = dataset.read(1)
    # Only the no-data block (2 km x 4 km: 800 pixels of 100 m) is NaN, give or take its edges.
    assert 650 < np.isnan(data).sum() < 900
    rows, cols = np.nonzero(data > 1.0)
    assert rows.size == pytest.approx(3600, rel=0.1)  # 6 km x 6 km at 100 m
    assert rows.mean() + 0.5 == pytest.approx(99.75, abs=0.3)
    assert cols.mean() + 0.5 == pytest.approx(100.25, abs=0.3)
    far = rasterio.Affine(100.0, 0.0, x + 500000.0, 0.0, -100.0, y)
    with pytest.raises(InputError, match="does not overlap"):
        grd2tiff.calibrate(product, tmp_path / "far.tif", grid=("EPSG:32736", far, 100, 100))


def test_calibrates_at_full_resolution_on_a_small_grid(product, xml, tmp_path):
    # 10 m: no multilooking, bilinear warping. 16 km around the first block and the no-data one.
    lon, lat = grid_point(xml, *NODES[0])
    (x,), (y,) = warp_transform("EPSG:4326", "EPSG:32736", [lon], [lat])
    transform = rasterio.Affine(10.0, 0.0, math.floor(x / 10) * 10 - 8000, 0.0, -10.0, math.floor(y / 10) * 10 + 8000)
    result = grd2tiff.calibrate(product, tmp_path / "fine.tif", grid=("EPSG:32736", transform, 1600, 1600))
    with rasterio.open(result["path"]) as dataset:
        data = dataset.read(1)
    # The block's centre lies half a pixel before the grid point in lines and pixels (a
    # 600-pixel block has no centre pixel): move by the grid's local steps.
    line, pixel = NODES[0]
    node_col, node_row = output_position(result, *grid_point(xml, line, pixel))
    next_col, next_row = output_position(result, *grid_point(xml, line, pixel + 1297))
    below_col, below_row = output_position(result, *grid_point(xml, line + 2023, pixel))
    expected_col = node_col - 0.5 * (next_col - node_col) / 1297 - 0.5 * (below_col - node_col) / 2023
    expected_row = node_row - 0.5 * (next_row - node_row) / 1297 - 0.5 * (below_row - node_row) / 2023
    rows, cols = np.nonzero(data > 1.0)
    # 600 x 600 pixels of 10 m; the map area of a pixel differs from 100 m2 by a few % (relief).
    scale = rows.size / 600**2
    assert scale == pytest.approx(1.0, abs=0.03)
    assert rows.mean() + 0.5 == pytest.approx(expected_row, abs=1.0)
    assert cols.mean() + 0.5 == pytest.approx(expected_col, abs=1.0)
    # The no-data block (200 x 400 pixels) is NaN, widened by one pixel on each side (bilinear
    # warping needs four valid neighbours); there is no other no data.
    rows, cols = np.nonzero(np.isnan(data))
    assert rows.size == pytest.approx(202 * 402 * scale, rel=0.015)
    assert rows.max() - rows.min() < 450 and cols.max() - cols.min() < 450
    background = data[np.isfinite(data) & (data < 1.0)]
    assert np.median(background) == pytest.approx(sigma0_by_hand(xml, "VV", 8092, 12470), rel=0.03)
