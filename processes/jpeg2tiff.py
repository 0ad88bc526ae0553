"""Jpeg2Tiff: a Sentinel-2 product (SAFE, JPEG 2000 bands) becomes one GeoTIFF of chosen bands."""

from candela.conversion import jpeg2tiff
from candela.rasters.aoi import parse_aoi
from candela.safe.sentinel2 import open_product

from .compute import engine_for_config
from .declaration import ZIP, FileInput, LiteralInput, Operation, Output, aoi_input, raster_output
from .limits import archive_limits


def run(job):
    with job.blame("bands"):
        bands = jpeg2tiff.check_bands(job.literal("bands"))
    resolution = job.literal("resolution")
    with job.blame("aoi"):
        aoi = parse_aoi(job.literal("aoi"))
    job.progress(0.0, "Reading the product")
    _, path = job.file("product")
    with engine_for_config() as engine, job.blame("product"):
        product = open_product(path, job.workdir / "product", **archive_limits())
        destination = job.workdir / jpeg2tiff.output_name(product, resolution)
        written = jpeg2tiff.convert(product, destination, bands=bands, resolution=resolution, aoi=aoi,
                                    mask_clouds=job.literal("mask_clouds"), progress=job.progress,
                                    max_pixels=job.max_pixels, engine=engine)
    job.output_file("image", destination)
    job.output_json("metadata", {key: value for key, value in written.items() if key != "path"})


OPERATION = Operation(
    identifier="Jpeg2Tiff",
    title="Sentinel-2 product to GeoTIFF",
    abstract=(
        "Converts a Sentinel-2 Level-1C or Level-2A product (zipped SAFE, or a .SAFE folder under a "
        "data root) into one Cloud Optimized GeoTIFF of the chosen bands at one resolution: uint16 "
        "reflectance x 10000 with the product's radiometric offset applied (so every processing "
        "baseline is comparable), nodata 0, band descriptions set to the band names and the "
        "acquisition time in the ACQUISITION_DATE tag."
    ),
    version="1.0.0",
    inputs=(
        FileInput("product", "Sentinel-2 product", "A zipped SAFE product (Level-1C or Level-2A).",
                  formats=(ZIP,)),
        LiteralInput("bands", "Bands", "Comma-separated band names: B01-B12, B8A, and SCL for Level-2A.",
                     default=",".join(jpeg2tiff.DEFAULT_BANDS)),
        LiteralInput("resolution", "Resolution (m)", "Output pixel size; bands are resampled to it "
                     "(reflectance bilinear, SCL nearest).", type="integer", default=10, allowed=(10, 20, 60)),
        aoi_input(),
        LiteralInput("mask_clouds", "Mask clouds", "Level-2A only: pixels classified as cloud, cloud "
                     "shadow, cirrus or no data in SCL become nodata.", type="boolean", default=False),
    ),
    outputs=(
        raster_output("image", "GeoTIFF", "Cloud Optimized GeoTIFF of the requested bands."),
        Output("metadata", "Metadata", "JSON: product, bands, size, CRS, transform and tags of the image."),
    ),
    run=run,
    keywords=("Sentinel-2", "GeoTIFF", "COG"),
)
