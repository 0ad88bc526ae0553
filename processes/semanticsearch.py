"""SemanticSearch: the stored parcel-damage observations a question asks for."""

from candela.search.query import LEVELS, MAX_LIMIT, ORDERS, SOURCES

from .declaration import CSV, GEOJSON, ZIP, LiteralInput, Operation, Output
from .searching import PARAMETERS, build_query, search


def run(job):
    texts = {name: job.literal(name) for name in ("phrase", *PARAMETERS)}
    from candela.results.export import observations_frame, write_all  # geopandas: only a search pays

    query = build_query(**texts)
    found = search(query)
    folder = job.workdir
    geojson, shapefile, table = write_all(observations_frame(found), folder, "parcels")
    job.output_file("parcels", geojson)
    job.output_file("parcels_shapefile", shapefile)
    job.output_file("parcels_csv", table)
    job.output_json("query", {"understood": query.describe(), "matches": len(found)})


OPERATION = Operation(
    identifier="SemanticSearch",
    title="Search parcel damage: by land cover, change source, period, place, damage",
    abstract=(
        "Finds the parcels whose damage ParcelDamage runs recorded, by land-cover class, change source (optical, "
        "sar, both), period (after, before, or both: during), area of interest, minimum damaged fraction or "
        "area, and damage level (very low, low, middle, high), ordered and limited. Ask with the parameters, "
        "or with a phrase that reads like the question, e.g. 'forest parcels damaged after 2017-08-01 with "
        "more than 30 % damage, most damaged first, top 10' (grammar: docs/search-grammar.md); an unknown "
        "word is an error listing the valid ones. Give a phrase or parameters, not both. Only ranked "
        "observations are found (a parcel without usable pixels answers nothing about damage), and of a "
        "parcel's over one period only the newest (a later run replaces an earlier one; all stay in the "
        "knowledge graph at /search/sparql)."
    ),
    version="1.0.0",
    inputs=(
        LiteralInput("phrase", "Question", "The question as a phrase, e.g. 'forest parcels damaged after "
                     "2017-08-01 with more than 30 % damage, most damaged first, top 10'. Empty: use the "
                     "parameters.", required=False),
        LiteralInput("classes", "Land-cover classes", "Comma-separated classes the damage was measured over, "
                     "e.g. forest. Empty: any.", required=False),
        LiteralInput("source", "Change source", "optical, sar, both (seen by both), or any.", required=False,
                     allowed=SOURCES),
        LiteralInput("after", "After", "ISO 8601 date: damage possibly after it (the period ends after it).",
                     required=False),
        LiteralInput("before", "Before", "ISO 8601 date: damage possibly before it (the period starts before "
                     "it). With after: during.", required=False),
        LiteralInput("aoi", "Area of interest", "minx,miny,maxx,maxy[,crs] (default EPSG:4326) or a WKT polygon "
                     "(optionally SRID=n;...): parcels intersecting it.", required=False),
        LiteralInput("min_fraction", "Minimum damaged fraction", "0.3, 30% or 30 %.", required=False),
        LiteralInput("min_area", "Minimum damaged area", "Hectares, e.g. 2 or 2 ha.", required=False),
        LiteralInput("levels", "Damage levels", f"Comma-separated: {', '.join(LEVELS)}.", required=False),
        LiteralInput("order", "Order", "damage (damaged fraction), area (damaged area), date (period end) or "
                     "rank (within its run).", required=False, allowed=ORDERS),
        LiteralInput("descending", "Descending", "true or false; empty: the natural direction of the order "
                     "(most damaged, largest, newest first; rank 1 first).", required=False),
        LiteralInput("limit", "Limit", f"At most this many parcels (1 to {MAX_LIMIT}; default 100).",
                     required=False),
    ),
    outputs=(
        Output("parcels", "Parcels", "GeoJSON of the parcels found, in order: damaged fraction and area, level, "
               "rank, classes, sources, period, the run's process and job, and the parcel's own attributes.",
               formats=(GEOJSON,), by_reference=True),
        Output("parcels_shapefile", "Parcels (shapefile)", "The parcels found as a zipped shapefile.",
               formats=(ZIP,), by_reference=True),
        Output("parcels_csv", "Parcels (CSV)", "The parcels' attributes as CSV.", formats=(CSV,), by_reference=True),
        Output("query", "Query", "JSON: the query as understood, in words, and how many parcels matched."),
    ),
    run=run,
    keywords=("search", "knowledge graph", "parcels", "damage"),
)
