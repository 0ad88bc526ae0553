"""``pip install .[client]`` alone: the client's dependencies leave the server's out, and the
client runs processes and opens their outputs with none of the server's packages importable."""

import configparser
import subprocess
import sys
import textwrap

import pytest
from packaging.requirements import Requirement

from helpers.live import LiveServer
from helpers.paths import ROOT

#: Packages only the server and the algorithms need (import names, and distribution names).
SERVER_MODULES = ("pywps", "pygeoapi", "werkzeug", "sqlalchemy", "tensorflow", "sklearn", "skactiveml", "scipy",
                  "gunicorn", "gevent", "exactextract")
SERVER_DISTRIBUTIONS = {"pywps", "pygeoapi", "werkzeug", "sqlalchemy", "tensorflow", "scikit-learn",
                        "scikit-activeml", "scipy", "gunicorn", "gevent", "exactextract"}
PRODUCT = "S2A_MSIL2A_20230612T105621_N0400_R023_T31TCJ_20230612T154421.zip"


def declared(option, section="options"):
    """The requirements setup.cfg declares under ``option`` (read from the file, which the
    metadata of an editable install may lag behind)."""
    config = configparser.ConfigParser(inline_comment_prefixes=None)
    config.read(ROOT / "setup.cfg")
    lines = [line.strip() for line in config.get(section, option).splitlines()]
    return {Requirement(line).name.lower() for line in lines if line and not line.startswith("#")}


def test_the_client_extra_pulls_none_of_the_server_packages():
    pulled = declared("install_requires") | declared("client", "options.extras_require")
    assert {"requests", "rasterio", "geopandas", "tqdm"} <= pulled
    assert not pulled & SERVER_DISTRIBUTIONS, pulled & SERVER_DISTRIBUTIONS
    assert SERVER_DISTRIBUTIONS <= declared("server", "options.extras_require")


#: Run in a fresh interpreter where the server's packages cannot be imported.
SCRIPT = textwrap.dedent('''
    import importlib.abc, sys

    class Refuse(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {blocked!r}:
                raise ImportError(f"{{name}} is a server package")

    sys.meta_path.insert(0, Refuse())
    from candela.client import Client

    client = Client({url!r})
    outputs = client.jpeg2tiff(product={product!r}, bands="B04", resolution=60).result(progress=False)
    with outputs["image"].open({folder!r}) as image:
        print("raster", image.descriptions, image.res)
    print("json", outputs["metadata"].open({folder!r})["bands"])
    print("loaded", sorted(m for m in {blocked!r} if m in sys.modules))
''')


@pytest.mark.live
def test_the_client_works_without_the_server_packages(tmp_path):
    with LiveServer(tmp_path, data_roots=[ROOT / "data" / "samples"]) as server:
        script = SCRIPT.format(blocked=SERVER_MODULES, url=server.base, product=PRODUCT, folder=str(tmp_path / "out"))
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                                cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "raster ('B04',) (60.0, 60.0)" in result.stdout, result.stdout
    assert "json ['B04']" in result.stdout and "loaded []" in result.stdout, result.stdout
