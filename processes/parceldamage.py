"""ParcelDamage: forest parcels ranked by the damage change maps show, after a windthrow."""

from candela.damage.levels import LEVELS
from candela.damage.identifiers import ID_FIELDS, id_column
from candela.errors import InputError

from .declaration import (CSV, GEOJSON, GML, GPKG, PNG, RASTER, ZIP, FileInput, LiteralInput, Operation, Output,
                          VectorInput, quicklook_output)

#: The change map inputs: source name → input.
CHANGE_INPUTS = {"optical": "optical_change", "sar": "sar_change"}


def run(job):
    # geopandas, exactextract and matplotlib take seconds to import: only a job that ranks pays.
    from candela.damage.ranking import rank_parcels
    from candela.damage.sources import ChangeSource
    from candela.damage.writing import write_ranking
    from candela.vectors.reading import read_features

    sources = []
    for name, identifier in CHANGE_INPUTS.items():
        found = job.files(identifier)
        if found:
            sources.append(ChangeSource(name, found[0][1], weight=job.literal(f"{name}_weight"), input=identifier))
    if not sources:
        raise InputError("neither optical_change nor sar_change was given: at least one change map is needed",
                         "optical_change")
    with job.blame("parcels"):
        parcels = read_features(job.file("parcels")[1])
    id_column(parcels.columns, job.literal("id_field"))  # a wrong name is refused before any work
    landcover = job.files("landcover")
    ranking = rank_parcels(
        parcels, sources, job.workdir, landcover=landcover[0][1] if landcover else None,
        classes=job.literal("classes"), threshold=job.literal("threshold"), before=job.literal("before"),
        after=job.literal("after"), max_pixels=job.max_pixels, progress=job.progress)
    files = write_ranking(ranking.table, job.workdir, title=title(ranking.summary))
    for identifier, kind in (("ranking", "geojson"), ("ranking_shapefile", "shapefile"), ("ranking_csv", "csv"),
                             ("quicklook", "quicklook")):
        job.output_file(identifier, files[kind])
    job.output_json("summary", ranking.summary)
    record(job, ranking, sources)


def record(job, ranking, sources):
    """The ranking, its quicklook and one observation per parcel, for the results store."""
    from candela.damage.observations import observations
    from candela.results.records import Product

    period = ranking.summary["period"]
    footprint = ranking.table.to_crs(4326).union_all().convex_hull
    products = [(identifier, Product("ranking", identifier, media_type=media_type, footprint=footprint,
                                     period_start=period["start"], period_end=period["end"]))
                for identifier, media_type in (("ranking", GEOJSON), ("quicklook", PNG))]
    with job.blame("id_field"):
        found = observations(ranking, sources, job.literal("id_field"))
    job.record(products, found, period=(period["start"], period["end"]),
               summary={name: ranking.summary[name] for name in ("parcels", "status", "levels", "thresholds",
                                                                   "weights", "kept_classes", "damaged_ha")})


def title(summary):
    """The quicklook's title: what was ranked, and the period when known."""
    period = summary["period"]
    days = [(period[end] or "")[:10] for end in ("start", "end")]
    when = f", {days[0] or '?'} to {days[1] or '?'}" if any(days) else ""
    return f"Parcel damage (probability >= {summary['threshold']:g}{when})"


OPERATION = Operation(
    identifier="ParcelDamage",
    title="Forest parcels ranked by damage",
    abstract=(
        "Ranks parcels (e.g. forest compartments after a windthrow) by the damage that change probability "
        "maps show inside them: ChangeDetect's and/or SARChangeDetect's change_map (band 1, in [0, 1], NaN no "
        "data), each on any grid and CRS. Per parcel and per map, over the pixels of the kept land-cover "
        "classes (landcover and classes; default the whole parcel), with exact fractional pixel coverage at "
        "the parcel's edges and areas on the ground: mean, median and 90th percentile of the probability, "
        "damaged area (pixels at or above threshold; on SARChangeDetect's map, where its test rejects no change "
        "at the map's own alpha), damaged fraction and valid fraction (clouds leave the "
        "optical map NaN). A map is used for a parcel when it has values over at least half of its kept "
        "area; the damaged fractions of the maps used are averaged with their weights (renormalised), which "
        "gives the score, the rank (1 = hardest hit; ties by mean probability) and the level ("
        + " <= ".join(f"{name} < {bound:g}" for name, bound in LEVELS[:-1]) + f" <= {LEVELS[-1][0]}"
        + "). Every parcel is kept with its attributes (one named as an "
        "output column is renamed in_<name>); one that cannot be ranked has no rank and a status saying why."
    ),
    version="1.0.0",
    inputs=(
        FileInput("optical_change", "Optical change map", "Optional GeoTIFF: ChangeDetect's change_map "
                  "(probability of change in band 1, NaN no data, e.g. clouds). Give it, sar_change or both.",
                  formats=RASTER, required=False),
        FileInput("sar_change", "SAR change map", "Optional GeoTIFF: SARChangeDetect's change_map (band 1: "
                  "1 - p-value of the change test; its DATES tag gives the period). Give it, optical_change or "
                  "both.", formats=RASTER, required=False),
        VectorInput("parcels", "Parcels", "Polygons with any attributes (all kept): GeoJSON, GML, a zipped "
                    "shapefile or a GeoPackage, in any CRS.", formats=(GEOJSON, GML, ZIP, GPKG)),
        FileInput("landcover", "Land-cover map", "Optional uint8 GeoTIFF of classes, 0 no data, named in its "
                  "CLASSES or CLASS_<value> tags (FusionClassify's classification), on any grid.",
                  formats=RASTER, required=False),
        LiteralInput("classes", "Classes", "Land-cover classes to keep, by name, separated by commas (e.g. "
                     "forest). Empty: every class of the land-cover map but no data.", required=False),
        LiteralInput("id_field", "Parcel id field", "The attribute naming each parcel where the results are "
                     "searched (SemanticSearch, /search). Empty: the first of " + ", ".join(ID_FIELDS) + " the "
                     "parcels have, else their position.", required=False),
        LiteralInput("threshold", "Threshold", "The probability of change from which a pixel of a probability map "
                     "(ChangeDetect's) counts as damaged. A SARChangeDetect map (1 - p-value) counts a pixel where "
                     "its test rejects no change at the map's own alpha (its ALPHA tag).",
                     type="float", default=0.5, minimum=0.0, maximum=1.0),
        LiteralInput("optical_weight", "Optical weight", "Weight (>= 0) of the optical map in the combined "
                     "values; 0 leaves it out.", type="float", default=1.0),
        LiteralInput("sar_weight", "SAR weight", "Weight (>= 0) of the SAR map in the combined values; 0 leaves "
                     "it out.", type="float", default=1.0),
        LiteralInput("before", "Before", "Optional: the start of the change period (yyyy-mm-dd or an ISO 8601 "
                     "date-time), for the summary. Empty: the maps' PERIOD_START tag, else their first DATES.",
                     required=False),
        LiteralInput("after", "After", "Optional: the end of the change period (yyyy-mm-dd or an ISO 8601 "
                     "date-time). Empty: the maps' PERIOD_END tag, else their last DATES.", required=False),
    ),
    outputs=(
        Output("ranking", "Ranking", "GeoJSON (EPSG:4326): the parcels in rank order, their attributes, and "
               "rank, level, score, dmg_frac, dmg_ha, mean_prob, sources, status, area_ha, kept_ha, per map "
               "(opt, sar) _mean, _p50, _p90, _dmg_ha, _dmg_fr, _valid, and feature (position in the layer sent).",
               formats=(GEOJSON,), by_reference=True),
        Output("ranking_shapefile", "Ranking (shapefile)", "The ranking as a zipped shapefile in the parcels' CRS "
               "(what QGIS loads).", formats=(ZIP,), by_reference=True),
        Output("ranking_csv", "Ranking (CSV)", "The ranking's attributes as CSV, without geometry.",
               formats=(CSV,), by_reference=True),
        quicklook_output("PNG map of the parcels coloured by damage level, the hardest hit numbered by rank."),
        Output("summary", "Summary", "JSON: period, threshold, weights, kept classes, each map's period, grid "
               "and how many parcels it was used for, parcels per status and per level, damaged hectares."),
    ),
    run=run,
    keywords=("windthrow", "forest", "damage", "parcels", "zonal statistics", "change detection",
              "Sentinel-1", "Sentinel-2"),
)
