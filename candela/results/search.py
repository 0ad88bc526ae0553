"""A search query as SQL over the observations, and the exact spatial test where SQL cannot do it.

Only ranked observations (those with a damaged fraction) are found: a parcel without usable
pixels answers no question about damage. Of a parcel's ranked observations over one period and
the same land-cover classes, only the newest is found: running ParcelDamage again over the same parcels and period (better maps,
other weights) replaces the earlier answer rather than doubling it. Every observation stays in
the store and the knowledge graph, with its provenance. On PostgreSQL, PostGIS decides whether a parcel meets
the area of interest; on SQLite the parcel's bounding box narrows the rows and shapely decides
(:func:`refine`), so the limit is applied after that test.
"""

from datetime import timedelta

import shapely
import sqlalchemy as sa

from .geometry import from_column
from .records import utc
from .schema import OBSERVATION_CLASSES, OBSERVATION_SOURCES, OBSERVATIONS

#: The column each order sorts by.
ORDER_COLUMNS = {
    "damage": OBSERVATIONS.c.damaged_fraction,
    "area": OBSERVATIONS.c.damaged_ha,
    "date": OBSERVATIONS.c.period_end,
    "rank": OBSERVATIONS.c.rank,
}


def search_statement(select, query, spatial_sql):
    """``select`` (observations joined with their runs) filtered and ordered by ``query``."""
    o = OBSERVATIONS.c
    newer = OBSERVATIONS.alias("newer")
    conditions = [o.damaged_fraction.is_not(None),
                  # A later run over the same parcel and period replaces an earlier one.
                  ~sa.exists().where(newer.c.parcel_key == o.parcel_key, newer.c.id > o.id,
                                     newer.c.classes_key == o.classes_key,
                                     newer.c.period_start.is_not_distinct_from(o.period_start),
                                     newer.c.period_end.is_not_distinct_from(o.period_end),
                                     newer.c.damaged_fraction.is_not(None))]
    if query.classes:
        wanted = sorted({name.casefold() for name in query.classes})
        conditions.append(sa.exists().where(OBSERVATION_CLASSES.c.observation == o.id,
                                            OBSERVATION_CLASSES.c.class_key.in_(wanted)))
    for source in {"optical": ["optical"], "sar": ["sar"], "both": ["optical", "sar"]}.get(query.source, []):
        conditions.append(sa.exists().where(OBSERVATION_SOURCES.c.observation == o.id,
                                            OBSERVATION_SOURCES.c.source == source))
    # Dates as SearchQuery means them: the period ends on a later day than "after", starts on
    # an earlier day than "before".
    if query.after is not None:
        conditions.append(o.period_end >= utc(query.after + timedelta(days=1)))
    if query.before is not None:
        conditions.append(o.period_start < utc(query.before))
    if query.min_fraction is not None:
        conditions.append(o.damaged_fraction >= query.min_fraction)
    if query.min_area_ha is not None:
        conditions.append(o.damaged_ha >= query.min_area_ha)
    if query.levels:
        conditions.append(o.level.in_(list(query.levels)))  # stored as LEVELS spell them
    if query.aoi is not None:
        minx, miny, maxx, maxy = query.aoi.bounds
        conditions += [o.minx <= maxx, o.maxx >= minx, o.miny <= maxy, o.maxy >= miny]
        if spatial_sql:
            conditions.append(sa.func.ST_Intersects(o.geometry, sa.func.ST_GeomFromText(query.aoi.wkt, 4326)))
    column = ORDER_COLUMNS[query.order]
    ordered = column.desc().nulls_last() if query.descending else column.asc().nulls_last()
    statement = select.where(*conditions).order_by(ordered, o.id)
    if query.aoi is None or spatial_sql:
        statement = statement.limit(query.limit)
    return statement


def refine(rows, query, spatial_sql):
    """The rows that really meet the area of interest, at most the query's limit."""
    if query.aoi is None or spatial_sql:
        return list(rows)
    aoi = query.aoi
    shapely.prepare(aoi)
    found = []
    for row in rows:
        if shapely.intersects(aoi, from_column(row["geometry"])):
            found.append(row)
            if len(found) >= query.limit:
                break
    return found
