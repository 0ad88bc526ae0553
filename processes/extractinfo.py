"""ExtractInfo: images grouped by place and sorted by date into time-consecutive pairs."""

from candela.pairing import extractinfo

from .base import CandelaProcess, InputProblem
from .wpsio import json_output, product_input

MAX_IMAGES = 500


class ExtractInfo(CandelaProcess):
    IDENTIFIER = "ExtractInfo"
    TITLE = "Pair images by place and date"
    ABSTRACT = (
        "Groups images by place (overlapping footprints, not tile names) and sorts each group by "
        "acquisition time into time-consecutive pairs. Images are GeoTIFFs dated by their "
        "ACQUISITION_DATE tag, TIFFTAG_DATETIME or a Sentinel-2 file name, and/or zipped Sentinel-2 "
        "SAFE products. Unreadable or undated inputs are reported by name."
    )
    VERSION = "1.0.0"

    def inputs_(self):
        return product_input("images", "Images", "GeoTIFFs and/or zipped Sentinel-2 products.",
                             max_occurs=MAX_IMAGES, rasters_too=True)

    def outputs_(self):
        return [json_output("pairs", "Groups and pairs", "JSON: each group's time-ordered acquisitions "
                            "and consecutive pairs, and the inputs that were rejected with the reason.")]

    def run(self, job):
        images = job.files("images", limit=MAX_IMAGES)
        if not images:
            raise InputProblem("images", "required: give images or images_ref")
        job.progress(0.1, f"Reading {len(images)} images")
        with job.blame("images"):
            result = extractinfo.extract_info(images, max_pixels=job.max_pixels)
        job.output_json("pairs", result)
