"""Vector layers users send: each format read back as written, told by content; GML, zips and
GDAL refused whenever they could reach files, URLs or unbounded memory; layers written back."""

import json
import sqlite3
import zipfile

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
from shapely.geometry import Point, Polygon

from candela.errors import InputError
from candela.vectors import formats
from candela.vectors.formats import UNREADABLE
from candela.vectors.reading import read_features
from candela.vectors.writing import shapefile_field_names, write_geojson, write_zipped_shapefile
from helpers.vectors import (GML_WITHOUT_CRS, QGIS_SAMPLES_GML, gml_with, labelled, shapefile_members,
                             write_zip)
from helpers.webserver import serving


def refused(path, match, **options):
    """The InputError reading ``path`` raises, checked to match and to show no server path."""
    with pytest.raises(InputError, match=match) as caught:
        read_features(path, **options)
    assert str(path.parent) not in str(caught.value)
    return caught.value


def same_geometries(read, features, tolerance=1e-9):
    """Whether the geometries are the same, vertex by vertex (rings in any orientation)."""
    ours, theirs = (shapely.normalize(frame.geometry.to_numpy()) for frame in (read, features))
    return bool(shapely.equals_exact(ours, theirs, tolerance=tolerance).all())


def written(features, kind, tmp_path):
    """``features`` written as ``kind`` with geopandas, in a file named ``upload`` (no extension:
    the format must come from the content)."""
    upload = tmp_path / "upload"
    if kind == "shapefile":
        write_zip(upload, shapefile_members(features, tmp_path / "shp"))
    elif kind.startswith("GML"):
        features.to_file(tmp_path / "layer.gml", driver="GML", FORMAT=kind)
        (tmp_path / "layer.gml").rename(upload)
    else:
        features.to_file(tmp_path / "layer", driver=kind)
        (tmp_path / "layer").rename(upload)
    return upload


@pytest.mark.parametrize("kind, crs", [("GeoJSON", "EPSG:4326"), ("GML2", "EPSG:32633"), ("GML3.2", "EPSG:4326"),
                                       ("shapefile", "EPSG:32633"), ("GPKG", "EPSG:32633")])
def test_each_format_reads_back_the_features_and_crs_it_was_written_with(tmp_path, kind, crs):
    features = labelled(crs)
    read = read_features(written(features, kind, tmp_path))
    assert read.crs == features.crs
    assert read["landcover"].tolist() == ["forest", "water", "urban"]
    assert read["id"].astype(int).tolist() == [1, 2, 3]
    np.testing.assert_allclose(read["ndvi"].astype(float), [0.5, 0.1, 0.2])
    # GML 3.2 in EPSG:4326 is written latitude first: it must come back longitude first.
    assert same_geometries(read, features)
    assert read.attrs["without_geometry"] == 0


def test_gml_as_the_qgis_plugin_sends_it_is_read(tmp_path):
    upload = tmp_path / "input"
    upload.write_text(QGIS_SAMPLES_GML)
    read = read_features(upload)
    assert read.crs == "EPSG:4326"
    assert read["landcover"].tolist() == ["forest", "water"]
    assert read.geometry.iloc[0].equals(Polygon([(14.5, 46.05), (14.51, 46.05), (14.51, 46.06)]))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["input"], "GDAL left a .gfs beside the upload"


def test_a_geojson_without_crs_is_epsg_4326_and_a_bare_geometry_is_a_layer(tmp_path):
    upload = tmp_path / "upload"
    upload.write_bytes(b"\xef\xbb\xbf \n" + json.dumps({"type": "Point", "coordinates": [14.5, 46.0]}).encode())
    read = read_features(upload)
    assert read.crs == "EPSG:4326"
    assert read.geometry.tolist() == [Point(14.5, 46.0)]


def test_layers_without_crs_are_refused(tmp_path):
    upload = tmp_path / "upload"
    upload.write_text(GML_WITHOUT_CRS)
    refused(upload, "no coordinate reference system")
    members = shapefile_members(labelled(), tmp_path / "shp")
    del members["samples.prj"]
    refused(write_zip(tmp_path / "noprj", members), "no coordinate reference system")


@pytest.mark.parametrize("document", [
    '<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>\n{gml}',
    '<?xml version="1.0"?>\n<!doctype x SYSTEM "{base}/external.dtd">\n{gml}',
    '<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY secret SYSTEM "{base}/secret">]>\n{gml}',
])
def test_gml_with_a_doctype_or_entities_is_refused_before_gdal_reads_it(tmp_path, document):
    with serving({}) as (base, seen):
        upload = tmp_path / "upload"
        gml = gml_with().split("\n", 1)[1]
        upload.write_text(document.format(base=base, gml=gml))
        refused(upload, "DOCTYPE or ENTITY")
    assert seen == []


def test_a_declaration_across_two_chunks_is_seen(tmp_path, monkeypatch):
    monkeypatch.setattr(formats, "CHUNK", 7)
    upload = tmp_path / "upload"
    upload.write_text('<?xml version="1.0"?><!DOCTYPE x>' + gml_with().split("\n", 1)[1])
    refused(upload, "DOCTYPE")


@pytest.mark.parametrize("root, location", [
    ("ogr:FeatureCollection", "http://ogr.maptools.org/ {base}/schema.xsd"),
    # GDAL downloads this one unless told not to (DOWNLOAD_SCHEMA / GML_DOWNLOAD_SCHEMA).
    ("wfs:FeatureCollection",
     "http://ogr.maptools.org/ {base}/wfs?SERVICE=WFS&amp;VERSION=1.0.0&amp;REQUEST=DescribeFeatureType"
     "&amp;TYPENAME=ogr:points"),
])
def test_a_schema_location_is_never_fetched(tmp_path, root, location):
    with serving({}) as (base, seen):
        upload = tmp_path / "upload"
        upload.write_text(gml_with(root, location.format(base=base), members=2))
        read = read_features(upload)
    assert seen == []
    assert read.geometry.tolist() == [Point(0, 2), Point(1, 2)]


def test_files_naming_other_files_or_urls_are_refused_unfollowed(tmp_path):
    """A GDALG pipeline (JSON) or an OGR VRT (XML) would have GDAL read what they name."""
    secret = tmp_path / "secret.gpkg"
    gpd.GeoDataFrame({"secret": ["s3cr3t"]}, geometry=[Point(1, 2)], crs=4326).to_file(secret)
    with serving({}) as (base, seen):
        for name, source in (("local", secret), ("remote", f"/vsicurl/{base}/secret.geojson")):
            pipeline = tmp_path / f"pipeline-{name}"
            command = f"gdal vector pipeline ! read {source} ! write --output-format stream out"
            pipeline.write_text(json.dumps({"type": "gdal_streamed_alg", "command_line": command}))
            assert "s3cr3t" not in str(refused(pipeline, "not a vector layer"))
            vrt = tmp_path / f"vrt-{name}"
            vrt.write_text(f'<OGRVRTDataSource xmlns:gml="http://www.opengis.net/gml"><OGRVRTLayer name="secret">'
                           f'<SrcDataSource>{source}</SrcDataSource></OGRVRTLayer></OGRVRTDataSource>')
            with pytest.raises(InputError):
                read_features(vrt)
    assert seen == []


def test_other_json_and_sqlite_are_refused(tmp_path):
    esri = tmp_path / "esri"
    esri.write_text(json.dumps({"geometryType": "esriGeometryPoint", "spatialReference": {"wkid": 4326},
                                "features": [{"geometry": {"x": 1, "y": 2}, "attributes": {"a": 1}}]}))
    refused(esri, "not a vector layer")
    database = tmp_path / "plain.db"
    with sqlite3.connect(database) as connection:
        connection.execute("create table t (a)")
    refused(database, "not a GeoPackage")


@pytest.mark.parametrize("content", [b"", b"hello", b"{not json", b"<not gml", b"\x00\x01\x02" * 100,
                                     "<gml>".encode("utf-16")])
def test_garbage_is_refused_without_paths(tmp_path, content):
    upload = tmp_path / "upload"
    upload.write_bytes(content)
    assert str(refused(upload, "not a vector layer")) == UNREADABLE


def test_a_zipped_shapefile_in_a_folder_with_its_sidecars_is_read(tmp_path):
    members = {f"parcels/{name}": data for name, data in shapefile_members(labelled(), tmp_path / "shp").items()}
    members["parcels/samples.cpg"] = b"UTF-8"
    members["__MACOSX/parcels/._samples.shp"] = b"resource fork"
    read = read_features(write_zip(tmp_path / "upload", members))
    assert read["landcover"].tolist() == ["forest", "water", "urban"]


@pytest.mark.parametrize("change, match", [
    (lambda m: m.update({"../evil.txt": b"x"}), "unsafe member name"),
    (lambda m: m.update({f"other.{ext}": m[f"samples.{ext}"] for ext in ("shp", "shx", "dbf")}), "2 shapefiles"),
    (lambda m: m.pop("samples.shp"), "no shapefile"),
    (lambda m: m.pop("samples.dbf"), "not its .dbf"),
    (lambda m: m.update({"readme.txt": b"hello"}), "'readme.txt' besides the shapefile"),
    (lambda m: m.update({"samples.shp": b'<OGRVRTDataSource/>'}), "is not a shapefile"),
])
def test_zips_other_than_one_safe_shapefile_are_refused(tmp_path, change, match):
    members = shapefile_members(labelled(), tmp_path / "shp")
    change(members)
    refused(write_zip(tmp_path / "upload", members), match)


def test_zip_bombs_and_oversized_zips_are_refused_unopened(tmp_path):
    members = shapefile_members(labelled(), tmp_path / "shp")
    members["samples.shp.xml"] = b"\x00" * (20 * 2**20)
    refused(write_zip(tmp_path / "bomb", members), "decompression bomb")
    members["samples.shp.xml"] = b"\x00" * (900 * 2**10)  # below the ratio's floor
    refused(write_zip(tmp_path / "big", members), "would unpack to", max_bytes=512 * 2**10)


def test_limits_on_bytes_and_features(tmp_path):
    upload = written(labelled(), "GPKG", tmp_path)
    refused(upload, "more than the 1.0 KiB allowed", max_bytes=1024)
    refused(upload, "has 3 features, more than the 2 allowed", max_features=2)
    assert len(read_features(upload, max_features=3)) == 3
    gml = tmp_path / "gml"
    gml.write_text(gml_with(members=5))
    refused(gml, "has 5 features, more than the 4 allowed", max_features=4)


def test_features_beyond_the_limit_are_never_read_when_gdal_cannot_count_them(tmp_path, monkeypatch):
    read_info = pyogrio.read_info
    monkeypatch.setattr(pyogrio, "read_info", lambda *args, **kwargs: {**read_info(*args, **kwargs), "features": -1})
    gml = tmp_path / "gml"
    gml.write_text(gml_with(members=5))
    refused(gml, "more than the 4 features allowed", max_features=4)
    assert len(read_features(gml, max_features=5)) == 5


def test_empty_layers_and_layers_without_geometries_are_refused(tmp_path):
    empty = tmp_path / "empty"
    empty.write_text(json.dumps({"type": "FeatureCollection", "features": []}))
    refused(empty, "no features")
    nulls = tmp_path / "nulls"
    nulls.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"a": 1}, "geometry": None}]}))
    refused(nulls, "none of the layer's 1 features has a usable geometry")


def test_null_geometries_are_dropped_and_counted_and_invalid_polygons_repaired(tmp_path):
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [2, 2], [2, 0], [0, 2], [0, 0]]]}
    upload = tmp_path / "upload"
    upload.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"a": 0}, "geometry": None},
        {"type": "Feature", "properties": {"a": 1}, "geometry": bowtie},
        {"type": "Feature", "properties": {"a": 2}, "geometry": {"type": "Point", "coordinates": [1, 2, 3]}}]}))
    read = read_features(upload)
    assert read.attrs["without_geometry"] == 1
    assert read.index.tolist() == [1, 2], "the index is each feature's position in the layer"
    assert read.geometry.iloc[0].is_valid and read.geometry.iloc[0].geom_type == "MultiPolygon"
    assert read.geometry.iloc[0].area == pytest.approx(2.0)
    assert not read.geometry.iloc[1].has_z


def test_a_file_of_several_layers_names_them_unless_one_is_chosen(tmp_path):
    upload = tmp_path / "upload.gpkg"
    labelled().to_file(upload, layer="fields")
    labelled().iloc[:1].to_file(upload, layer="roads")
    refused(upload, r"2 layers \('fields', 'roads'\)")
    assert len(read_features(upload, layer="roads")) == 1
    refused(upload, "no layer 'lakes'; its layers are: 'fields', 'roads'", layer="lakes")


def test_write_geojson_writes_rfc_7946_longitude_latitude(tmp_path):
    features = labelled("EPSG:32633")
    path = write_geojson(features, tmp_path / "out.geojson")
    write_geojson(features, path)  # overwrites
    document = json.loads(path.read_text())
    assert "crs" not in document
    lon, lat = document["features"][0]["geometry"]["coordinates"][0][0]
    assert 14 < lon < 16 and 45 < lat < 46
    back = read_features(path)
    assert back.crs == "EPSG:4326"
    assert same_geometries(back, features.to_crs(4326), tolerance=1e-6)


def test_write_zipped_shapefile_holds_only_the_layer_in_its_own_crs(tmp_path):
    features = labelled("EPSG:32633").assign(population_2020=[1, 2, 3], population_2021=[4, 5, 6])
    path = write_zipped_shapefile(features, tmp_path / "out.zip", "samples")
    names = sorted(zipfile.ZipFile(path).namelist())
    assert names == [f"samples.{ext}" for ext in ("cpg", "dbf", "prj", "shp", "shx")]
    back = read_features(path)
    assert back.crs == "EPSG:32633"
    assert back.columns.tolist() == ["id", "landcover", "ndvi", "population", "populati_1", "geometry"]
    assert back["populati_1"].tolist() == [4, 5, 6]
    assert same_geometries(back, features)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.zip"]
    with pytest.raises(ValueError):
        write_zipped_shapefile(features, tmp_path / "bad.zip", "../samples")


def test_shapefile_field_names_are_short_unique_and_stable():
    names = ["population_a", "population_b", "populati_1", "Population_c", "éléphant_rose", "", "field", "id"]
    assert shapefile_field_names(names) == ["population", "populati_1", "populati_2", "Populati_3",
                                            "éléphant", "field", "field_1", "id"]
    assert all(len(name.encode()) <= 10 for name in shapefile_field_names(names))


def test_csv_of_attributes_defuses_formulas_and_keeps_numbers(tmp_path):
    import csv

    from candela.vectors.writing import write_csv

    features = gpd.GeoDataFrame(
        {"name": ["=HYPERLINK(\"http://evil\")", "@SUM(A1)", "Oak -1", "-3 (text)"], "area": [-1.5, 2.0, None, 4.0]},
        geometry=[Point(0, 0)] * 4, crs="EPSG:4326")
    rows = list(csv.DictReader(open(write_csv(features, tmp_path / "a.csv"), encoding="utf-8")))
    assert [r["name"] for r in rows] == ["'=HYPERLINK(\"http://evil\")", "'@SUM(A1)", "Oak -1", "'-3 (text)"]
    assert [r["area"] for r in rows] == ["-1.5", "2.0", "", "4.0"] and "geometry" not in rows[0]
