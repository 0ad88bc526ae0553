"""Labelled samples to labelled pixels: classes read from a field, and the pixels each point,
polygon or line gives on a grid, checked by hand on a 10 x 10 grid of 10 m pixels."""

import geopandas as gpd
import numpy as np
import pytest
from affine import Affine
from pyproj import Transformer
from rasterio.crs import CRS
from shapely.geometry import GeometryCollection, LineString, MultiPoint, Point, box

from candela.classification.samples import SamplePixels, class_labels, sample_pixels
from candela.errors import InputError
from candela.rasters.grid import Grid

#: 10 x 10 pixels of 10 m in UTM 33N; pixel (row, col) spans x 500000 + 10 col .. + 10,
#: y 5000100 - 10 row .. - 10.
GRID = Grid(CRS.from_epsg(32633), Affine(10, 0, 500000, 0, -10, 5000100), 10, 10)


def pixel_box(row0, col0, row1, col1):
    """The polygon covering exactly pixels rows row0..row1, cols col0..col1 (inclusive)."""
    return box(500000 + 10 * col0, 5000100 - 10 * (row1 + 1), 500000 + 10 * (col1 + 1), 5000100 - 10 * row0)


def centre(row, col):
    return Point(500000 + 10 * col + 5, 5000100 - 10 * row - 5)


def samples(geometries, classes, crs="EPSG:32633", index=None):
    return gpd.GeoDataFrame({"landcover": classes}, geometry=list(geometries), crs=crs, index=index)


def triples(pixels):
    """{(row, col): (label, group)} of ``pixels``, checking there is one entry per pixel."""
    found = {(int(r), int(c)): (str(label), int(g))
             for r, c, label, g in zip(pixels.rows, pixels.cols, pixels.labels, pixels.groups)}
    assert len(found) == len(pixels)
    return found


def test_a_polygon_gives_the_pixels_whose_centres_it_covers():
    features = samples([pixel_box(2, 3, 4, 5), centre(0, 0)], ["forest", "water"])
    pixels = sample_pixels(features, class_labels(features, "landcover"), GRID)
    assert isinstance(pixels, SamplePixels) and len(pixels) == 10
    expected = {(r, c): ("forest", 0) for r in range(2, 5) for c in range(3, 6)}
    assert triples(pixels) == {**expected, (0, 0): ("water", 1)}


def test_a_polygon_slightly_smaller_or_larger_keeps_the_same_pixel_centres():
    inner = pixel_box(2, 3, 4, 5).buffer(-4.9, join_style="mitre")
    outer = pixel_box(2, 3, 4, 5).buffer(4.9, join_style="mitre")
    features = samples([inner, pixel_box(9, 9, 9, 9)], ["a", "b"])
    assert {k for k, v in triples(sample_pixels(features, ["a", "b"], GRID)).items() if v[1] == 0} == \
        {(r, c) for r in range(2, 5) for c in range(3, 6)}
    features = samples([outer, pixel_box(9, 9, 9, 9)], ["a", "b"])
    assert {k for k, v in triples(sample_pixels(features, ["a", "b"], GRID)).items() if v[1] == 0} == \
        {(r, c) for r in range(2, 5) for c in range(3, 6)}


def test_a_point_gives_the_pixel_containing_it_and_a_multipoint_each_of_its_pixels():
    features = samples([Point(500001, 5000099), Point(500099, 5000001), MultiPoint([centre(5, 5), centre(5, 6)])],
                       ["a", "b", "c"])
    assert triples(sample_pixels(features, ["a", "b", "c"], GRID)) == {
        (0, 0): ("a", 0), (9, 9): ("b", 1), (5, 5): ("c", 2), (5, 6): ("c", 2)}


def test_a_line_gives_every_pixel_it_touches():
    diagonal = LineString([(500001, 5000099), (500029, 5000071)])  # through pixels (0,0), (1,1), (2,2)
    row = LineString([(500000.5, 5000005), (500099.5, 5000005)])  # along row 9
    features = samples([diagonal, row], ["road", "river"])
    found = triples(sample_pixels(features, ["road", "river"], GRID))
    assert {k for k, v in found.items() if v == ("road", 0)} >= {(0, 0), (1, 1), (2, 2)}
    assert {k for k, v in found.items() if v == ("road", 0)} <= {(r, c) for r in range(3) for c in range(3)}
    assert {k for k, v in found.items() if v == ("river", 1)} == {(9, c) for c in range(10)}


def test_a_polygon_covering_no_pixel_centre_gives_the_pixel_under_it():
    sliver = box(500061, 5000021, 500064, 5000024)  # inside pixel (7, 6), away from its centre
    features = samples([sliver, GeometryCollection([centre(0, 0), pixel_box(1, 1, 1, 2)])], ["a", "b"])
    assert triples(sample_pixels(features, ["a", "b"], GRID)) == {
        (7, 6): ("a", 0), (0, 0): ("b", 1), (1, 1): ("b", 1), (1, 2): ("b", 1)}


def test_samples_in_lon_lat_land_on_the_pixel_under_them():
    to_lon_lat = Transformer.from_crs("EPSG:32633", "EPSG:4326", always_xy=True)
    points = [Point(*to_lon_lat.transform(p.x, p.y)) for p in (centre(6, 7), centre(1, 8))]
    features = samples(points, ["a", "b"], crs="EPSG:4326")
    assert triples(sample_pixels(features, ["a", "b"], GRID)) == {(6, 7): ("a", 0), (1, 8): ("b", 1)}


def test_pixels_claimed_by_two_classes_are_dropped_and_by_one_class_kept_once():
    features = samples([pixel_box(0, 0, 1, 1), pixel_box(1, 1, 2, 2), pixel_box(5, 5, 6, 6), pixel_box(6, 6, 7, 7)],
                       ["forest", "water", "urban", "urban"])
    found = triples(sample_pixels(features, class_labels(features, "landcover"), GRID))
    assert (1, 1) not in found  # forest and water
    assert found[(0, 0)] == ("forest", 0) and found[(2, 2)] == ("water", 1)
    assert found[(6, 6)] == ("urban", 2), "kept once, for the first sample claiming it"
    assert len(found) == 3 + 3 + 4 + 3


def test_a_pixel_claimed_by_two_classes_is_dropped_whatever_else_claims_it():
    features = samples([pixel_box(1, 1, 1, 1), pixel_box(1, 1, 1, 2), pixel_box(0, 1, 1, 1), centre(9, 9)],
                       ["forest", "water", "forest", "water"])
    found = triples(sample_pixels(features, class_labels(features, "landcover"), GRID))
    assert found == {(1, 2): ("water", 1), (0, 1): ("forest", 2), (9, 9): ("water", 3)}


def test_samples_outside_the_image_are_an_error_naming_them():
    features = samples([centre(0, 0), Point(400000, 5000000), pixel_box(0, 12, 3, 15), centre(9, 9)],
                       ["a", "b", "a", "b"], index=[10, 11, 12, 13])
    with pytest.raises(InputError, match=r"^2 of 4 samples lie outside the image \(features 11, 12\)$"):
        sample_pixels(features, ["a", "b", "a", "b"], GRID)


def test_a_sample_partly_outside_keeps_its_pixels_inside():
    features = samples([pixel_box(-3, -3, 0, 1), centre(9, 9)], ["a", "b"])
    found = triples(sample_pixels(features, ["a", "b"], GRID))
    assert found == {(0, 0): ("a", 0), (0, 1): ("a", 0), (9, 9): ("b", 1)}


def test_too_many_pixels_are_thinned_reproducibly_in_proportion_keeping_every_sample():
    features = samples([pixel_box(0, 0, 5, 9), pixel_box(6, 0, 8, 9), centre(9, 0), centre(9, 1)],
                       ["a", "b", "a", "b"])  # 60, 30, 1 and 1 pixels
    labels = ["a", "b", "a", "b"]
    pixels = sample_pixels(features, labels, GRID, max_pixels=22)
    again = sample_pixels(features, labels, GRID, max_pixels=22)
    assert all(np.array_equal(getattr(pixels, name), getattr(again, name)) for name in ("rows", "cols", "groups"))
    counts = np.bincount(pixels.groups, minlength=4)
    assert counts.sum() <= 22 and counts.tolist() == [1 + 59 * 18 // 88, 1 + 29 * 18 // 88, 1, 1]
    assert set(triples(pixels)) <= set(triples(sample_pixels(features, labels, GRID)))
    assert len(sample_pixels(features, labels, GRID, max_pixels=92)) == 92


def test_samples_without_crs_or_geometry_and_wrong_labels_are_refused():
    features = samples([centre(0, 0), centre(1, 1)], ["a", "b"])
    with pytest.raises(ValueError):
        sample_pixels(features, ["a"], GRID)
    with pytest.raises(InputError, match="no coordinate reference system"):
        sample_pixels(features.set_crs(None, allow_override=True), ["a", "b"], GRID)
    features.loc[1, "geometry"] = None
    with pytest.raises(InputError, match=r"1 of 2 samples have no geometry \(features 1\)"):
        sample_pixels(features, ["a", "b"], GRID)


def test_class_labels_are_text_compared_as_text():
    columns = {"code": [1, 2, 1], "ratio": [1.0, 2.0, 2.5], "name": [" forest", "water ", "forest"]}
    features = gpd.GeoDataFrame(columns, geometry=[centre(0, 0)] * 3, crs="EPSG:32633")
    assert class_labels(features, "code").tolist() == ["1", "2", "1"]
    assert class_labels(features, "ratio").tolist() == ["1", "2", "2.5"]
    assert class_labels(features, "name").tolist() == ["forest", "water", "forest"]


@pytest.mark.parametrize("values, field, match", [
    (["a", "b"], "class", r"no field 'class'; their fields are: 'landcover', 'id'"),
    (["a", None, "  ", "b"], "landcover", r"2 of 4 samples have no class in field 'landcover'"),
    ([np.nan, 1.0, 2.0], "landcover", r"1 of 3 samples have no class"),
    (["forest", "forest"], "landcover", r"have one class, 'forest': at least two classes are needed"),
])
def test_class_labels_refuse_missing_fields_empty_classes_and_a_single_class(values, field, match):
    features = gpd.GeoDataFrame({"landcover": values, "id": range(len(values))},
                                geometry=[centre(0, 0)] * len(values), crs="EPSG:32633")
    with pytest.raises(InputError, match=match):
        class_labels(features, field)
