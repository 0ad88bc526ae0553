"""The SPARQL 1.1 endpoint at ``/search/sparql``: the results store as a knowledge graph, read-only.

The SPARQL 1.1 Protocol's query operation: ``GET ?query=``, ``POST`` of a form with ``query``,
or ``POST`` of ``application/sparql-query``. Answers by content negotiation: SELECT and ASK as
SPARQL JSON (default), XML, CSV or TSV; CONSTRUCT and DESCRIBE as Turtle (default), N-Triples,
RDF/XML or JSON-LD. The graph's prefixes (``geo``, ``geof``, ``sosa``, ``prov``, ``time``,
``cdl``, ...) need not be declared. Updates are refused: the graph follows the results store
(:class:`candela.results.graph.KnowledgeGraph`), which only runs write; so is ``SERVICE`` (the
server would fetch whatever address a query names). Each query runs in a child process with a
deadline and caps on its answer and memory (:mod:`processes.bounded`).
"""

import logging
import re
from functools import lru_cache

import pyoxigraph
from pywps import configuration
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from candela.results import geosparql
from candela.results.graph import PREFIXES, KnowledgeGraph

from .bounded import TooLarge, TooSlow, run_forked
from .limits import sparql_limits
from .recording import results_store, results_url

LOGGER = logging.getLogger("PYWPS")


def _bare(media_type):
    """``text/csv; charset=utf-8`` → ``text/csv``."""
    return media_type.split(";")[0].strip()


#: Longest query accepted (bytes).
MAX_QUERY_BYTES = 64 * 1024
SOLUTION_FORMATS = {_bare(f.media_type): f for f in (pyoxigraph.QueryResultsFormat.JSON, pyoxigraph.QueryResultsFormat.XML,
                                               pyoxigraph.QueryResultsFormat.CSV, pyoxigraph.QueryResultsFormat.TSV)}
GRAPH_FORMATS = {_bare(f.media_type): f for f in (pyoxigraph.RdfFormat.TURTLE, pyoxigraph.RdfFormat.N_TRIPLES,
                                            pyoxigraph.RdfFormat.RDF_XML, pyoxigraph.RdfFormat.JSON_LD)}
#: Also asked for by these names.
ALIASES = {"application/json": "application/sparql-results+json", "text/plain": "application/n-triples",
           "application/xml": "application/sparql-results+xml"}


def resource_base():
    """Where the graph's resources are named: the server's ``/search/id/``."""
    url = configuration.get_config_value("server", "url")
    return url.rsplit("/", 1)[0] + "/search/id/"


def knowledge_graph():
    """This process's graph over the configured results store."""
    return _graph(results_url(), resource_base())


@lru_cache(maxsize=None)
def _graph(url, base):
    return KnowledgeGraph(results_store(), base)


class BadQuery(HTTPException):
    """An answer of the protocol's kind: 400 with the reason as plain text."""

    code = 400

    def get_headers(self, environ=None, scope=None):
        return [("Content-Type", "text/plain; charset=utf-8")]

    def get_body(self, environ=None, scope=None):
        return f"{self.description}\n"


def query_text(request):
    """The query of a protocol request; BadQuery when there is none, or more than one, or too long."""
    if request.method == "POST" and request.mimetype == "application/sparql-query":
        if (request.content_length or 0) > MAX_QUERY_BYTES:
            raise BadQuery(f"the query is longer than the {MAX_QUERY_BYTES} bytes allowed")
        queries = [request.get_data(as_text=True)]
    elif (request.method == "POST" and request.mimetype == "application/sparql-update") or "update" in request.values:
        raise BadQuery("this endpoint is read-only: it answers queries, never updates")
    else:
        queries = request.values.getlist("query")
    if len(queries) != 1 or not queries[0].strip():
        raise BadQuery("give exactly one SPARQL query: ?query=..., a form field 'query', or a body of type "
                       "application/sparql-query")
    if len(queries[0].encode()) > MAX_QUERY_BYTES:
        raise BadQuery(f"the query is longer than the {MAX_QUERY_BYTES} bytes allowed")
    if request.values.getlist("default-graph-uri") or request.values.getlist("named-graph-uri"):
        raise BadQuery("default-graph-uri and named-graph-uri are not supported: the graph is one default graph")
    return queries[0]


#: What a query's keywords are looked for in: its comments, IRIs and strings taken out.
_NOT_KEYWORDS = re.compile(
    r"#[^\n]*"                                  # a comment
    r"|<[^<>\"{}|^`\\\s]*>"                     # an IRI
    r"|'''(?:[^'\\]|\\.|'(?!''))*'''"           # long strings
    r'|"""(?:[^"\\]|\\.|"(?!""))*"""'
    r"|'(?:[^'\\\n]|\\.)*'"                     # strings
    r'|"(?:[^"\\\n]|\\.)*"'
    r"|[?$]\w+"                                 # variables
    r"|[\w.-]*:[\w.-]+")                        # prefixed names
_SERVICE = re.compile(r"\bSERVICE\b", re.IGNORECASE)


def refuse_federation(text):
    """BadQuery for a query calling another endpoint (SERVICE): the server would fetch any
    address a user names, its own network's included."""
    if _SERVICE.search(_NOT_KEYWORDS.sub(" ", text)):
        raise BadQuery("SERVICE is not allowed: this endpoint answers from its own graph and calls no other")


def negotiate(request, formats, default):
    """The format the client accepts best among ``formats`` (``default`` when it names none);
    None when it accepts none of them."""
    offered = list(formats) + [alias for alias, name in ALIASES.items() if name in formats]
    if not request.accept_mimetypes:
        return formats[_bare(default)]
    best = request.accept_mimetypes.best_match([default, *offered])
    return formats.get(ALIASES.get(best, best)) if best else None


class SparqlEndpoint:
    """The WSGI application of the endpoint."""

    def __call__(self, environ, start_response):
        request = Request(environ)
        request.max_content_length = MAX_QUERY_BYTES + 4096  # a larger body is refused unread (413)
        try:
            response = self.answer(request)
        except HTTPException as error:
            response = error.get_response(environ)
        response.headers["Access-Control-Allow-Origin"] = "*"  # any page may query it, as SPARQL endpoints allow
        return response(environ, start_response)

    def answer(self, request):
        if request.method == "OPTIONS":
            return Response(status=204, headers={"Access-Control-Allow-Methods": "GET, POST, OPTIONS",
                                                 "Access-Control-Allow-Headers": "Content-Type, Accept"})
        if request.method not in ("GET", "POST"):
            return Response("use GET or POST\n", status=405, headers={"Allow": "GET, POST, OPTIONS"},
                            mimetype="text/plain")
        text = query_text(request)
        refuse_federation(text)
        graph = knowledge_graph()
        graph.sync()  # here, so that this process's graph keeps up, not only the child's copy
        formats = {"graph": negotiate(request, GRAPH_FORMATS, pyoxigraph.RdfFormat.TURTLE.media_type),
                   "solutions": negotiate(request, SOLUTION_FORMATS, pyoxigraph.QueryResultsFormat.JSON.media_type)}
        limits = sparql_limits()
        try:
            header, body = run_forked(lambda: evaluate(graph, text, formats), **limits)
        except TooSlow:
            return Response(f"the query took longer than the {limits['seconds']:g} s allowed: narrow it (LIMIT, "
                            "more specific patterns)\n", status=503, mimetype="text/plain")
        except TooLarge:
            return Response(f"the answer is larger than the {limits['max_bytes'] // 2**20} MiB allowed, or its "
                            "evaluation needed more memory than allowed: narrow it (LIMIT)\n", status=413,
                            mimetype="text/plain")
        except RuntimeError as error:
            if str(error).startswith("SyntaxError: "):
                raise BadQuery(f"the query is not SPARQL 1.1: {str(error)[len('SyntaxError: '):]}") from None
            raise
        if header["status"] == 406:
            return Response(body, status=406, mimetype="text/plain")
        return Response(body, content_type=header["type"])


def evaluate(graph, text, formats):
    """In the child: the query's answer, serialised as negotiated: ``({"status", "type"}, body)``."""
    result = graph.store.query(text, prefixes=PREFIXES, custom_functions=geosparql.functions())
    kind = "graph" if isinstance(result, pyoxigraph.QueryTriples) else "solutions"
    chosen = formats[kind]
    if chosen is None:
        offered = GRAPH_FORMATS if kind == "graph" else SOLUTION_FORMATS
        return {"status": 406}, f"this answer comes as {', '.join(offered)}\n".encode()
    return ({"status": 200, "type": f"{_bare(chosen.media_type)}; charset=utf-8"},
            result.serialize(format=chosen))
