"""candela.client's outputs against a small file server of the test's own, which honours
``Range`` and ``If-Range`` (the CANDELA development server ignores them: see test_client.py):
downloads resumed, a changed file never spliced, real names; outputs opened as rasters,
xarray, vectors, JSON and PNG."""

import json
import sys
import threading
import types
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import requests
import shapely

from candela.client import Output
from helpers.rasters import landscape, write_optical


def etag(data):
    return f'"{hash(data) & 0xFFFFFFFF:x}"'


class Files(BaseHTTPRequestHandler):
    """Serves ``files`` (``{path: bytes}``) with an ETag per content, ``Range`` (206) and
    ``If-Range``, under the names in ``names`` (Content-Disposition); a path in ``cuts`` is
    cut off after that many bytes, once. Records each request's headers in ``seen``."""

    files, seen, names, cuts = {}, [], {}, {}
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.seen.append(dict(self.headers))
        data = self.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        tag = etag(data)
        asked = self.headers.get("Range")
        if asked and self.headers.get("If-Range", tag) == tag:
            start = int(asked.removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            data = data[start:]
        else:
            self.send_response(200)
        self.send_header("ETag", tag)
        self.send_header("Content-Length", str(len(data)))
        if self.path in self.names:
            self.send_header("Content-Disposition", f'attachment; filename="{self.names[self.path]}"')
        self.end_headers()
        if self.path in self.cuts:
            self.wfile.write(data[:self.cuts.pop(self.path)])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def file_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Files)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def files(file_server):
    Files.files, Files.seen, Files.names, Files.cuts = {}, [], {}, {}
    return file_server, Files


def output(url, name="out", media_type=None):
    return Output(requests.Session(), name, href=url, media_type=media_type)


def test_an_interrupted_download_is_resumed_from_where_it_stopped(files, tmp_path):
    base, served = files
    served.files["/jobs/1/image.tif"] = data = np.random.default_rng(0).bytes(3 << 20)
    served.cuts["/jobs/1/image.tif"] = 2_000_000
    image = output(f"{base}/jobs/1/image.tif")
    with pytest.raises(requests.RequestException):
        image.download(tmp_path)
    assert "Range" not in served.seen[-1] and image.path is None
    kept = (tmp_path / "image.tif.part").read_bytes()  # what came, but for a last chunk cut short
    assert 1_000_000 < len(kept) <= 2_000_000 and kept == data[:len(kept)]
    assert (tmp_path / "image.tif.part.etag").read_text() == etag(data)
    assert image.download(tmp_path).read_bytes() == data
    assert (served.seen[-1]["Range"], served.seen[-1]["If-Range"]) == (f"bytes={len(kept)}-", etag(data))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["image.tif"]


def test_a_file_changed_since_is_downloaded_whole(files, tmp_path):
    base, served = files
    served.files["/image.tif"] = b"old" * 1000
    (tmp_path / "image.tif.part").write_bytes(b"old" * 100)
    (tmp_path / "image.tif.part.etag").write_text('"0ld"')  # what the old file was
    served.files["/image.tif"] = new = b"new" * 1000
    assert output(f"{base}/image.tif").download(tmp_path).read_bytes() == new
    assert served.seen[-1]["If-Range"] == '"0ld"'


def test_a_partial_file_as_long_as_the_whole_starts_again(files, tmp_path):
    base, served = files
    served.files["/a.json"] = b'{"a": 1}'
    (tmp_path / "a.json.part").write_bytes(b'{"a": 1}')
    assert output(f"{base}/a.json").download(tmp_path).read_bytes() == b'{"a": 1}'
    assert [s.get("Range") for s in served.seen] == ["bytes=8-", None]


def test_a_download_is_named_as_the_server_says(files, tmp_path):
    base, served = files
    served.files["/result?id=3"] = b"x"
    served.names["/result?id=3"] = "../change map.tif"
    assert output(f"{base}/result?id=3").download(tmp_path) == tmp_path / "change map.tif"


def test_a_missing_output_is_a_server_error(files, tmp_path):
    from candela.client import ServerError

    with pytest.raises(ServerError) as missing:
        output(f"{files[0]}/gone.tif").download(tmp_path)
    assert missing.value.status == 404


@pytest.fixture
def raster(files, tmp_path):
    base, served = files
    write_optical(tmp_path / "scene.tif", landscape((12, 16)))
    served.files["/scene.tif"] = (tmp_path / "scene.tif").read_bytes()
    return output(f"{base}/scene.tif", "image", "image/tiff; subtype=geotiff")


def test_rasters_open_with_rasterio(raster, tmp_path):
    with raster.open(tmp_path / "out") as dataset:
        assert (dataset.count, dataset.height, dataset.width) == (4, 12, 16)
    assert raster.path == tmp_path / "out" / "scene.tif"


def test_rasters_open_as_xarray_with_rioxarray(raster, tmp_path):
    pytest.importorskip("rioxarray", reason="rioxarray is not installed (pip install rioxarray)")
    array = raster.open(tmp_path, as_xarray=True)
    assert array.shape == (4, 12, 16) and array.rio.crs.to_epsg() == 32631


def test_without_rioxarray_opening_as_xarray_says_what_to_install(raster, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "rioxarray", None)  # as if not installed
    with pytest.raises(ImportError, match="pip install rioxarray"):
        raster.open(tmp_path, as_xarray=True)
    summary = Output(requests.Session(), "summary", value={"a": 1}, media_type="application/json")
    with pytest.raises(ValueError, match="not a raster"):
        summary.open(tmp_path, as_xarray=True)
    assert summary.path is None and not (tmp_path / "summary.json").exists()  # nothing downloaded


@pytest.fixture
def layer(tmp_path):
    geopandas = pytest.importorskip("geopandas")
    frame = geopandas.GeoDataFrame({"n": [1, 2]}, geometry=[shapely.Point(0, 0), shapely.Point(1, 1)],
                                   crs="EPSG:4326")
    frame.to_file(tmp_path / "parcels.geojson", driver="GeoJSON")
    frame.to_file(tmp_path / "parcels.gml", driver="GML")
    frame.to_file(tmp_path / "parcels.gpkg", driver="GPKG")
    (tmp_path / "shp").mkdir()
    frame.to_file(tmp_path / "shp" / "parcels.shp")
    with zipfile.ZipFile(tmp_path / "parcels.zip", "w") as archive:
        for part in (tmp_path / "shp").iterdir():
            archive.write(part, part.name)
    return tmp_path


@pytest.mark.parametrize("name, media_type", [
    ("parcels.geojson", "application/geo+json"), ("parcels.gml", "application/gml+xml"),
    ("parcels.gpkg", "application/geopackage+sqlite3"), ("parcels.zip", "application/zip"),
    ("parcels.geojson", None)])
def test_vectors_open_with_geopandas(files, layer, tmp_path, name, media_type):
    base, served = files
    served.files[f"/{name}"] = (layer / name).read_bytes()
    frame = output(f"{base}/{name}", "parcels", media_type).open(tmp_path / "out")
    assert list(frame["n"]) == [1, 2] and frame.geometry.iloc[1] == shapely.Point(1, 1)


def test_a_zip_without_a_shapefile_opens_as_its_path(files, tmp_path):
    base, served = files
    with zipfile.ZipFile(tmp_path / "product.zip", "w") as archive:
        archive.writestr("product.SAFE/manifest.safe", "<xml/>")
    served.files["/product.zip"] = (tmp_path / "product.zip").read_bytes()
    assert output(f"{base}/product.zip", "product", "application/zip").open(tmp_path / "out") == \
        tmp_path / "out" / "product.zip"


def test_json_opens_as_data(files, tmp_path):
    base, served = files
    served.files["/pairs.json"] = json.dumps({"pairs": [[1, 2]]}).encode()
    assert output(f"{base}/pairs.json", "pairs", "application/json").open(tmp_path) == {"pairs": [[1, 2]]}
    embedded = Output(requests.Session(), "summary", value={"a": 1}, media_type="application/json")
    assert embedded.open(tmp_path) == {"a": 1}
    assert json.loads(embedded.download(tmp_path / "saved").read_text()) == {"a": 1}
    assert embedded.path == tmp_path / "saved" / "summary.json"


def test_png_is_an_inline_image_in_a_notebook_and_a_path_elsewhere(files, tmp_path, monkeypatch):
    base, served = files
    served.files["/quicklook.png"] = png = b"\x89PNG\r\n\x1a\n" + np.zeros(8, np.uint8).tobytes()
    quicklook = output(f"{base}/quicklook.png", "quicklook", "image/png")
    monkeypatch.setitem(sys.modules, "IPython", None)  # no IPython
    assert quicklook.open(tmp_path) == tmp_path / "quicklook.png"
    # In a Jupyter kernel: an IPython Image of the file
    shell = types.SimpleNamespace(kernel=object())
    ipython = types.ModuleType("IPython")
    ipython.get_ipython = lambda: shell
    display = types.ModuleType("IPython.display")
    display.Image = lambda filename: ("Image", Path(filename).read_bytes())
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", display)
    assert quicklook.open(tmp_path) == ("Image", png)
    shell.kernel = None  # a terminal IPython: no inline display
    assert quicklook.open(tmp_path) == tmp_path / "quicklook.png"
