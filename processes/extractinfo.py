"""ExtractInfo: images grouped by place and sorted by date into time-consecutive pairs."""

from candela.pairing import extractinfo

from .declaration import RASTER, ZIP, FileInput, Operation, Output

MAX_IMAGES = 500


def run(job):
    images = job.files("images")  # more than MAX_IMAGES are refused before anything is fetched
    job.progress(0.1, f"Reading {len(images)} images")
    with job.blame("images"):
        result = extractinfo.extract_info(images, max_pixels=job.max_pixels)
    job.output_json("pairs", result)


OPERATION = Operation(
    identifier="ExtractInfo",
    title="Pair images by place and date",
    abstract=(
        "Groups images by place (overlapping footprints, not tile names) and sorts each group by "
        "acquisition time into time-consecutive pairs. Images are GeoTIFFs dated by their "
        "ACQUISITION_DATE tag, TIFFTAG_DATETIME or a Sentinel-2 file name, and/or zipped Sentinel-2 "
        "SAFE products. Unreadable or undated inputs are reported by name."
    ),
    version="1.0.0",
    inputs=(
        FileInput("images", "Images", "GeoTIFFs and/or zipped Sentinel-2 products.", formats=(ZIP, *RASTER),
                  max_occurs=MAX_IMAGES),
    ),
    outputs=(
        Output("pairs", "Groups and pairs", "JSON: each group's time-ordered acquisitions and consecutive "
               "pairs, and the inputs that were rejected with the reason."),
    ),
    run=run,
    keywords=("Sentinel-2", "time series"),
)
