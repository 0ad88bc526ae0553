"""/search/ in process: the page and its files are served where its relative links expect them."""

import pytest
from werkzeug.test import Client


@pytest.fixture(scope="module")
def client(wps_app):
    return Client(wps_app)


def test_the_page_without_its_slash_is_redirected_to_it(client):
    # Without the slash, the page's relative links (static/search.js, api/parcels) would miss.
    response = client.get("/search", query_string={"x": "1"})
    assert response.status_code == 308
    assert response.headers["Location"].endswith("/search/?x=1")


def test_the_page_and_its_scripts_are_served(client):
    page = client.get("/search/")
    assert page.status_code == 200 and page.mimetype == "text/html"
    for link in ("static/search.js", "static/search.css", "static/vendor/leaflet/leaflet.js"):
        assert f'"{link}"' in page.get_data(as_text=True)
        assert client.get(f"/search/{link}").status_code == 200
