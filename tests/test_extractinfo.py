"""ExtractInfo: grouping by place, time order, pairs and rejections."""

import itertools
import json
import zipfile
from datetime import datetime, timezone

import numpy as np
import pytest
import rasterio
import shapely
from rasterio.warp import transform as warp_transform
from rasterio.warp import transform_bounds

from candela.rasters.dating import ACQUISITION_TAG
from candela.pairing.extractinfo import extract_info
from candela.datasets.synthetic_s2 import write_product

from helpers.paths import shared_path
from helpers.rasters import PARIS, day, write_tif

UTC = timezone.utc


def all_names(group):
    names = sorted(name for acquisition in group["acquisitions"] for name in acquisition["images"])
    assert sorted(image["name"] for image in group["images"]) == names
    return names


def test_two_places_make_two_groups(tmp_path):
    items = [
        ("a1", write_tif(tmp_path / "a1.tif", west=440000, when=day(1))),
        ("a2", write_tif(tmp_path / "a2.tif", west=440000, when=day(5))),
        ("b1", write_tif(tmp_path / "b1.tif", west=480000, when=day(2))),
        ("b2", write_tif(tmp_path / "b2.tif", west=480000, when=day(9))),
    ]
    result = extract_info(items)
    assert [all_names(group) for group in result["groups"]] == [["a1", "a2"], ["b1", "b2"]]
    assert [group["id"] for group in result["groups"]] == [1, 2]
    assert [(p["before"], p["after"], p["days"]) for p in result["groups"][1]["pairs"]] == [("b1", "b2", 7.0)]
    assert result["rejected"] == []


def test_overlaps_chain_into_one_group(tmp_path):
    # A (0-2 km) overlaps B (1.5-3.5 km) overlaps C (3-5 km); A and C do not touch.
    items = [(name, write_tif(tmp_path / f"{name}.tif", west=440000 + offset, when=day(n)))
             for name, offset, n in (("A", 0, 3), ("B", 1500, 1), ("C", 3000, 2))]
    groups = extract_info(items)["groups"]
    assert len(groups) == 1
    assert [p["before"] + p["after"] for p in groups[0]["pairs"]] == ["BC", "CA"]
    assert [p["overlap"] for p in groups[0]["pairs"]] == [0.25, 0.0]


def test_a_sliver_of_overlap_does_not_join_places(tmp_path):
    # Side by side 2 km squares: 10 m of overlap (0.5 %) is not one place, 100 m (5 %) is.
    def groups(shift):
        items = [("A", write_tif(tmp_path / "A.tif", west=440000, when=day(1))),
                 ("B", write_tif(tmp_path / "B.tif", west=440000 + shift, when=day(2)))]
        return extract_info(items)["groups"]

    assert len(groups(2000 - 10)) == 2
    assert len(groups(2000 - 100)) == 1


def test_two_utm_zones_over_one_place(tmp_path):
    # A square in UTM 31 near its eastern edge, and one in UTM 32 enclosing its eastern half.
    west, north = 700000.0, 5400000.0
    a = write_tif(tmp_path / "a.tif", crs="EPSG:32631", west=west, north=north, size=(100, 100), when=day(1))
    half = transform_bounds("EPSG:32631", "EPSG:32632", west + 5000, north - 10000, west + 15000, north, densify_pts=21)
    b = write_tif(tmp_path / "b.tif", crs="EPSG:32632", west=half[0], north=half[3],
                  size=(round((half[2] - half[0]) / 100), round((half[3] - half[1]) / 100)), when=day(11))
    groups = extract_info([("b", b), ("a", a)])["groups"]
    assert len(groups) == 1
    (pair,) = groups[0]["pairs"]
    assert (pair["before"], pair["after"], pair["same_grid"]) == ("a", "b", False)
    # The same fraction measured independently, in UTM 31 metres.
    a_in_31, b_in_31 = outline_in(a, "EPSG:32631"), outline_in(b, "EPSG:32631")
    expected = a_in_31.intersection(b_in_31).area / min(a_in_31.area, b_in_31.area)
    assert 0.4 < expected < 0.6
    assert pair["overlap"] == pytest.approx(expected, abs=0.005)


def outline_in(path, crs):
    """A raster's outline, densified, as a polygon in ``crs``."""
    with rasterio.open(path) as dataset:
        ring = shapely.box(*dataset.bounds).segmentize(abs(dataset.transform.a)).exterior.coords
        return shapely.Polygon(zip(*warp_transform(dataset.crs, crs, *zip(*ring))))


def test_across_the_antimeridian(tmp_path):
    # At 65 N, 10 km squares: one just west of 180 and one across it (UTM 60), one just east (UTM 1).
    items = [
        ("before 180", write_tif(tmp_path / "b.tif", crs="EPSG:32660", west=627000, north=7215000, size=(100, 100),
                                 when=day(1))),
        ("across", write_tif(tmp_path / "a.tif", crs="EPSG:32660", west=635000, north=7215000, size=(100, 100),
                             when=day(2))),
        ("after 180", write_tif(tmp_path / "c.tif", crs="EPSG:32601", west=361000, north=7215000, size=(100, 100),
                                when=day(3))),
    ]
    (group,) = extract_info(items)["groups"]
    west_lon, _, east_lon, _ = group["footprint_lonlat"]
    assert 179.6 < west_lon < 179.8 and -179.8 < east_lon < -179.6
    across, after = outline_in(items[1][1], "EPSG:32660"), outline_in(items[2][1], "EPSG:32660")
    expected = across.intersection(after).area / min(across.area, after.area)
    assert 0.05 < expected < 0.5
    assert group["pairs"][1]["overlap"] == pytest.approx(expected, abs=0.005)


def test_same_grid_needs_the_same_transform_and_size(tmp_path):
    items = [
        ("d1", write_tif(tmp_path / "d1.tif", when=day(1))),
        ("d2", write_tif(tmp_path / "d2.tif", when=day(2))),
        ("d3", write_tif(tmp_path / "d3.tif", size=(21, 20), when=day(3))),
        ("d4", write_tif(tmp_path / "d4.tif", size=(21, 20), west=440050, when=day(4))),
    ]
    (group,) = extract_info(items)["groups"]
    assert [p["same_grid"] for p in group["pairs"]] == [True, False, False]


def test_rejected_inputs_are_reported_by_name(tmp_path):
    text = tmp_path / "notes.tif"
    text.write_text("not a raster")
    not_product = tmp_path / "bundle.zip"
    with zipfile.ZipFile(not_product, "w") as archive:
        archive.writestr("readme.txt", "hello")
    no_crs = tmp_path / "no_crs.tif"
    with pytest.warns(rasterio.errors.NotGeoreferencedWarning), \
            rasterio.open(no_crs, "w", driver="GTiff", width=4, height=4, count=1, dtype="uint8") as dataset:
        dataset.write(np.zeros((1, 4, 4), "uint8"))
        dataset.update_tags(**{ACQUISITION_TAG: "2020-01-01T00:00:00Z"})
    items = [
        ("good.tif", write_tif(tmp_path / "good.tif", when=day(1))),
        ("https://example.org/undated.tif", write_tif(tmp_path / "undated.tif")),
        ("upload 2", text),
        ("bundle.zip", not_product),
        ("no_crs.tif", no_crs),
    ]
    result = extract_info(items)
    rejected = {entry["name"]: entry["reason"] for entry in result["rejected"]}
    assert sorted(rejected) == ["bundle.zip", "https://example.org/undated.tif", "no_crs.tif", "upload 2"]
    assert "acquisition time" in rejected["https://example.org/undated.tif"]
    assert "not a raster" in rejected["upload 2"]
    assert "Sentinel-2" in rejected["bundle.zip"]
    assert "coordinate reference system" in rejected["no_crs.tif"]
    assert [all_names(group) for group in result["groups"]] == [["good.tif"]]
    assert str(tmp_path) not in json.dumps(result)


def test_output_is_plain_json(tmp_path):
    items = [(f"T31UDQ_2020010{n}T105000_B02.tif", write_tif(tmp_path / f"{n}.tif")) for n in (1, 2)]
    result = extract_info(items)
    assert json.loads(json.dumps(result)) == result
    (group,) = result["groups"]
    assert group["tiles"] == ["31UDQ"]
    assert group["acquisitions"] == [{"time": "2020-01-01T10:50:00Z", "images": ["T31UDQ_20200101T105000_B02.tif"]},
                                     {"time": "2020-01-02T10:50:00Z", "images": ["T31UDQ_20200102T105000_B02.tif"]}]
    image = group["images"][0]
    assert image == {
        "name": "T31UDQ_20200101T105000_B02.tif", "kind": "raster", "time": "2020-01-01T10:50:00Z",
        "time_source": "name", "tile": "31UDQ", "crs": PARIS, "width": 20, "height": 20,
        "bounds_lonlat": image["bounds_lonlat"],
    }
    west, south, east, north = image["bounds_lonlat"]
    # UTM 31N (440000, 5408000)-(442000, 5410000) is near Paris.
    assert 2.18 < west < east < 2.21 and 48.82 < south < north < 48.841
    assert group["footprint_lonlat"] == image["bounds_lonlat"]


def test_pairs_follow_time_whatever_the_input_order(tmp_path):
    items = [(name, write_tif(tmp_path / f"{name}.tif", when=when))
             for name, when in (("jan", day(1)), ("mid", day(15)), ("end", day(31, hour=23)))]
    results = [extract_info(list(order)) for order in itertools.permutations(items)]
    assert all(result == results[0] for result in results)
    pairs = results[0]["groups"][0]["pairs"]
    assert [(p["before"], p["after"]) for p in pairs] == [("jan", "mid"), ("mid", "end")]
    assert [p["before_date"] for p in pairs] == ["2020-01-01T10:00:00Z", "2020-01-15T10:00:00Z"]
    assert pairs[1]["days"] == pytest.approx(16 + 13 / 24, abs=1e-4)


def test_bands_of_one_date_are_one_acquisition(tmp_path):
    items = []
    for date in ("20200101T105000", "20200111T105000"):
        items.append((f"T31UDQ_{date}_B01.tif", write_tif(tmp_path / f"{date}_B01.tif", size=(4, 4), pixel=500)))
        items.append((f"T31UDQ_{date}_B8A.tif", write_tif(tmp_path / f"{date}_B8A.tif", size=(20, 20), pixel=100)))
    (group,) = extract_info(items)["groups"]
    assert [len(acquisition["images"]) for acquisition in group["acquisitions"]] == [2, 2]
    assert [image["name"][-7:-4] for image in group["images"]] == ["B01", "B8A", "B01", "B8A"]
    (pair,) = group["pairs"]
    # The finer band speaks for the date, even though B01 sorts first.
    assert (pair["before"], pair["after"]) == ("T31UDQ_20200101T105000_B8A.tif", "T31UDQ_20200111T105000_B8A.tif")
    assert pair["before_images"] == ["T31UDQ_20200101T105000_B01.tif", "T31UDQ_20200101T105000_B8A.tif"]
    assert (pair["days"], pair["same_grid"]) == (10.0, True)


def test_close_times_are_one_acquisition_distant_ones_are_not(tmp_path):
    items = [("a", write_tif(tmp_path / "a.tif", when=day(1, minute=0))),
             ("b", write_tif(tmp_path / "b.tif", when=day(1, minute=10))),
             ("c", write_tif(tmp_path / "c.tif", when=day(1, hour=12)))]
    (group,) = extract_info(items)["groups"]
    assert [a["images"] for a in group["acquisitions"]] == [["a", "b"], ["c"]]
    assert [p["days"] for p in group["pairs"]] == [pytest.approx(2 / 24, abs=1e-4)]


def test_no_images_gives_empty_lists():
    assert extract_info([]) == {"groups": [], "rejected": []}


# --- zipped Sentinel-2 products ------------------------------------------------------------


def test_zipped_products_are_paired_with_rasters_of_the_same_place(tmp_path):
    first = write_product(tmp_path / "p1", tile="T31TCJ", sensing_time=datetime(2022, 10, 5, 10, 56, 21, tzinfo=UTC),
                          size_10m=120, bands=("B02",), resolutions=(10,), zipped=True, ulx=300000, uly=4900020)
    # A GeoTIFF over the product's western half, in longitude/latitude, ten days later.
    west, south, east, north = transform_bounds(PARIS, "EPSG:4326", 300000, 4898820, 300600, 4900020)
    later = write_tif(tmp_path / "later.tif", crs="EPSG:4326", west=west, north=north, size=(10, 20),
                      pixel=(north - south) / 20, when=datetime(2022, 10, 15, 10, 56, 21, tzinfo=UTC))
    result = extract_info([("later.tif", later), ("product.zip", first)])
    assert result["rejected"] == []
    (group,) = result["groups"]
    product = group["images"][0]
    assert {key: product[key] for key in ("name", "kind", "time", "time_source", "tile", "crs", "width", "height")} == {
        "name": "product.zip", "kind": "sentinel2", "time": "2022-10-05T10:56:21Z", "time_source": "product",
        "tile": "31TCJ", "crs": PARIS, "width": 120, "height": 120}
    (pair,) = group["pairs"]
    assert (pair["before"], pair["after"], pair["days"], pair["same_grid"]) == ("product.zip", "later.tif", 10.0, False)
    # The same fraction measured independently, in UTM 31 metres.
    tif = outline_in(later, PARIS)
    tile = shapely.box(300000, 4898820, 301200, 4900020)
    expected = tile.intersection(tif).area / min(tile.area, tif.area)
    assert 0.9 < expected < 0.99
    assert pair["overlap"] == pytest.approx(expected, abs=0.005)


# --- real data -------------------------------------------------------------------------

CITIES = ("abudhabi", "saclay_e", "paris", "rennes", "milano", "lasvegas", "beihai", "rio")


def oscd_dates(city_folder):
    lines = (city_folder / "dates.txt").read_text().splitlines()
    dates = dict(line.split(":") for line in lines if ":" in line)
    return [datetime.strptime(dates[key].strip(), "%Y%m%d").date().isoformat() for key in ("date_1", "date_2")]


@pytest.mark.shared
def test_oscd_cities_become_one_pair_each():
    images = shared_path("data", "oscd", "images")
    items = [(f"{city}/{path.parent.name}/{path.name}", path)
             for city in CITIES for path in sorted((images / city).glob("imgs_*/*_B02.tif"))]
    result = extract_info(items[::-1])
    assert result["rejected"] == []
    assert len(result["groups"]) == len(CITIES)
    for group in result["groups"]:
        (city,) = {name.split("/")[0] for name in all_names(group)}
        (pair,) = group["pairs"]
        assert [pair["before_date"][:10], pair["after_date"][:10]] == oscd_dates(images / city), city
        assert pair["before"].startswith(f"{city}/imgs_1/") and pair["after"].startswith(f"{city}/imgs_2/")
        assert pair["overlap"] > 0.99, city
        # The README: in abudhabi and saclay_e the two dates' rasters differ in size.
        assert pair["same_grid"] is (city not in ("abudhabi", "saclay_e")), city
    abudhabi = next(g for g in result["groups"] if all_names(g)[0].startswith("abudhabi/"))
    assert abudhabi["tiles"] == ["39QZG", "40QBM"]


@pytest.mark.shared
def test_real_product_metadata_zipped(tmp_path):
    safe = shared_path("data", "sentinel2", "S2A_MSIL2A_20221005T115411_N0400_R023_T29UNU_20221005T164454.SAFE")
    target = tmp_path / (safe.stem + ".zip")
    with zipfile.ZipFile(target, "w") as archive:
        for path in [safe / "MTD_MSIL2A.xml", *safe.glob("GRANULE/*/MTD_TL.xml")]:
            archive.write(path, f"{safe.name}/{path.relative_to(safe)}")
    result = extract_info([(target.name, target)])
    assert result["rejected"] == []
    image = result["groups"][0]["images"][0]
    assert (image["tile"], image["time"][:19], image["crs"]) == ("29UNU", "2022-10-05T11:54:11", "EPSG:32629")
    assert (image["width"], image["height"]) == (10980, 10980)
    west, south, east, north = image["bounds_lonlat"]
    assert -10 < west < east < -7 and 52 < south < north < 54
