"""FusionClassify's core on generated scenes: fusion measured against each sensor on the same
blocked folds, the maps written, a saved model reused, bad samples named, and active learning
measured against random labelling."""

import json

import geopandas
import numpy as np
import pandas
import pytest
import rasterio

from candela.classification.classify import classify
from candela.datasets.synthetic_fusion import CLASSES, sample_points, write_fusion_scene
from candela.errors import InputError


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    return write_fusion_scene(tmp_path_factory.mktemp("scene"), size=200, seed=0, cloud=True)


def run(scene, folder, training, **options):
    return classify([("s2.tif", p) for p in scene.optical], [("s1.tif", scene.sar)], training, folder, **options)


def map_accuracy(scene, result):
    """Share of valid pixels whose class is the truth's."""
    with rasterio.open(result["classification"]) as found, rasterio.open(scene.truth) as truth:
        classes, expected = found.read(1), truth.read(1)
        names = json.loads(found.tags()["CLASSES"])
    valid = classes > 0
    predicted = np.array(names)[classes[valid] - 1]
    return float((predicted == np.array(CLASSES)[expected[valid]]).mean())


@pytest.fixture(scope="module")
def fused(scene, tmp_path_factory):
    training = scene.parcels.iloc[::2]  # every other parcel, whole polygons
    return run(scene, tmp_path_factory.mktemp("fused"), training, seed=0)


def test_fusion_beats_each_sensor_on_the_same_blocked_folds(fused):
    validation = fused["report"]["validation"]
    kappa = {kind: scores["kappa"] for kind, scores in validation["by_fusion"].items()}
    assert set(kappa) == {"optical", "sar", "features", "decision"}
    assert kappa["features"] > kappa["optical"] + 0.15 and kappa["features"] > kappa["sar"] + 0.15, kappa
    assert kappa["decision"] > max(kappa["optical"], kappa["sar"]), kappa
    assert validation["best"] in ("features", "decision")
    assert validation["folds"] == 5 and validation["blocks"] >= 15
    soils = validation["by_fusion"]["optical"]["f1"]
    assert min(soils["smooth_soil"], soils["ploughed_soil"]) < 0.7  # the optical bands cannot tell them apart


def test_the_map_is_right_where_fusion_said_it_would_be(scene, fused):
    assert map_accuracy(scene, fused) > 0.9


def test_the_maps_are_cogs_with_classes_colours_and_no_data_under_clouds(fused):
    with rasterio.open(fused["classification"]) as classification:
        assert classification.dtypes[0] == "uint8" and classification.nodata == 0
        assert json.loads(classification.tags()["CLASSES"]) == sorted(CLASSES)
        assert classification.tags()["CLASS_1"] == "dry_grass"
        colours = classification.colormap(1)
        assert colours[0][3] == 0 and len({colours[v] for v in range(1, 5)}) == 4
        for grass in ("meadow", "dry_grass"):  # grassland green, in two shades
            red, green, blue, _ = colours[sorted(CLASSES).index(grass) + 1]
            assert green > red and green > blue
        values = classification.read(1)
        assert classification.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
    with rasterio.open(fused["confidence"]) as confidence:
        probability = confidence.read(1)
    assert (values == 0).sum() > 0  # the cloud's pixels
    assert np.isnan(probability[values == 0]).all()
    assert np.nanmin(probability) >= 0.25 and np.nanmax(probability) <= 1.0


def test_the_report_holds_what_the_user_needs(fused):
    report = fused["report"]
    assert report["classes"] == sorted(CLASSES)
    assert report["training"]["pixels"] > 1000 and report["training"]["pixels_left_out"] >= 0
    confusion = report["validation"]["by_fusion"]["features"]["confusion_matrix"]
    assert sum(map(sum, confusion["counts"])) == report["training"]["pixels"]
    importances = report["feature_importances"]["features"]
    assert abs(sum(importances.values()) - 1) < 0.01 and "VV_mean_dB" in list(importances)[:6]
    assert sum(report["areas"]["pixels"].values()) == 200 * 200


def test_suggestions_are_unlabelled_points_spread_over_the_image(scene, fused):
    points = fused["suggestions"]
    assert len(points) == 20 and points.crs == scene.grid.crs
    assert set(points["predicted"]) <= set(CLASSES) and (points["class"] == "").all()
    assert points["margin"].between(0, 1).all()
    labelled = scene.parcels.iloc[::2].union_all()
    assert not points.within(labelled).any()
    fields = geopandas.sjoin(points, scene.parcels, predicate="within")["parcel"]
    print(f"{fields.nunique()} fields among {len(points)} suggestions")
    assert fields.nunique() >= 6  # spread over fields (8 measured), not clumped in one or two


def test_a_saved_model_classifies_again_without_training(scene, fused, tmp_path):
    again = run(scene, tmp_path, None, model=(fused["model"], {"id": "x"}))
    with rasterio.open(fused["classification"]) as first, rasterio.open(again["classification"]) as second:
        np.testing.assert_array_equal(first.read(1), second.read(1))
    with pytest.raises(InputError, match="missing VV_dB") as error:
        classify([("s2.tif", scene.optical[0])], [], None, tmp_path, model=(fused["model"], {}))
    assert error.value.input == "model"


@pytest.mark.parametrize("case, match, blamed", [
    ("one class", "two", "training"),
    ("outside", "outside", "training"),
    ("no field", "field", "training"),
])
def test_bad_samples_are_named(scene, tmp_path, case, match, blamed):
    training = scene.parcels.iloc[::2].copy()
    if case == "one class":
        training["class"] = "meadow"
    elif case == "outside":
        training.geometry = training.geometry.translate(50000, 0)
    else:
        training = training.rename(columns={"class": "landcover"})
    with pytest.raises(InputError, match=match) as error:
        run(scene, tmp_path, training)
    assert error.value.input == blamed


def test_samples_only_under_clouds_are_named(tmp_path):
    scene = write_fusion_scene(tmp_path, size=60, seed=3, cloud=True)
    with rasterio.open(scene.optical[0]) as optical:
        cloud = optical.read(1) == 0
    rows, cols = np.nonzero(cloud)
    xs, ys = scene.grid.transform * (cols[:4] + 0.5, rows[:4] + 0.5)
    training = geopandas.GeoDataFrame({"class": ["a", "b", "a", "b"]},
                                      geometry=geopandas.points_from_xy(xs, ys), crs=scene.grid.crs)
    with pytest.raises(InputError, match="no valid pixel") as error:
        run(scene, tmp_path, training)
    assert error.value.input == "training"


def test_fusions_needing_radar_are_refused_without_it(scene, tmp_path):
    with pytest.raises(InputError) as error:
        classify([("s2.tif", scene.optical[0])], [], scene.parcels, tmp_path, fusion="decision")
    assert error.value.input == "fusion"


def random_labels(scene, count, seed):
    """``count`` pixels drawn uniformly over the image, labelled with their true class."""
    rng = np.random.default_rng(seed)
    rows, cols = rng.integers(0, scene.grid.height, count), rng.integers(0, scene.grid.width, count)
    return labelled_by_truth(scene, rows, cols)


def labelled_by_truth(scene, rows, cols):
    with rasterio.open(scene.truth) as truth:
        values = truth.read(1)
    xs, ys = scene.grid.transform @ (cols + 0.5, rows + 0.5)
    return geopandas.GeoDataFrame({"class": [CLASSES[values[r, c]] for r, c in zip(rows, cols)]},
                                  geometry=geopandas.points_from_xy(xs, ys), crs=scene.grid.crs)


def test_suggested_samples_teach_more_than_random_ones(tmp_path):
    """An early round of active learning (2 labels per class, then 8 more) against 8 labels at
    random pixels (three draws), over ten scenes: the map's accuracy gained, mean and spread."""
    gains = {"suggested": [], "random": []}
    for seed in range(10):
        scene = write_fusion_scene(tmp_path / str(seed), size=160, seed=seed)
        start = sample_points(scene, 2, seed=seed)[["class", "geometry"]]
        first = run(scene, tmp_path / f"{seed}-0", start, seed=seed, suggestions=8)
        before = map_accuracy(scene, first)

        def gain(extra, name):
            more = geopandas.GeoDataFrame(pandas.concat([start, extra], ignore_index=True))
            return map_accuracy(scene, run(scene, tmp_path / f"{seed}-{name}", more, seed=seed, suggestions=0)) - before

        points = first["suggestions"]
        rows, cols = rasterio.transform.rowcol(scene.grid.transform, points.geometry.x, points.geometry.y)
        gains["suggested"].append(gain(labelled_by_truth(scene, np.array(rows), np.array(cols)), "suggested"))
        gains["random"].append(np.mean([gain(random_labels(scene, 8, seed=100 + seed + 1000 * draw), f"r{draw}")
                                        for draw in range(3)]))
    suggested, random = np.array(gains["suggested"]), np.array(gains["random"])
    print(f"accuracy gained from 8 suggested labels {suggested.mean():.3f} ± {suggested.std():.3f}, "
          f"from 8 random ones {random.mean():.3f} ± {random.std():.3f}; "
          f"suggested better on {(suggested > random).sum()} scenes of 10")
    assert suggested.mean() > random.mean() + 0.01, (suggested, random)
    assert (suggested > random).sum() >= 7, (suggested, random)


def test_suggestions_sent_back_half_filled_in_train_on_those_labelled(scene, fused, tmp_path):
    points = fused["suggestions"].copy()
    rows, cols = rasterio.transform.rowcol(scene.grid.transform, points.geometry.x, points.geometry.y)
    truth = labelled_by_truth(scene, np.array(rows), np.array(cols))["class"].to_numpy()
    points["class"] = [truth[i] if i < 5 else "" for i in range(len(points))]
    points.loc[6, "class"] = None
    training = geopandas.GeoDataFrame(pandas.concat([scene.parcels.iloc[::4][["class", "geometry"]],
                                                     points[["class", "geometry"]]], ignore_index=True))
    report = run(scene, tmp_path, training, suggestions=0)["report"]
    assert report["training"]["left_out_without_class"] == len(points) - 5
    assert report["training"]["samples"] == len(scene.parcels.iloc[::4]) + 5
