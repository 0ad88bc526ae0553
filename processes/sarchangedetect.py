"""SARChangeDetect: changes in a Sentinel-1 VV+VH time series, at a chosen false-alarm rate."""

from candela.change import sar

from .compute import engine_for_config
from .declaration import RASTER, ZIP, FileInput, LiteralInput, Operation, Output, quicklook_output, raster_output
from .recording import record_change_map

OPTIONS = ("alpha", "enl", "event_date", "method", "units")


def run(job):
    images = job.files("images")  # more than sar.MAX_IMAGES are refused before anything is fetched
    options = {name: value for name in OPTIONS if (value := job.literal(name)) is not None}
    job.progress(0.0, f"Reading {len(images)} images")
    # A bad parameter names itself (its InputError's input); other problems are the images'.
    with engine_for_config() as engine, job.blame("images"):
        result = sar.detect(images, job.workdir, progress=job.progress, max_pixels=job.max_pixels, engine=engine,
                            **options)
    for identifier in ("change_map", "change_mask", "change_date", "quicklook"):
        job.output_file(identifier, result[identifier])
    job.output_json("summary", result["summary"])
    summary = result["summary"]
    record_change_map(job, "sar", {name: summary.get(name) for name in ("test", "alpha", "enl", "changed_fraction")})


OPERATION = Operation(
    identifier="SARChangeDetect",
    title="Sentinel-1 change detection with a known false-alarm rate",
    abstract=(
        "Detects changes in a time series of two or more co-registered Sentinel-1 images (VV and VH "
        "sigma nought) with statistical tests whose false-alarm rate is the significance level alpha: "
        "the omnibus likelihood-ratio test for multitemporal dual-polarisation SAR (Conradsen et al. "
        "2016, diagonal case, with the rho and omega2 small-sample corrections) and its sequential "
        "tests dating the first change; with an event date, the exact F test of the mean before "
        "against the mean after; or (method logratio) the exact F test of the last image against the "
        "first, whose change map then also holds the VV and VH log ratios in dB. Images are GeoTIFFs "
        "(bands named VV and VH, else bands 1 and 2; dated by their ACQUISITION_DATE tag or "
        "Sentinel-1 file name) and/or zipped Sentinel-1 IW GRD products, calibrated to sigma nought; "
        "they are sorted by time and read on the earliest one's grid. No speckle filter is applied: "
        "it would change the ENL the tests rely on."
    ),
    version="1.0.0",
    inputs=(
        FileInput("images", "Sentinel-1 images", "Two or more GeoTIFFs of linear (or, with units=dB, decibel) "
                  "sigma nought with VV and VH bands, and/or zipped Sentinel-1 IW GRD products, in any order.",
                  formats=(ZIP, *RASTER), max_occurs=sar.MAX_IMAGES),
        LiteralInput("alpha", "Significance level", "Expected fraction of unchanged pixels flagged as changed, "
                     "in (0, 0.5].", type="float", default=sar.DEFAULT_ALPHA),
        LiteralInput("enl", "Equivalent number of looks", "A number (4.4 for IW GRDH products), or 'estimate' "
                     "to estimate it from homogeneous areas of the images.", default=str(sar.DEFAULT_ENL)),
        LiteralInput("event_date", "Event date", "Optional date (yyyy-mm-dd, or an ISO 8601 date-time) of a "
                     "known event: the mean of the images before it is tested against the mean of the "
                     "images at or after it.", required=False),
        LiteralInput("method", "Method", "omnibus (default): the omnibus test of the whole series and the "
                     "date of the first change; logratio: the F test of the last image against the first.",
                     default="omnibus", allowed=tuple(sar.METHODS)),
        LiteralInput("units", "Units", "What the GeoTIFFs hold: linear (default) sigma nought, or dB "
                     "(decibels, converted to linear before any statistics).", default="linear",
                     allowed=tuple(sar.UNITS)),
    ),
    outputs=(
        raster_output("change_map", "Change probability", "Float32 GeoTIFF on the earliest image's grid: "
                      "1 - p-value of the test (band 1); with logratio or an event date, also the VV and "
                      "VH log ratios after/before in dB (bands 2 and 3). No data: NaN. Tags PERIOD_START "
                      "and PERIOD_END (ISO 8601): the first and last images' times, or with an event date "
                      "the last image before it and the first after."),
        raster_output("change_mask", "Change mask", "Uint8 GeoTIFF: 1 where the test is significant at "
                      "alpha, 0 elsewhere, 255 no data."),
        raster_output("change_date", "First change", "Uint8 GeoTIFF: index (1-based, in time order; the "
                      "DATES tag and the summary give the dates) of the first image after the first "
                      "significant change, 0 for none, 255 no data."),
        Output("summary", "Summary", "JSON: test, alpha, ENL used and how it was obtained, the images in "
               "time order, changed fraction and first-change counts."),
        quicklook_output(),
    ),
    run=run,
    keywords=("Sentinel-1", "SAR", "change detection", "omnibus test"),
)
