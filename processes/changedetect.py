"""ChangeDetect: probability of change between two images from their autoencoder features."""

from candela.change import changedetect, targets
from candela.learning.models import DEFAULT_MODEL, load_model

from .compute import engine_for_config
from .declaration import FileInput, LiteralInput, Operation, Output, quicklook_output, raster_output
from .models import model_directories
from .recording import record_change_map


def run(job):
    with job.blame("method"):
        method = changedetect.check_method(job.literal("method"))
    with job.blame("model"):
        model = load_model(job.literal("model"), model_directories())
    target = targets.check_target(job.literal("target"))
    before_name, before = job.file("before")
    after_name, after = job.file("after")
    destination = job.workdir / "change_map.tif"
    quicklook = job.workdir / "quicklook.png"
    with engine_for_config() as engine, job.blame("before"):
        summary = changedetect.detect(before, after, destination, method=method, model=model,
                                      quicklook=quicklook, progress=job.progress, max_pixels=job.max_pixels,
                                      target=target, names=(before_name, after_name), engine=engine)
    summary.pop("path")
    job.output_file("change_map", destination)
    job.output_file("quicklook", quicklook)
    job.output_json("summary", summary)
    record_change_map(job, "optical", {"method": method, "target": target, "model": summary.get("model"),
                                       "changed_fraction": summary.get("changed_fraction")})


OPERATION = Operation(
    identifier="ChangeDetect",
    title="Change detection between two dates (autoencoder features)",
    abstract=(
        "Encodes both images with the encoder of an autoencoder trained without labels and turns the "
        "distance between their feature maps into a probability of change in [0, 1], written on the "
        "grid of 'before' (float32 GeoTIFF, NaN where either image has no data). 'after' is resampled "
        "onto that grid when it differs. Bands are matched by their descriptions (B02, B03, B04, B08 "
        "for the shipped model), else by count and order; Level-1C and Level-2A inputs both work, "
        "since each image is standardised by its own statistics. Method 'raw' compares the "
        "standardised bands themselves (zCVA), the baseline. 'target' keeps one kind of change by "
        "multiplying the probability by a gate from each pixel's own spectral indices on both dates, "
        "so that it stays sharp at the pixel: 'any' (default) keeps every change; 'vegetation_loss' "
        "(canopy loss: windthrow, clear-cut, die-off) keeps pixels that were vegetated before (NDVI "
        "above about 0.4) and whose NDVI, or NBR (B12) or NDMI (B11) where both images have the band, "
        "fell by more than about 0.15 (logistic gates); 'urban' drops pixels vegetated on both dates, "
        "pixels vegetated on either date whose NDVI changed by more than about 0.15, and water on "
        "either date (NDWI, B03/B08, above about 0.3), keeping changes of built-up and bare ground. "
        "The map's tags give the target (CHANGE_TARGET) and, when the images are dated "
        "(ACQUISITION_DATE tag or Sentinel-2 name), the change period (PERIOD_START, PERIOD_END)."
    ),
    version="1.0.0",
    inputs=(
        FileInput("before", "Image before", "GeoTIFF of the first date (its grid is the output's)."),
        FileInput("after", "Image after", "GeoTIFF of the second date."),
        LiteralInput("method", "Method", "'autoencoder': distance between encoded features; 'raw': "
                     "distance between standardised bands (baseline).", default="autoencoder",
                     allowed=tuple(changedetect.METHODS)),
        LiteralInput("model", "Model", f"Id of a model (default {DEFAULT_MODEL}, the shipped "
                     "one), or one trained with TrainAutoencoder.", required=False),
        LiteralInput("target", "Target", "Which changes count. 'any': every change; 'vegetation_loss': "
                     "only where vegetation decreases (needs B04, B08; uses B11, B12 when both images have "
                     "them); 'urban': built-up change, with vegetation and water changes left out (needs "
                     "B03, B04, B08).", default=targets.DEFAULT_TARGET, allowed=targets.TARGETS),
    ),
    outputs=(
        raster_output("change_map", "Change probability", "Float32 GeoTIFF in [0, 1] on the grid of "
                      "'before'; NaN where either image has no data. Tags: CHANGE_TARGET, and PERIOD_START "
                      "and PERIOD_END (ISO 8601) when the images are dated."),
        quicklook_output(),
        Output("summary", "Summary", "JSON: changed fraction at 0.5, histogram, method, model, "
               "target and the indices its gate used, probability mapping and timings."),
    ),
    run=run,
    keywords=("change detection", "autoencoder", "Sentinel-2"),
)
