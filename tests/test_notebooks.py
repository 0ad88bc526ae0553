"""The example notebooks in examples/ executed against a live server on the sample data: every
cell runs, and what each notebook is there to show comes out. The notebooks in the checkout are
left as they are (examples/execute.py saves them with their outputs)."""

import os
import sys
import time

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from nbclient import NotebookClient

from helpers.live import LiveServer, serve
from helpers.paths import ROOT

pytestmark = pytest.mark.live

EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("notebooks")
    # The server a user starts (wsgi.py: our processes only), the samples a data root as in the checkout's
    # pywps.cfg; two jobs at once, as the notebooks submit both Jpeg2Tiff jobs before waiting.
    with LiveServer(root, command=serve(ROOT / "wsgi.py"), data_roots=[ROOT / "data" / "samples"],
                    parallelprocesses=2) as live:
        yield live


@pytest.fixture(scope="module")
def kernel_name(tmp_path_factory):
    """``python3`` running this Python: the kernelspec found where this Python's Jupyter looks,
    else one installed into a temporary folder (never into the environment)."""
    try:
        KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel:
        from ipykernel.kernelspec import install

        prefix = tmp_path_factory.mktemp("kernels")
        install(prefix=str(prefix), kernel_name="python3")
        os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(prefix / "share" / "jupyter"),
                                                                   os.environ.get("JUPYTER_PATH")]))
    return "python3"


@pytest.fixture
def run(server, kernel_name, tmp_path, monkeypatch):
    """Execute a notebook of examples/ in a fresh kernel (this Python, this checkout first on its
    path) in ``tmp_path``, with CANDELA_URL naming the live server; the executed notebook."""
    pytest.importorskip("matplotlib", reason="the notebooks plot with matplotlib")
    monkeypatch.setenv("CANDELA_URL", server.base)  # the kernel inherits this environment
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))

    def run(name):
        book = nbformat.read(EXAMPLES / name, as_version=4)
        start = time.monotonic()
        NotebookClient(book, timeout=600, kernel_name=kernel_name,
                       resources={"metadata": {"path": str(tmp_path)}}).execute()
        print(f"{name}: {time.monotonic() - start:.1f} s", file=sys.stderr)
        assert not [o for c in code_cells(book) for o in c.outputs if o.output_type == "error"]
        return book
    return run


def code_cells(book):
    return [c for c in book.cells if c.cell_type == "code"]


def text(cell):
    """What a cell printed and the plain text of what it showed."""
    return "".join(o.get("text", "") if o.output_type == "stream" else o.get("data", {}).get("text/plain", "")
                   for o in cell.outputs)


def shows_png(cell):
    return any("image/png" in o.get("data", {}) for o in cell.outputs)


def cell_with(book, source):
    """The code cell whose source holds ``source``."""
    found = [c for c in code_cells(book) if source in c.source]
    assert len(found) == 1, source
    return found[0]


def test_the_notebooks_carry_no_errors_and_read_the_server_from_the_environment():
    for path in sorted(EXAMPLES.glob("*.ipynb")):
        book = nbformat.read(path, as_version=4)
        nbformat.validate(book)
        assert book.metadata.kernelspec.name == "python3"
        assert 'os.environ.get("CANDELA_URL", "http://127.0.0.1:5000")' in book.cells[1].source, path.name
        assert not [o for c in code_cells(book) for o in c.outputs if o.output_type == "error"], path.name
        assert str(ROOT) not in path.read_text(), f"{path.name} names this checkout's folder"


def test_optical_change(run, tmp_path):
    book = run("optical_change.ipynb")
    assert "pair: S2A_MSIL1C_20180602" in text(cell_with(book, "client.extract_info("))
    assert "-> S2A_MSIL2A_20230612" in text(cell_with(book, "client.extract_info("))
    assert shows_png(cell_with(book, "client.change_detect("))
    assert "changed fraction (p > 0.5): 0." in text(cell_with(book, 'change["summary"]'))
    assert (tmp_path / "outputs" / "optical_change" / "S2_T31TCJ_20180602_60m.tif").is_file()


def test_sar_change(run):
    book = run("sar_change.ipynb")
    assert shows_png(cell_with(book, "client.sar_change_detect("))
    summary = text(cell_with(book, 'result["summary"]'))
    assert "test: event, event date 2024-03-20" in summary
    assert "2024-03-13T05:50:00Z (before)" in summary and "2024-03-25T05:50:00Z (after)" in summary
    checked = text(cell_with(book, "false alarms outside it"))
    detected = float(checked.split("rectangle: ")[1].split()[0])
    false_alarms = float(checked.split("outside it: ")[1].split()[0])
    assert detected > 0.95 and false_alarms < 0.03


def test_fusion_active_learning(run):
    book = run("fusion_active_learning.ipynb")
    assert "session: " in text(cell_with(book, "session = report"))
    assert "kappa" in text(cell_with(book, "def fusion_table"))
    assert shows_png(cell_with(book, "ax.imshow(classes"))
    agreement = float(text(cell_with(book, "ax.imshow(classes")).split("truth: ")[1].split()[0])
    assert agreement > 0.8
    last = text(code_cells(book)[-1])
    assert last.startswith("2 rounds: 8 labels -> accuracy"), last
    assert "20 labels" in last


def test_forester_windthrow(run):
    book = run("forester_windthrow.ipynb")
    assert shows_png(cell_with(book, "target=\"vegetation_loss\""))
    assert shows_png(cell_with(book, "client.sar_change_detect("))
    assert "'forest'" in text(cell_with(book, "client.fusion_classify("))
    checked = text(cell_with(book, "largest error on a damaged parcel"))
    assert "under the cloud" in checked and "(sar, under the cloud)" in checked
    assert float(checked.split("largest error on a damaged parcel: ")[1].split("%")[0]) < 20
    understood = text(cell_with(book, "client.semantic_search("))
    assert understood.startswith("forest parcels damaged after 2017-08-01 with at least 30 % damage")
    graph = text(cell_with(book, "cdl:damageLevel cdl:high"))
    assert "T-107" in graph and "T-101" in graph and ("sar+optical" in graph or "optical+sar" in graph)
