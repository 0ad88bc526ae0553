"""Opening Sentinel products sent as uploads, URLs or server paths."""

from candela import archive, sentinel2
from candela.errors import InputError

from .base import max_input_bytes


def open_product(job, identifier):
    """The Sentinel-2 product given for ``identifier``: a zip is unpacked safely first."""
    name, path = job.file(identifier)
    with job.blame(identifier):
        if path.is_dir():
            return sentinel2.read_product(path)
        if not archive.is_zip(path):
            raise InputError("not a zipped SAFE product or a .SAFE folder")
        # Sentinel-2 zips hold JPEG 2000 files that barely compress: 4x the input limit is ample.
        folder = archive.extract_zip(path, job.workdir / "product", max_total_bytes=4 * max_input_bytes())
        return sentinel2.read_product(folder)
