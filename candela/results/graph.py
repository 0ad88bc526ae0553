"""The results store as a knowledge graph: GeoSPARQL features, SOSA observations, PROV provenance.

What is stored becomes RDF (:func:`run_quads`, :func:`observation_quads`):

- each **run** a ``prov:Activity`` (process, version, job, parameters, time), associated with
  its process as a ``prov:SoftwareAgent``;
- each **product** (change map, land-cover map, report, ranking) a ``prov:Entity`` generated
  by its run, with its address, change source, period and footprint (a ``geo:Geometry``);
- each **parcel** a ``geo:Feature`` and ``sosa:FeatureOfInterest`` with its geometry as a
  ``geo:wktLiteral`` in CRS84; the same geometry seen by two runs is one parcel;
- each **damage observation** a ``sosa:Observation`` of ``cdl:damagedFraction`` on its parcel
  (``sosa:hasSimpleResult``), over a ``time:Interval`` (``sosa:phenomenonTime``), made by its
  run (``prov:wasGeneratedBy``, ``sosa:usedProcedure``), with its damage level, damaged area,
  land-cover classes, change sources and rank.

The vocabulary of our own terms (``cdl:``) is ``urn:candela:vocab#``; resources are named under a
base (the server's ``/search/id/``). :class:`KnowledgeGraph` keeps an embedded pyoxigraph store
in step with the results store: before every query it loads the runs recorded since (by any
server sharing the database), so a query always sees every finished run.
"""

import json
import logging
import threading
from urllib.parse import quote

from pyoxigraph import Literal, NamedNode, Quad, Store

from . import geosparql
from .records import iso

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
XSD = "http://www.w3.org/2001/XMLSchema#"
SOSA = "http://www.w3.org/ns/sosa/"
PROV = "http://www.w3.org/ns/prov#"
TIME = "http://www.w3.org/2006/time#"
DCTERMS = "http://purl.org/dc/terms/"
CDL = "urn:candela:vocab#"
GEO = geosparql.GEO
#: Prefixes every query may use without declaring them.
PREFIXES = {"rdf": RDF, "rdfs": RDFS, "xsd": XSD, "sosa": SOSA, "prov": PROV, "time": TIME, "dcterms": DCTERMS,
            "geo": GEO, "geof": geosparql.GEOF, "cdl": CDL}
#: The damage levels as individuals of the vocabulary (``cdl:high``, ...).
LEVEL_TERMS = {"very low": "veryLow", "low": "low", "middle": "middle", "high": "high"}

A = NamedNode(RDF + "type")
LOGGER = logging.getLogger(__name__)


def _node(namespace, name):
    return NamedNode(namespace + name)


def _location(href):
    """An address as an IRI where it is one, else as an ``xsd:anyURI`` literal: what users send
    (``http://host/a b.tif``) is not always a valid IRI, and must not break the graph."""
    try:
        return NamedNode(href)
    except ValueError:
        return Literal(href, datatype=NamedNode(XSD + "anyURI"))


def _typed(value, datatype):
    return Literal(str(value), datatype=NamedNode(XSD + datatype))


def _time(value):
    return _typed(iso(value), "dateTimeStamp")  # always with its zone, as OWL-Time asks


class Triples:
    """Collects triples about resources under ``base``."""

    def __init__(self, base):
        self.base = base
        self.quads = []

    def iri(self, *path):
        return NamedNode(self.base + "/".join(quote(str(p), safe="") for p in path))

    def add(self, subject, predicate, value):
        if value is not None:
            self.quads.append(Quad(subject, predicate, value))

    def geometry(self, feature, geometry):
        """``feature geo:hasGeometry [geo:asWKT ...]`` (the geometry named after its feature)."""
        node = NamedNode(feature.value + "/geometry")
        self.add(feature, _node(GEO, "hasGeometry"), node)
        self.add(node, A, _node(GEO, "Geometry"))
        self.add(node, _node(GEO, "asWKT"), geosparql.wkt_literal(geometry))

    def interval(self, node, start, end):
        """``node`` as a ``time:Interval`` from ``start`` to ``end`` (either may be unknown)."""
        self.add(node, A, _node(TIME, "Interval"))
        for name, when in (("hasBeginning", start), ("hasEnd", end)):
            if when is not None:
                instant = NamedNode(f"{node.value}/{name[3:].lower()}")
                self.add(node, _node(TIME, name), instant)
                self.add(instant, A, _node(TIME, "Instant"))
                self.add(instant, _node(TIME, "inXSDDateTimeStamp"), _time(when))


def run_quads(run, base):
    """Quads of a stored run (:meth:`ResultsStore.runs`) and of its products."""
    t = Triples(base)
    activity = t.iri("run", run["run_id"])
    process = t.iri("process", run["process"], run["version"])
    t.add(activity, A, _node(PROV, "Activity"))
    t.add(activity, A, _node(CDL, "Run"))
    t.add(activity, _node(PROV, "wasAssociatedWith"), process)
    t.add(activity, _node(PROV, "endedAtTime"), _time(run["created"]))
    t.add(activity, _node(CDL, "process"), Literal(run["process"]))
    t.add(activity, _node(CDL, "processVersion"), Literal(run["version"]))
    if run["job_id"]:
        t.add(activity, _node(CDL, "jobId"), Literal(run["job_id"]))
    t.add(activity, _node(CDL, "parameters"), Literal(json.dumps(run["parameters"], sort_keys=True)))
    if run["period_start"] or run["period_end"]:
        period = t.iri("run", run["run_id"], "period")
        t.add(activity, _node(CDL, "period"), period)
        t.interval(period, run["period_start"], run["period_end"])
    for name, value in sorted(run["inputs"].items()):
        for href in value if isinstance(value, list) else [value]:
            if isinstance(href, str) and href.startswith(("http://", "https://")):
                t.add(activity, _node(PROV, "used"), _location(href))
    t.add(process, A, _node(PROV, "SoftwareAgent"))
    t.add(process, A, _node(SOSA, "Procedure"))
    t.add(process, _node(RDFS, "label"), Literal(f"{run['process']} {run['version']}"))
    for product in run["products"]:
        entity = t.iri("run", run["run_id"], "product", product["name"])
        t.add(entity, A, _node(PROV, "Entity"))
        t.add(entity, A, _node(CDL, _class_name(product["kind"])))
        t.add(entity, _node(PROV, "wasGeneratedBy"), activity)
        t.add(entity, _node(PROV, "generatedAtTime"), _time(run["created"]))
        t.add(entity, _node(RDFS, "label"), Literal(product["name"]))
        if product["href"]:
            t.add(entity, _node(PROV, "atLocation"), _location(product["href"]))
        if product["media_type"]:
            t.add(entity, _node(DCTERMS, "format"), Literal(product["media_type"]))
        if product["source"]:
            t.add(entity, _node(CDL, "changeSource"), _node(CDL, product["source"]))
        if product["period_start"] or product["period_end"]:
            period = NamedNode(entity.value + "/period")
            t.add(entity, _node(DCTERMS, "temporal"), period)
            t.interval(period, product["period_start"], product["period_end"])
        if product["footprint"] is not None:
            t.geometry(entity, product["footprint"])
    return t.quads


def observation_quads(observation, base):
    """Quads of a stored observation (:meth:`ResultsStore.observations`) and of its parcel."""
    t = Triples(base)
    parcel = t.iri("parcel", observation["parcel_key"])
    t.add(parcel, A, _node(GEO, "Feature"))
    t.add(parcel, A, _node(SOSA, "FeatureOfInterest"))
    t.add(parcel, A, _node(CDL, "Parcel"))
    t.add(parcel, _node(RDFS, "label"), Literal(observation["parcel"]))
    t.add(parcel, _node(CDL, "parcelId"), Literal(observation["parcel"]))
    t.geometry(parcel, observation["geometry"])
    node = t.iri("observation", observation["run_id"], observation["key"])
    t.add(node, A, _node(SOSA, "Observation"))
    t.add(node, _node(SOSA, "hasFeatureOfInterest"), parcel)
    t.add(node, _node(SOSA, "observedProperty"), _node(CDL, "damagedFraction"))
    t.add(node, _node(SOSA, "usedProcedure"), t.iri("process", observation["process"], observation["version"]))
    t.add(node, _node(PROV, "wasGeneratedBy"), t.iri("run", observation["run_id"]))
    t.add(node, _node(SOSA, "resultTime"), _time(observation["recorded"]))
    t.add(node, _node(CDL, "status"), Literal(observation["status"]))
    if observation["damaged_fraction"] is not None:
        t.add(node, _node(SOSA, "hasSimpleResult"), _typed(observation["damaged_fraction"], "double"))
    for name, key, datatype in (("damagedArea", "damaged_ha", "double"), ("parcelArea", "area_ha", "double"),
                                ("keptArea", "kept_ha", "double"), ("score", "score", "double"),
                                ("rank", "rank", "integer")):
        if observation[key] is not None:
            t.add(node, _node(CDL, name), _typed(observation[key], datatype))
    if observation["level"]:
        t.add(node, _node(CDL, "damageLevel"), _node(CDL, LEVEL_TERMS.get(observation["level"], observation["level"])))
    for name in observation["classes"]:
        t.add(node, _node(CDL, "landCover"), Literal(name))
    for name in observation["sources"]:
        t.add(node, _node(CDL, "changeSource"), _node(CDL, name))
    period = NamedNode(node.value + "/period")
    t.add(node, _node(SOSA, "phenomenonTime"), period)
    t.interval(period, observation["period_start"], observation["period_end"])
    return t.quads


def vocabulary_quads():
    """Labels of the vocabulary's individuals (damage levels, change sources)."""
    quads = []
    for level, name in LEVEL_TERMS.items():
        quads += [Quad(_node(CDL, name), A, _node(CDL, "DamageLevel")),
                  Quad(_node(CDL, name), _node(RDFS, "label"), Literal(level, language="en"))]
    for source in ("optical", "sar"):
        quads += [Quad(_node(CDL, source), A, _node(CDL, "ChangeSource")),
                  Quad(_node(CDL, source), _node(RDFS, "label"), Literal(source, language="en"))]
    return quads


def _class_name(kind):
    """``change_map`` → ``ChangeMap``."""
    return "".join(part.capitalize() for part in kind.split("_"))


class KnowledgeGraph:
    """An embedded RDF store following a results store (:class:`~candela.results.store.ResultsStore`)."""

    def __init__(self, results, base="urn:candela:"):
        self.results = results
        self.base = base
        self.store = Store()
        self.store.bulk_extend(vocabulary_quads())
        self._loaded = set()
        self._lock = threading.Lock()

    def sync(self):
        """Load the runs recorded since the last call; return how many."""
        with self._lock:
            missing = [key for key in self.results.run_ids() if key not in self._loaded]
            if not missing:
                return 0
            by_run = {key: [] for key in missing}
            for observation in self.results.observations(runs=missing):
                by_run[observation["run_key"]].append(observation)
            for run in self.results.runs(missing):
                try:  # one run that cannot be said in RDF must not keep the others out
                    quads = run_quads(run, self.base)
                    for observation in by_run[run["key"]]:
                        quads += observation_quads(observation, self.base)
                    self.store.bulk_extend(quads)
                except ValueError:
                    LOGGER.exception("Run %s left out of the knowledge graph", run["run_id"])
            self._loaded.update(missing)
            return len(missing)

    def query(self, sparql):
        """Answer a SPARQL 1.1 query (after :meth:`sync`); pyoxigraph's result object."""
        self.sync()
        return self.store.query(sparql, prefixes=PREFIXES, custom_functions=geosparql.functions())
