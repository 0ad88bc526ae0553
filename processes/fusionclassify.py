"""FusionClassify: Sentinel-1 + Sentinel-2 land cover, with active learning round after round."""

import time

from candela.classification import options
from candela.errors import InputError
from candela.jobs.sessions import UnknownSession

from . import sessions
from .compute import engine_for_config
from .declaration import (GEOJSON, GML, GPKG, RASTER, ZIP, FileInput, LiteralInput, Operation, Output,
                          VectorInput, raster_output)
from .models import classifiers_dir
from .recording import images_period, raster_products


def run(job):
    # scikit-learn takes a second to import: only a job that classifies pays for it.
    from candela.classification import classify as core
    from candela.classification.classifiers import load_classifier, save_classifier

    optical, sar = job.files("optical"), job.files("sar")
    class_field = job.literal("class_field")
    training = read_training(job, class_field)
    session_id = job.literal("session")
    if session_id is not None:
        training = with_session_labels(training, session_id)
    model = None
    if job.literal("model") is not None:
        with job.blame("model"):
            model = load_classifier(classifiers_dir(), job.literal("model"))
    # [candela] dask: the prediction windows run there (training stays in this job's process).
    with engine_for_config() as engine:
        result = core.classify(
            optical, sar, training, job.workdir, class_field="class", fusion=job.literal("fusion"),
            suggestions=job.literal("suggestion_count"), seed=job.literal("seed"),
            sar_units=job.literal("sar_units"), model=model, progress=job.progress, max_pixels=job.max_pixels,
            engine=engine)
    report = result["report"]
    if model is None:
        metadata = classifier_metadata(result, session_id)
        metadata["id"] = save_classifier(classifiers_dir(), result["model"], metadata)
        report["classifier"] = metadata["id"]
        report["session"] = record_round(session_id, result, metadata["id"])
    else:
        metadata = model[1]
    for identifier in ("classification", "confidence"):
        job.output_file(identifier, result[identifier])
    # Named as the samples' class field, the suggestions go back as training once filled in.
    write_suggestions(job, result["suggestions"].rename(columns={"class": class_field}))
    job.output_json("report", report)
    job.output_json("classifier", metadata)
    record(job, optical, report)


def record(job, optical, report):
    """The land-cover map, its confidence and its report, for the results store."""
    from candela.results.records import Product

    period = images_period(optical)
    products = raster_products(job, {"classification": "landcover", "confidence": "confidence"}, period)
    footprint = products[0][1].footprint
    products.append(("report", Product("classification_report", "report", media_type="application/json",
                                       footprint=footprint, period_start=period[0], period_end=period[1],
                                       properties={"classes": report.get("classes")})))
    job.record(products, period=period, summary={
        "fusion": report.get("fusion"), "classes": report.get("classes"),
        "best": (report.get("validation") or {}).get("best"), "classifier": report.get("classifier", {}).get("id")
        if isinstance(report.get("classifier"), dict) else report.get("classifier")})


def read_training(job, class_field):
    """The training samples given (a GeoDataFrame, their class in ``class``), or None."""
    from candela.vectors.reading import read_features

    found = job.files("training")
    if not found:
        return None
    with job.blame("training"):
        features = read_features(found[0][1])
    if class_field not in features.columns:
        fields = [c for c in features.columns if c != "geometry"]
        raise InputError(f"the samples have no field {class_field!r} (their fields: {', '.join(fields) or 'none'})",
                         "class_field")
    if class_field == "class":
        return features
    return features.drop(columns=["class"], errors="ignore").rename(columns={class_field: "class"})


def with_session_labels(training, session_id):
    """The session's earlier labels, with the new ones (which win where they repeat a sample)."""
    import geopandas
    import pandas

    try:
        earlier = sessions.session_store().get(session_id)["labels"]
    except UnknownSession:
        raise InputError(f"no session {str(session_id)[:60]!r} on this server (give the session id an earlier "
                         "FusionClassify run returned in its report)", "session") from None
    frames = [geopandas.GeoDataFrame.from_features(earlier, crs=4326)] if earlier else []
    if training is not None:
        frames.append(training[["class", "geometry"]].to_crs(4326))
    if not frames:
        raise InputError("the session has no labels yet and none were sent", "training")
    return geopandas.GeoDataFrame(pandas.concat(frames, ignore_index=True), crs=4326)


def classifier_metadata(result, session_id):
    report = result["report"]
    chosen = fusion_scores(report)
    return {
        "classes": report["classes"], "features": report["features"], "fusion": report["fusion"],
        "trained": {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "session": session_id,
                    "inputs": report["inputs"], "grid": report["grid"], "training": report["training"]},
        "accuracy": {key: chosen.get(key) for key in ("overall_accuracy", "kappa")},
    }


def fusion_scores(report):
    """The cross-validated scores of the fusion the map was made with (optical alone when only
    optical images were given); empty when the samples allowed no cross-validation."""
    by_fusion = report["validation"].get("by_fusion", {})
    return by_fusion.get(report["fusion"]) or by_fusion.get("optical") or {}


def record_round(session_id, result, model_id):
    """Keep this round's labels in the session (a new one when none was given): its id and curve."""
    report = result["report"]
    scores = fusion_scores(report)
    labels = result["labels"]
    record = {"labels": int(len(labels)), "pixels": report["training"]["pixels"], "model": model_id,
              "overall_accuracy": scores.get("overall_accuracy"), "kappa": scores.get("kappa"),
              "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    features = [{"type": "Feature", "geometry": feature["geometry"], "properties": {"class": feature["properties"]["class"]}}
                for feature in labels.__geo_interface__["features"]]
    session_id, rounds = sessions.session_store().add_round(session_id, features, record)
    return {"id": session_id, "learning_curve": rounds}


def write_suggestions(job, points):
    from candela.vectors.writing import write_geojson, write_zipped_shapefile

    job.output_file("suggestions", write_geojson(points, job.workdir / "suggestions.geojson"))
    job.output_file("suggestions_shapefile",
                    write_zipped_shapefile(points, job.workdir / "suggestions.zip", "suggestions"))


OPERATION = Operation(
    identifier="FusionClassify",
    title="Land cover from Sentinel-1 and Sentinel-2, with active learning",
    abstract=(
        "Classifies land cover on the grid of the first optical image from Sentinel-2 reflectances and "
        "indices (NDVI, NDWI, NDMI, NBR, NDVI texture) and Sentinel-1 VV/VH backscatter (dB, ratio, 5 x 5 "
        "multilooked mean and normalised variance), per date for time series, with random forests trained on "
        "the pixels under labelled points or polygons. Fusion at feature level (one forest over both "
        "sensors), at decision level (one forest per sensor, probabilities multiplied), or one sensor alone. "
        "Accuracy is estimated by spatially blocked cross-validation, every fusion on the same folds. It "
        "proposes the next samples to label (uncertain, spread in space and feature space); a session keeps "
        "the labels of earlier rounds, so a round sends only its new labels. Other images are resampled "
        "onto the first optical image's grid by nearest neighbour; clouds (SCL) and no data are left out."
    ),
    version="1.0.0",
    inputs=(
        FileInput("optical", "Sentinel-2 images", "GeoTIFFs with bands named by their descriptions (B02, B03, "
                  "B04, B08, B11, B12, ...; integers are reflectance x 10000), e.g. Jpeg2Tiff's outputs; several "
                  "dates make a time series. The first one's grid is the map's.", formats=RASTER,
                  max_occurs=options.MAX_IMAGES),
        FileInput("sar", "Sentinel-1 images", "Optional GeoTIFFs with VV and VH bands (named, or the first two), "
                  "linear sigma nought or dB (see sar_units).", formats=RASTER, required=False,
                  max_occurs=options.MAX_IMAGES),
        VectorInput("training", "Labelled samples", "Points or polygons with their class in the field named by "
                    "class_field: GeoJSON, GML, a zipped shapefile or a GeoPackage. Optional with a session "
                    "(its earlier labels are used) or a model.", formats=(GEOJSON, GML, ZIP, GPKG), required=False),
        LiteralInput("class_field", "Class field", "The samples' field holding their class.", default="class"),
        LiteralInput("fusion", "Fusion", "features (one classifier over both sensors), decision (one per sensor, "
                     "combined), optical or sar (one sensor alone).", default="features", allowed=options.FUSIONS),
        LiteralInput("suggestion_count", "Suggestions", "How many samples to propose for labelling next.",
                     type="integer", default=options.DEFAULT_SUGGESTIONS, minimum=0, maximum=options.MAX_SUGGESTIONS),
        LiteralInput("session", "Session", "Optional: the session id an earlier run returned (in its report), "
                     "whose labels are kept with the new ones. Empty: a new session.", required=False),
        LiteralInput("model", "Model", "Optional: the id of a classifier an earlier run saved (in its "
                     "classifier output), to classify these images without training.", required=False),
        LiteralInput("seed", "Seed", "Seed of the random choices (forests, folds, suggestions).", type="integer",
                     default=0),
        LiteralInput("sar_units", "SAR units", "auto (default: the UNITS tag, else from the values), linear or dB.",
                     default="auto", allowed=options.SAR_UNITS),
    ),
    outputs=(
        raster_output("classification", "Classification", "Uint8 COG: 0 no data, class i is value i (classes in "
                      "sorted order; names in the CLASSES tag), with a colour table."),
        raster_output("confidence", "Confidence", "Float32 COG: the probability of the class chosen; NaN no data."),
        Output("suggestions", "Suggestions", "GeoJSON points to label next, each with its predicted class, "
               "confidence and margin, and an empty class field to fill in and send back.",
               formats=(GEOJSON,), by_reference=True),
        Output("suggestions_shapefile", "Suggestions (shapefile)", "The suggestions as a zipped shapefile.",
               formats=(ZIP,), by_reference=True),
        Output("report", "Report", "JSON: accuracy of every fusion on the same blocked folds (overall accuracy, "
               "kappa, per-class F1, confusion matrix), feature importances, class areas, the session and its "
               "learning curve."),
        Output("classifier", "Classifier", "JSON: the saved classifier's id (give it as model to reuse it), "
               "classes, features, fusion, training provenance and accuracy."),
    ),
    run=run,
    keywords=("Sentinel-1", "Sentinel-2", "land cover", "classification", "data fusion", "active learning"),
)
