"""The search page at ``/search/`` and the JSON it reads, over the results store.

- ``/search/``: the page (``processes/static/search/``): a map, filters, the phrase box, a table,
  exports. It needs no internet: its scripts are served from here, and its base layer is the
  stored change maps' quicklooks, or none.
- ``/search/api/parcels``: the parcels a phrase (``phrase=``) or parameters (those of
  SemanticSearch) find, as GeoJSON, with the query as understood; ``.csv``, ``.zip`` (zipped
  shapefile) and ``.geojson`` download the same.
- ``/search/api/vocabulary``: the classes stored and the words of each filter.
- ``/search/api/quicklooks``: the stored quicklooks with their footprints' bounds.
- ``/search/sparql`` is the SPARQL endpoint (:mod:`processes.sparql`).

Bad parameters answer 400 with ``{"error", "parameter"}``.
"""

import json
import tempfile
from pathlib import Path

from werkzeug.exceptions import HTTPException
from werkzeug.middleware.shared_data import SharedDataMiddleware
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from candela.errors import InputError
from candela.search.query import LEVELS, ORDERS, SOURCES

from .recording import results_store
from .searching import PARAMETERS, build_query, search

STATIC = Path(__file__).resolve().parent / "static" / "search"
DOWNLOADS = {"geojson": ("application/geo+json", 0), "zip": ("application/zip", 1), "csv": ("text/csv", 2)}


class SearchPage:
    """The WSGI application under ``/search``."""

    def __init__(self):
        self.urls = Map([
            Rule("/", endpoint="page"),
            Rule("/api/parcels", endpoint="parcels"),
            Rule("/api/parcels.<any(geojson, zip, csv):extension>", endpoint="download"),
            Rule("/api/vocabulary", endpoint="vocabulary"),
            Rule("/api/quicklooks", endpoint="quicklooks"),
        ], strict_slashes=False)
        self.static = SharedDataMiddleware(self.dispatch, {"/static": str(STATIC)})

    def __call__(self, environ, start_response):
        return self.static(environ, start_response)

    def dispatch(self, environ, start_response):
        request = Request(environ)
        adapter = self.urls.bind_to_environ(environ)
        try:
            endpoint, arguments = adapter.match()
            response = getattr(self, endpoint)(request, **arguments)
        except InputError as error:
            response = Response(json.dumps({"error": str(error), "parameter": error.input}), status=400,
                                mimetype="application/json")
        except HTTPException as error:
            response = error.get_response(environ)
        return response(environ, start_response)

    def page(self, request):
        # Relative links in the page need the slash. PATH_INFO, not request.path: mounted at
        # /search, "/search" arrives as an empty PATH_INFO, which request.path reads as "/".
        if not request.environ.get("PATH_INFO", "").endswith("/"):
            query = request.query_string.decode("latin-1")
            # root_url: the mount point (SCRIPT_NAME) with its slash.
            return Response(status=308, headers={"Location": request.root_url + (f"?{query}" if query else "")})
        return Response((STATIC / "index.html").read_bytes(), mimetype="text/html")

    def _query(self, request):
        names = {"phrase", *PARAMETERS}
        unknown = sorted(set(request.args) - names)
        if unknown:
            raise InputError(f"unknown parameter; the parameters are phrase, {', '.join(PARAMETERS)}", unknown[0])
        return build_query(**{name: request.args.get(name) for name in names})

    def parcels(self, request):
        from candela.results.export import observations_frame

        query = self._query(request)
        found = search(query)
        collection = json.loads(observations_frame(found).to_json(na="null", drop_id=True))
        collection["query"] = {"understood": query.describe(), "matches": len(found)}
        return Response(json.dumps(collection), mimetype="application/geo+json")

    def download(self, request, extension):
        from candela.results.export import observations_frame, write_all

        found = search(self._query(request))
        mimetype, index = DOWNLOADS[extension]
        with tempfile.TemporaryDirectory() as folder:
            path = write_all(observations_frame(found), Path(folder), "parcels")[index]
            data = path.read_bytes()
        return Response(data, mimetype=mimetype,
                        headers={"Content-Disposition": f'attachment; filename="parcels.{extension}"'})

    def vocabulary(self, request):
        return Response(json.dumps({"classes": results_store().classes(), "sources": list(SOURCES),
                                    "levels": list(LEVELS), "orders": list(ORDERS)}), mimetype="application/json")

    def quicklooks(self, request):
        looks = []
        for run in results_store().runs():
            for product in run["products"]:
                if product["kind"] == "quicklook" and product["href"] and product["footprint"] is not None:
                    minx, miny, maxx, maxy = product["footprint"].bounds
                    looks.append({"href": product["href"], "name": product["name"], "process": run["process"],
                                  "job_id": run["job_id"], "period_start": product["period_start"],
                                  "period_end": product["period_end"], "bounds": [[miny, minx], [maxy, maxx]]})
        return Response(json.dumps(looks), mimetype="application/json")

