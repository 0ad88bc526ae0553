"""Parcel damage ranking, the core (no server): damaged areas against a known truth on a UTM
and a longitude/latitude grid, exact coverage at parcel edges, ground areas in any CRS, clouds,
land-cover masking, statuses, ranks, levels, periods, outputs, and bad input named."""

import json
import math

import geopandas as gpd
import numpy as np
import pandas
import pytest
import rasterio
from exactextract import exact_extract
from PIL import Image
from rasterio.transform import from_origin
from shapely.geometry import Point, box

from candela.damage import landcover as landcover_module
from candela.damage.landcover import class_names, kept_values
from candela.damage.levels import LEVEL_NAMES, bounds, level_of
from candela.damage.parcels import ground_areas, renamed
from candela.damage.ranking import output_columns, rank_parcels
from candela.damage.sources import ChangeSource, given_period
from candela.damage.writing import write_ranking
from candela.errors import InputError
from helpers import damage as scene_module
from helpers.damage import FRACTIONS, HEIGHT, PERIOD, UTM, WIDTH, true_area_m2, true_damaged_m2, write_scene

#: Geodesic area of a 296 m x 200 m UTM rectangle on zone 33's central meridian at 50.5° N:
#: the planar area over the scale factor 0.9996 squared.
PARCEL_HA = WIDTH * HEIGHT / 0.9996 ** 2 / 1e4


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    return write_scene(tmp_path_factory.mktemp("damage"))


def all_parcels(scene):
    return gpd.GeoDataFrame(pandas.concat([scene.parcels, scene.outside], ignore_index=True), crs=UTM)


def sources(scene, **weights):
    return [ChangeSource("optical", scene.optical, weight=weights.get("optical", 1.0)),
            ChangeSource("sar", scene.sar, weight=weights.get("sar", 1.0))]


@pytest.fixture(scope="module")
def ranked(scene, tmp_path_factory):
    """The scene ranked without a land-cover map: ``{name: row}`` and the ranking."""
    ranking = rank_parcels(all_parcels(scene), sources(scene), tmp_path_factory.mktemp("work"))
    return {row["name"]: row for _, row in ranking.table.iterrows()}, ranking


@pytest.fixture(scope="module")
def forest(scene, tmp_path_factory):
    """The scene ranked over the forest class of its land-cover map."""
    ranking = rank_parcels(all_parcels(scene), sources(scene), tmp_path_factory.mktemp("work"),
                           landcover=scene.landcover, classes="forest")
    return {row["name"]: row for _, row in ranking.table.iterrows()}, ranking


# Levels

def test_levels_cut_the_damaged_fraction_at_documented_bounds():
    assert [level_of(f) for f in (0.0, 0.0999, 0.1, 0.2999, 0.3, 0.5999, 0.6, 1.0)] == \
        ["very low", "very low", "low", "low", "middle", "middle", "high", "high"]
    assert level_of(None) is None and level_of(math.nan) is None
    assert LEVEL_NAMES == ("very low", "low", "middle", "high")
    assert json.loads(json.dumps(bounds())) == {"very low": [0.0, 0.1], "low": [0.1, 0.3], "middle": [0.3, 0.6],
                                                "high": [0.6, None]}


def test_levels_import_without_geopandas_or_exactextract():
    import subprocess
    import sys

    code = ("import sys; import candela.damage.levels; "
            "assert not {'geopandas', 'exactextract', 'rasterio'} & set(sys.modules), sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)


# Damaged areas

@pytest.mark.parametrize("name", ["none", "tenth", "half", "all", "mixed", "meadow"])
def test_damaged_areas_match_the_truth_on_a_utm_and_a_lonlat_grid(scene, ranked, name):
    rows, _ = ranked
    row = rows[name]
    parcel = scene.parcels.geometry[list(scene.parcels["name"]).index(name)]
    # Exact to 1 m² (the output's rounding): exact coverage where the parcel's edges cut pixels.
    assert row["opt_dmg_ha"] == pytest.approx(true_damaged_m2(scene.optical, parcel) / 1e4, abs=2e-4)
    assert row["sar_dmg_ha"] == pytest.approx(true_damaged_m2(scene.sar, parcel) / 1e4, abs=2e-4)
    assert row["area_ha"] == row["kept_ha"] == pytest.approx(PARCEL_HA, rel=1e-4)
    assert row["opt_valid"] == row["sar_valid"] == 1.0
    assert row["opt_dmg_fr"] == pytest.approx(FRACTIONS[name], abs=0.015)
    # The SAR map's 17 m pixels sample 20 m strips coarsely: within 2 % of the parcel.
    assert row["sar_dmg_fr"] == pytest.approx(FRACTIONS[name], abs=0.02)
    assert row["dmg_frac"] == pytest.approx((row["opt_dmg_fr"] + row["sar_dmg_fr"]) / 2, abs=1e-4)
    assert row["dmg_ha"] == pytest.approx(row["dmg_frac"] * row["kept_ha"], abs=5e-4)  # of rounded values
    assert row["sources"] == "optical+sar" and row["status"] == "ranked"


def test_statistics_of_the_probabilities(ranked):
    rows, _ = ranked
    assert rows["none"]["opt_mean"] == pytest.approx(0.1) and rows["none"]["opt_p90"] == pytest.approx(0.1)
    assert rows["all"]["opt_p50"] == pytest.approx(0.9) and rows["all"]["sar_mean"] == pytest.approx(0.9)
    # A fifth of the parcel at 0.9: the mean is area-weighted, the quantiles coverage-weighted.
    assert rows["tenth"]["opt_mean"] == pytest.approx(0.1 + 0.8 * 0.1, abs=1e-4)
    assert rows["tenth"]["opt_p50"] == pytest.approx(0.1) and rows["half"]["opt_p90"] == pytest.approx(0.9)


def test_parcels_are_ranked_hardest_hit_first_and_ties_share_a_rank(ranked):
    rows, ranking = ranked
    ranks = {name: row["rank"] for name, row in rows.items()}
    assert ranks["all"] == ranks["meadow"] == 1  # both wholly damaged
    assert {ranks["half"], ranks["mixed"]} == {3, 4}
    assert (ranks["clouded"], ranks["tenth"], ranks["none"]) == (5, 6, 7)
    assert ranks["far"] is pandas.NA
    ranked_first = sorted(rows, key=lambda n: (pandas.isna(ranks[n]), 0 if pandas.isna(ranks[n]) else ranks[n]))
    assert list(ranking.table["name"]) == ranked_first
    assert [rows[n]["level"] for n in ("none", "half", "all", "clouded")] == ["very low", "middle", "high", "low"]
    assert rows["tenth"]["level"] == level_of(rows["tenth"]["dmg_frac"])
    assert (ranking.table["score"].dropna() == ranking.table["dmg_frac"].dropna()).all()


def test_a_clouded_parcel_is_scored_from_sar_alone(ranked):
    rows, ranking = ranked
    clouded = rows["clouded"]
    assert clouded["opt_valid"] == pytest.approx((170 - 103.7) / HEIGHT, abs=1e-4)  # seen below the clouds
    assert clouded["sources"] == "sar"
    assert clouded["dmg_frac"] == clouded["sar_dmg_fr"] == pytest.approx(0.3, abs=0.06)
    assert clouded["mean_prob"] == clouded["sar_mean"]
    assert ranking.summary["sources"]["optical"]["usable_parcels"] == 6  # all but the clouded one and the far one
    assert ranking.summary["sources"]["sar"]["usable_parcels"] == 7


def test_weights_are_renormalised_over_the_usable_sources(scene, tmp_path):
    ranking = rank_parcels(scene.parcels, sources(scene, optical=3.0, sar=1.0), tmp_path)
    rows = {row["name"]: row for _, row in ranking.table.iterrows()}
    tenth = rows["tenth"]
    assert tenth["dmg_frac"] == pytest.approx((3 * tenth["opt_dmg_fr"] + tenth["sar_dmg_fr"]) / 4, abs=1e-4)
    assert rows["clouded"]["dmg_frac"] == rows["clouded"]["sar_dmg_fr"]  # SAR alone: its weight is all
    assert ranking.summary["weights"] == {"optical": 3.0, "sar": 1.0}
    without_sar = rank_parcels(scene.parcels, sources(scene, sar=0.0), tmp_path)
    clouded = without_sar.table[without_sar.table["name"] == "clouded"].iloc[0]
    assert clouded["status"] == "no usable pixels" and clouded["rank"] is pandas.NA
    assert not np.isnan(clouded["sar_dmg_fr"])  # measured, but not combined at weight 0


def test_a_parcel_outside_every_map_is_kept_with_its_status(ranked):
    rows, ranking = ranked
    far = rows["far"]
    assert far["status"] == "outside the maps" and far["rank"] is pandas.NA and pandas.isna(far["level"])
    assert pandas.isna(far["sources"]) and math.isnan(far["dmg_frac"]) and far["opt_valid"] == 0
    assert far["area_ha"] == pytest.approx(6.0, rel=0.01) and far["in_status"] == "state"
    assert ranking.table.iloc[-1]["name"] == "far" and len(ranking.table) == 8
    assert ranking.summary["status"]["outside the maps"] == 1 and ranking.summary["status"]["ranked"] == 7


# Land cover

def test_landcover_on_another_grid_masks_non_forest_pixels(scene, ranked, forest):
    everything, _ = ranked
    rows, ranking = forest
    mixed = rows["mixed"]
    assert everything["mixed"]["dmg_frac"] == pytest.approx(0.5, abs=0.03)  # its mown meadow half
    parcel = scene.parcels.geometry[list(scene.parcels["name"]).index("mixed")]
    forest_m2 = true_area_m2(scene.landcover, parcel, lambda classes: classes == 1)
    assert mixed["kept_ha"] == pytest.approx(forest_m2 / 1e4, abs=2e-4)  # exact, on the land cover's 20 m grid
    assert mixed["kept_ha"] == pytest.approx(mixed["area_ha"] / 2, abs=0.4)  # the meadow's edge within a pixel
    assert mixed["opt_dmg_fr"] < 0.05 and mixed["sar_dmg_fr"] < 0.05 and mixed["status"] == "ranked"
    meadow = rows["meadow"]
    assert meadow["status"] == "no kept classes" and meadow["kept_ha"] == 0 and meadow["rank"] is pandas.NA
    for name in ("none", "tenth", "half", "all"):  # all forest: as without the land cover
        for column in ("dmg_frac", "opt_dmg_ha", "sar_dmg_ha", "kept_ha"):
            assert rows[name][column] == pytest.approx(everything[name][column], abs=1e-3), (name, column)
    assert ranking.summary["landcover"]["kept"] == ["forest"] and ranking.summary["kept_classes"] == ["forest"]
    assert ranking.summary["landcover"]["classes"] == {"1": "forest", "2": "meadow"}


def test_masking_window_by_window_changes_nothing(scene, forest, tmp_path, monkeypatch):
    monkeypatch.setattr(landcover_module, "WINDOW", 7)  # windows that cut every parcel
    again = rank_parcels(all_parcels(scene), sources(scene), tmp_path, landcover=scene.landcover, classes="forest")
    pandas.testing.assert_frame_equal(pandas.DataFrame(again.table.drop(columns="geometry")),
                                      pandas.DataFrame(forest[1].table.drop(columns="geometry")))
    assert not list(tmp_path.iterdir())  # the masked copies are gone


def test_every_class_but_no_data_is_kept_by_default(scene, tmp_path):
    ranking = rank_parcels(scene.parcels, sources(scene), tmp_path, landcover=scene.landcover)
    rows = {row["name"]: row for _, row in ranking.table.iterrows()}
    assert rows["meadow"]["status"] == "ranked"
    assert rows["meadow"]["kept_ha"] == pytest.approx(rows["meadow"]["area_ha"], rel=1e-4)
    assert ranking.summary["landcover"]["kept"] is None


def test_class_names_and_kept_classes():
    assert class_names({"CLASSES": '["forest", "water"]'}) == {1: "forest", 2: "water"}
    assert class_names({"CLASSES": '{"3": "pine", "7": "beech"}', "CLASS_7": "oak"}) == {3: "pine", 7: "oak"}
    assert class_names({"OTHER": "x"}) == {}
    with pytest.raises(InputError, match="CLASSES tag"):
        class_names({"CLASSES": "forest,water"})
    names = {1: "Forest", 2: "meadow", 3: "water"}
    assert kept_values(names, "forest, water") == [1, 3] and kept_values(names, " ") is None
    with pytest.raises(InputError, match="unknown classes 'pine', 'oak'; .*Forest, meadow, water") as error:
        kept_values(names, "pine,Forest,oak")
    assert error.value.input == "classes"
    with pytest.raises(InputError, match="names no classes"):
        kept_values({}, "forest")


def test_an_unknown_class_lists_the_maps_classes(scene, tmp_path):
    with pytest.raises(InputError, match="unknown class 'spruce'; the land-cover map's classes are: forest, meadow") \
            as error:
        rank_parcels(scene.parcels, sources(scene), tmp_path, landcover=scene.landcover, classes="forest,spruce")
    assert error.value.input == "classes"


# Areas in any CRS

def full_map(path, crs, parcel):
    """A change map of 0.9 everywhere, in ``crs``, covering ``parcel`` (UTM) with a margin."""
    left, bottom, right, top = gpd.GeoSeries([parcel.buffer(100)], crs=UTM).to_crs(crs).total_bounds
    size = (right - left) / 40
    with rasterio.open(path, "w", driver="GTiff", width=40, height=int(np.ceil((top - bottom) / size)), count=1,
                       dtype="float32", crs=crs, transform=from_origin(left, top, size, size)) as out:
        out.write(np.full((out.height, out.width), 0.9, dtype="float32"), 1)
    return path


@pytest.mark.parametrize("crs", ["EPSG:32633", "EPSG:4326", "EPSG:3857"])
@pytest.mark.parametrize("parcels_crs", ["EPSG:32633", "EPSG:4326"])
def test_damaged_areas_are_ground_areas_whatever_the_crs(tmp_path, crs, parcels_crs):
    parcel = scene_module.parcel_box(0)
    path = full_map(tmp_path / "map.tif", crs, parcel)
    parcels = gpd.GeoDataFrame(geometry=[parcel], crs=UTM).to_crs(parcels_crs)
    row = rank_parcels(parcels, [ChangeSource("sar", path)], tmp_path).table.iloc[0]
    assert row["area_ha"] == pytest.approx(PARCEL_HA, rel=1e-5)
    # Web Mercator's cells are 2.5 times their ground area at 50.5° N; the sphere's 0.12 % too small.
    assert row["sar_dmg_ha"] == pytest.approx(PARCEL_HA, rel=2e-4) and row["sar_valid"] == pytest.approx(1.0)


def test_exactextract_measures_lonlat_cells_on_a_sphere_which_the_ground_scale_corrects(tmp_path):
    """What exactextract does on a geographic grid: ``area_spherical_m2`` is the cell's area on a
    sphere of radius 6378137 m, 0.12 % short of the ellipsoid's at 50.5° N."""
    parcel = scene_module.parcel_box(0)
    path = full_map(tmp_path / "map.tif", "EPSG:4326", parcel)
    lonlat = gpd.GeoDataFrame(geometry=[parcel], crs=UTM).to_crs("EPSG:4326")
    spherical = exact_extract(str(path), lonlat, "count(coverage_weight=area_spherical_m2)", output="pandas")
    geodesic = ground_areas(lonlat)[0]
    assert spherical["count"][0] / geodesic == pytest.approx(1 - 0.0012, abs=2e-4)


# Periods

def test_periods_come_from_the_tags_or_the_inputs(ranked, scene, tmp_path):
    _, ranking = ranked
    optical, sar = ranking.summary["sources"]["optical"]["period"], ranking.summary["sources"]["sar"]["period"]
    assert (optical["start"], optical["end"], optical["from"]) == (*PERIOD, "PERIOD_START/PERIOD_END tags")
    assert (sar["start"], sar["end"], sar["from"]) == ("2023-07-30T05:10:00Z", "2023-08-23T05:10:00Z", "DATES tag")
    assert ranking.summary["period"]["start"] == "2023-07-30T05:10:00Z"
    assert ranking.summary["period"]["end"] == "2023-08-23T05:10:00Z"
    given = rank_parcels(scene.parcels, sources(scene), tmp_path, before="2023-08-02", after="2023-08-15T12:00:00Z")
    for period in (given.summary["period"], given.summary["sources"]["sar"]["period"]):
        assert period == {"start": "2023-08-02T00:00:00Z", "end": "2023-08-15T12:00:00Z", "from": "given"}
    half = rank_parcels(scene.parcels, sources(scene), tmp_path, after="2023-08-15").summary
    assert half["sources"]["optical"]["period"] == {  # the tag's start, the given end
        "start": PERIOD[0], "end": "2023-08-15T00:00:00Z", "from": "given and PERIOD_START/PERIOD_END tags"}
    with rasterio.open(scene.optical) as dataset:
        assert dataset.tags()["PERIOD_START"] == PERIOD[0]


@pytest.mark.parametrize("before, after, blamed", [("2023-13-01", None, "before"), (None, "yesterday", "after"),
                                                   ("2023-08-20", "2023-08-01", "after")])
def test_a_bad_period_is_named(before, after, blamed):
    with pytest.raises(InputError) as error:
        given_period(before, after)
    assert error.value.input == blamed


# Attributes

def test_attributes_named_as_output_columns_are_renamed():
    parcels = gpd.GeoDataFrame({"rank": [3], "Score": [1], "opt_dmg_fraction": [0.5], "in_rank": ["x"],
                                "owner": ["state"]}, geometry=[box(0, 0, 1, 1)], crs=UTM)
    columns = output_columns([ChangeSource("optical", "x.tif")])
    kept, mapping = renamed(parcels, columns)
    # Compared as shapefile fields: ignoring case, cut to 10 bytes ("opt_dmg_fr").
    assert mapping == {"rank": "in_in_rank", "Score": "in_Score", "opt_dmg_fraction": "in_opt_dmg_fraction"}
    assert list(kept.columns) == ["in_in_rank", "in_Score", "in_opt_dmg_fraction", "in_rank", "owner", "geometry"]
    assert all(len(name) <= 10 for name in columns)


def test_the_scenes_attributes_are_all_kept(ranked, scene):
    _, ranking = ranked
    table = ranking.table
    assert list(table.columns[-4:]) == ["name", "in_rank", "in_status", "geometry"]
    assert sorted(table["in_rank"]) == ["r0", "r1", "r2", "r3", "r4", "r5", "r6", "r9"]
    assert table.crs == scene.parcels.crs
    assert sorted(table["feature"]) == list(range(8))


# Bad input

def test_bad_inputs_are_named(scene, tmp_path):
    def blamed(**options):
        parcels = options.pop("parcels", scene.parcels)
        given = options.pop("sources", sources(scene))
        with pytest.raises(InputError) as error:
            rank_parcels(parcels, given, tmp_path, **options)
        return error.value.input, str(error.value)

    assert blamed(threshold=0)[0] == blamed(threshold=1.5)[0] == "threshold"
    assert blamed(classes="forest") == ("classes", "classes name classes of a land-cover map, and no landcover "
                                                   "was given")
    points = gpd.GeoDataFrame(geometry=[Point(x, 5600200) for x in (500100, 500200)], crs=UTM)
    assert blamed(parcels=points)[0] == "parcels"
    assert blamed(sources=sources(scene, optical=0, sar=0))[0] == "optical_weight"
    # The land cover's grid as a change map: values 1 and 2 are no probabilities.
    input, message = blamed(sources=[ChangeSource("optical", scene.landcover)])
    assert input == "optical_change" and "[0, 1]" in message
    assert blamed(landcover=scene.optical)[0] == "landcover"  # float values: not a classification
    elsewhere = tmp_path / "elsewhere.tif"
    with rasterio.open(scene.landcover) as dataset:
        profile = {**dataset.profile, "transform": from_origin(0, 100, 20, 20)}
        with rasterio.open(elsewhere, "w", **profile) as out:
            out.write(dataset.read())
            out.update_tags(**dataset.tags())
    input, message = blamed(landcover=elsewhere)
    assert input == "landcover" and "does not overlap the change map optical_change" in message
    (tmp_path / "broken.tif").write_bytes(b"II*\0 not a tiff")
    assert blamed(sources=[ChangeSource("sar", tmp_path / "broken.tif")])[0] == "sar_change"



# Outputs

def test_outputs_open_in_gis_and_spreadsheets(forest, tmp_path):
    _, ranking = forest
    files = write_ranking(ranking.table, tmp_path, title="Windthrow of August 2023")
    geojson = gpd.read_file(files["geojson"])
    assert geojson.crs.to_epsg() == 4326 and list(geojson["name"]) == list(ranking.table["name"])
    shapefile = gpd.read_file(f"/vsizip/{files['shapefile']}/ranking.shp")
    assert list(shapefile.columns) == list(ranking.table.columns) and shapefile.crs == ranking.table.crs
    assert shapefile["status"].tolist() == ranking.table["status"].tolist()
    csv = pandas.read_csv(files["csv"])
    assert "geometry" not in csv.columns and list(csv.columns) == list(ranking.table.columns[:-1])
    assert csv["rank"].tolist()[:2] == [1, 2] and csv["status"].tolist()[-1] == "outside the maps"
    with Image.open(files["quicklook"]) as png:
        assert png.format == "PNG" and max(png.size) <= 1024
        colours = {colour for _, colour in png.convert("RGB").getcolors(1 << 20)}
    assert (215, 25, 28) in colours and (189, 189, 189) in colours  # a high parcel, unranked ones


def test_a_significance_map_counts_what_its_test_rejects_not_half_of_the_noise(tmp_path):
    """SARChangeDetect's map holds 1 - p: uniform on unchanged ground. Its own alpha decides."""
    rng = np.random.default_rng(0)
    values = rng.uniform(0, 1, (100, 100)).astype("float32")  # no change anywhere: p uniform
    values[:20] = 1.0 - rng.uniform(0, 1e-4, (20, 100))  # a fifth changed: tiny p-values
    transform = from_origin(500000, 5880000, 10, 10)
    parcel = gpd.GeoDataFrame({"name": ["p"]}, geometry=[box(500000, 5879000, 501000, 5880000)], crs=UTM)
    for tags, expected in (({"CHANGE_TEST": "omnibus", "ALPHA": "0.01"}, 0.2 + 0.8 * 0.01),
                           ({}, 0.2 + 0.8 * 0.5)):
        path = tmp_path / f"sar{len(tags)}.tif"
        with rasterio.open(path, "w", driver="GTiff", width=100, height=100, count=1, dtype="float32", crs=UTM,
                           transform=transform, nodata=float("nan")) as out:
            out.write(values, 1)
            out.update_tags(**tags)
        ranking = rank_parcels(parcel, [ChangeSource("sar", path)], tmp_path)
        assert ranking.table.iloc[0]["sar_dmg_fr"] == pytest.approx(expected, abs=0.02)
        assert ranking.summary["thresholds"]["sar"] == (0.99 if tags else 0.5)


def test_parcel_identifiers_from_the_named_or_a_usual_attribute_else_the_position():
    from candela.damage.identifiers import parcel_ids

    table = pandas.DataFrame({"Name": ["a", " ", None], "ID": [12.0, float("nan"), 14.0], "feature": [0, 1, 2]})
    assert parcel_ids(table) == ["12", "#2", "14"]  # "id" comes before "name"; 12.0 is parcel 12
    assert parcel_ids(table, "name") == ["a", "#2", "#3"]  # blank and missing: the position
    assert parcel_ids(table[["feature"]]) == ["#1", "#2", "#3"]
    with pytest.raises(InputError, match="no attribute 'nummer'.*Name, ID") as error:
        parcel_ids(table, "nummer")
    assert error.value.input == "id_field"
