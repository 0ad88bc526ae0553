"""Operations are declared once; every binding is generated from the declaration."""

import pytest

from processes import registry
from processes.declaration import FileInput, LiteralInput, Operation, Output
from processes.job import Job, typed
from processes.qgis import split_list, without_date
from candela.errors import InputError


def test_every_binding_of_every_operation_round_trips_through_its_job_key():
    for binding in registry.PROFILES:
        for process in registry.processes(binding):
            again = registry.load_process(registry.process_key(process))
            assert type(again) is type(process) and again.operation is process.operation
            assert [i.identifier for i in again.inputs] == [i.identifier for i in process.inputs]


def test_wps_gives_each_file_input_a_reference_twin_and_qgis_only_the_twin():
    wps, = registry.processes("wps", [registry.JPEG2TIFF])
    qgis, = registry.processes("qgis", [registry.JPEG2TIFF])
    assert [i.identifier for i in wps.inputs][:2] == ["product", "product_ref"]
    assert wps.required_inputs() == {"product": ("product", "product_ref")}
    ref = next(i for i in qgis.inputs if i.identifier == "product_ref")
    assert ref.min_occurs == 1 and "product" not in {i.identifier for i in qgis.inputs}
    resolution = next(i for i in qgis.inputs if i.identifier == "resolution")
    assert resolution.data_type == "string" and [v.value for v in resolution.allowed_values] == ["10", "20", "60"]


def test_qgis_inputs_keep_distinct_names_without_date_words():
    for process in registry.processes("qgis"):
        names = [i.identifier for i in process.inputs]
        assert len(set(names)) == len(names), process.identifier
        for inpt in process.inputs:
            assert "date" not in inpt.identifier and "datum" not in inpt.identifier
            assert "date" not in inpt.title.lower(), (process.identifier, inpt.title)
    assert without_date("event_date") == "event_day" and without_date("Event Date") == "Event Day"


def test_declarations_refuse_what_no_binding_could_serve():
    with pytest.raises(ValueError, match="not one of"):
        LiteralInput("x", "X", "x", type="int")
    with pytest.raises(ValueError, match="not among"):
        LiteralInput("x", "X", "x", type="integer", default=5, allowed=(10, 20))
    with pytest.raises(ValueError, match="used twice"):
        Operation("Op", "Op", "", "1", inputs=(LiteralInput("a", "A", ""),), outputs=(Output("a", "A", ""),),
                  run=print)


def test_an_operation_not_named_in_its_module_cannot_be_queued():
    stray = Operation("Stray", "Stray", "", "1", inputs=(), outputs=(), run=typed)
    with pytest.raises(LookupError, match="module-level name"):
        registry.operation_path(stray)


def test_literals_are_typed_by_their_declaration_and_blame_their_input(tmp_path):
    operation = Operation("Op", "Op", "", "1", run=print, outputs=(), inputs=(
        LiteralInput("n", "N", "", type="integer", default=3), LiteralInput("flag", "F", "", type="boolean",
                                                                           default=False),
        FileInput("image", "Image", "", required=False, max_occurs=2)))
    job = Job(operation, {"n": [" 7 "], "flag": ["TRUE"], "image": []}, tmp_path, tmp_path / "out")
    assert job.literal("n") == 7 and job.literal("flag") is True and job.files("image") == []
    assert Job(operation, {"n": [""]}, tmp_path, tmp_path).literal("n") == 3  # blank: the default
    with pytest.raises(InputError) as error:
        Job(operation, {"n": ["seven"]}, tmp_path, tmp_path).literal("n")
    assert error.value.input == "n" and "not an integer" in str(error.value)


@pytest.mark.parametrize("url, qgis, ogcapi", [
    ("http://h:5000/wps", "http://h:5000/qgis/wps", "http://h:5000/ogcapi"),
    ("http://h/wps/", "http://h/qgis/wps", "http://h/ogcapi"),
    ("http://h:5000", "http://h:5000/qgis/wps", "http://h:5000/ogcapi"),
    ("https://h/eo/wps?map=x", "https://h/eo/qgis/wps", "https://h/eo/ogcapi"),
])
def test_every_service_is_addressed_beside_wps(wps_app, url, qgis, ogcapi):
    from pywps import configuration

    from processes.ogcapi_web import ogcapi_url

    saved = configuration.CONFIG.get("server", "url")
    configuration.CONFIG.set("server", "url", url)
    try:
        assert registry.service_url("wps") == url
        assert (registry.service_url("qgis"), ogcapi_url()) == (qgis, ogcapi)
    finally:
        configuration.CONFIG.set("server", "url", saved)



@pytest.mark.parametrize("text, items", [
    ("a.tif, b.tif,c.tif", ["a.tif", "b.tif", "c.tif"]),
    ("my data/a b.tif,  other.tif ", ["my data/a b.tif", "other.tif"]),
    ("https://h/wcs?bbox=1,2,3,4&f=tif,https://h/b.tif", ["https://h/wcs?bbox=1,2,3,4&f=tif", "https://h/b.tif"]),
    ("https://h/wcs?bbox=1,2, b.tif", ["https://h/wcs?bbox=1,2", "b.tif"]),
    (",, ", []),
])
def test_a_qgis_list_field_splits_at_commas_but_not_inside_a_url_query(text, items):
    assert split_list(text) == items
