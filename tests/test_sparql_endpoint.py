"""/search/sparql speaks the SPARQL 1.1 Protocol over the results store: GET and both POST forms,
content negotiation, clear 400s for what is not a query, read-only, in step with new runs."""

import csv
import io
import json

import pytest
import shapely
from lxml import etree
from werkzeug.test import Client

from candela.results.records import Observation, Run

PARCELS = "SELECT ?label WHERE { ?p a cdl:Parcel ; rdfs:label ?label } ORDER BY ?label"


@pytest.fixture(scope="module")
def client(wps_app):
    from processes.recording import results_store

    observation = Observation("S-1", shapely.box(18.6, 53.0, 18.61, 53.01), "ranked", {"parcel_id": "S-1"},
                              ("forest",), ("sar",), "2017-07-30", "2017-09-29", 1.0, 1.0, 0.5, 0.5, 0.5, 1, "middle")
    results_store().record(Run("ParcelDamage", "1.0.0", job_id="sparql-test"), observations=[observation])
    return Client(wps_app)


def labels(response):
    return [b["label"]["value"] for b in response.get_json()["results"]["bindings"]]


def test_get_answers_sparql_json(client):
    response = client.get("/search/sparql", query_string={"query": PARCELS})
    assert response.status_code == 200
    assert response.mimetype == "application/sparql-results+json"
    assert "S-1" in labels(response)
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_post_forms(client):
    form = client.post("/search/sparql", data={"query": PARCELS})
    body = client.post("/search/sparql", data=PARCELS, content_type="application/sparql-query")
    assert labels(form) == labels(body) and "S-1" in labels(form)


@pytest.mark.parametrize("accept, mimetype", [
    ("application/sparql-results+xml", "application/sparql-results+xml"),
    ("text/csv", "text/csv"), ("text/tab-separated-values", "text/tab-separated-values"),
    ("application/json", "application/sparql-results+json")])
def test_select_formats(client, accept, mimetype):
    response = client.get("/search/sparql", query_string={"query": PARCELS}, headers={"Accept": accept})
    assert response.status_code == 200 and response.mimetype == mimetype
    text = response.get_data(as_text=True)
    if mimetype == "text/csv":
        assert "S-1" in [row["label"] for row in csv.DictReader(io.StringIO(text))]
    elif mimetype.endswith("xml"):
        ns = {"s": "http://www.w3.org/2005/sparql-results#"}
        assert "S-1" in etree.fromstring(response.data).xpath("//s:binding[@name='label']/s:literal/text()",
                                                              namespaces=ns)
    else:
        assert "S-1" in text


def test_construct_answers_rdf(client):
    query = "CONSTRUCT { ?p rdfs:label ?l } WHERE { ?p a cdl:Parcel ; rdfs:label ?l }"
    turtle = client.get("/search/sparql", query_string={"query": query})
    assert turtle.mimetype == "text/turtle" and '"S-1"' in turtle.get_data(as_text=True)
    jsonld = client.get("/search/sparql", query_string={"query": query}, headers={"Accept": "application/ld+json"})
    assert jsonld.mimetype == "application/ld+json"
    assert "S-1" in json.dumps(json.loads(jsonld.data))


def test_ask(client):
    response = client.get("/search/sparql", query_string={"query": 'ASK { ?o cdl:jobId "sparql-test" }'})
    assert response.get_json() == {"head": {}, "boolean": True}


@pytest.mark.parametrize("request_args, reason", [
    ({"query_string": {"query": "SELEC ?x"}}, "not SPARQL 1.1"),
    ({"query_string": {}}, "exactly one SPARQL query"),
    ({"query_string": {"query": "x" * 70000}}, "longer than"),
    ({"query_string": {"update": "INSERT DATA { <a:a> <a:a> <a:a> }"}}, "read-only"),
    ({"query_string": {"query": PARCELS, "default-graph-uri": "urn:x"}}, "not supported"),
])
def test_what_is_not_one_query_is_a_400_saying_why(client, request_args, reason):
    response = client.get("/search/sparql", **request_args)
    assert response.status_code == 400 and response.mimetype == "text/plain"
    assert reason in response.get_data(as_text=True)


def test_an_update_sent_as_a_query_is_refused(client):
    response = client.post("/search/sparql", data="INSERT DATA { <a:a> <a:a> <a:a> }",
                           content_type="application/sparql-update")
    assert response.status_code == 400 and "read-only" in response.get_data(as_text=True)
    after = client.get("/search/sparql", query_string={"query": "ASK { <a:a> ?p ?o }"})
    assert after.get_json()["boolean"] is False


def test_unacceptable_format_is_406(client):
    response = client.get("/search/sparql", query_string={"query": PARCELS}, headers={"Accept": "image/png"})
    assert response.status_code == 406


def test_a_run_recorded_after_the_graph_was_built_is_seen(client):
    from processes.recording import results_store

    before = labels(client.get("/search/sparql", query_string={"query": PARCELS}))
    observation = Observation("S-2", shapely.box(18.7, 53.0, 18.71, 53.01), "ranked", {}, ("forest",), ("optical",),
                              "2017-07-30", "2017-09-29", 1.0, 1.0, 0.1, 0.1, 0.1, 1, "low")
    results_store().record(Run("ParcelDamage", "1.0.0"), observations=[observation])
    after = labels(client.get("/search/sparql", query_string={"query": PARCELS}))
    assert "S-2" not in before and "S-2" in after


@pytest.fixture(scope="module")
def crowded(client):
    """Enough observations that a query joining every triple with every other is endless."""
    from processes.recording import results_store

    observations = [Observation(f"C-{n}", shapely.box(19 + n * 1e-3, 53.0, 19.0005 + n * 1e-3, 53.0005), "ranked",
                                {}, ("forest",), ("sar",), "2017-07-30", "2017-09-29", 1.0, 1.0, 0.2, 0.2, 0.2, n + 1,
                                "low") for n in range(200)]
    results_store().record(Run("ParcelDamage", "1.0.0", job_id="crowded"), observations=observations)
    return client


def test_an_endless_query_is_stopped_at_its_deadline(crowded, candela_settings):
    import time

    candela_settings(sparqltime="2s")
    started = time.monotonic()
    response = crowded.get("/search/sparql", query_string={
        "query": "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"})
    assert response.status_code == 503 and "longer than the 2 s allowed" in response.get_data(as_text=True)
    assert time.monotonic() - started < 10
    assert "S-1" in labels(crowded.get("/search/sparql", query_string={"query": PARCELS}))  # still answering


def test_an_answer_past_its_cap_is_refused(crowded, candela_settings):
    candela_settings(sparqlanswer="1mb")
    response = crowded.get("/search/sparql", query_string={"query": "SELECT * WHERE { ?a ?b ?c . ?d a cdl:Parcel }"})
    assert response.status_code == 413 and "larger than the 1 MiB allowed" in response.get_data(as_text=True)


def test_a_query_needing_more_memory_than_allowed_is_refused(crowded, candela_settings):
    candela_settings(sparqlmemory="300mb", sparqlanswer="4gb", sparqltime="60s")
    response = crowded.get("/search/sparql", query_string={
        "query": "SELECT * WHERE { ?a ?b ?c . ?d ?e ?f } ORDER BY ?a ?d"})
    assert response.status_code == 413, response.get_data(as_text=True)[:300]
    # The cap is on what the query adds: an ordinary one still runs under it.
    assert "S-1" in labels(crowded.get("/search/sparql", query_string={"query": PARCELS}))


@pytest.mark.parametrize("keyword", ["SERVICE", "service silent"])
def test_a_query_calling_another_endpoint_is_refused_and_nothing_is_fetched(client, keyword):
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(0.5)
        port = listener.getsockname()[1]
        response = client.get("/search/sparql", query_string={
            "query": f"SELECT * WHERE {{ {keyword} <http://127.0.0.1:{port}/sparql> {{ ?s ?p ?o }} }}"})
        assert response.status_code == 400 and "SERVICE is not allowed" in response.get_data(as_text=True)
        with pytest.raises(socket.timeout):
            listener.accept()


def test_the_word_service_elsewhere_is_no_call(client):
    query = 'SELECT ?service WHERE { ?service rdfs:label ?l . FILTER(?l != "SERVICE") } # SERVICE'
    assert client.get("/search/sparql", query_string={"query": query}).status_code == 200
