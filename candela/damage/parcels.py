"""Parcels: their checks, their true (geodesic) areas, and their attributes kept beside ours."""

import numpy as np
import shapely
from pyproj import Geod

from ..errors import InputError
from ..vectors.writing import DBF_NAME_BYTES

#: Prefix of an input attribute whose name is an output column (``rank`` → ``in_rank``).
PREFIX = "in_"
POLYGONAL = ("Polygon", "MultiPolygon")


def check_polygons(parcels):
    """Refuse parcels that are not all polygons (a point or a line has no area to rank)."""
    types = parcels.geometry.geom_type
    wrong = ~types.isin(POLYGONAL)
    if wrong.any():
        first = wrong.to_numpy().nonzero()[0][0]
        raise InputError(f"parcels must be polygons; {int(wrong.sum())} of {len(parcels)} are not (feature "
                         f"{parcels.index[first]} is a {types.iloc[first]})", "parcels")


def geodesic_areas(geometries, geod):
    """Areas in m² on ``geod``'s ellipsoid (or sphere) of polygons in longitude/latitude degrees."""
    # Exteriors counter-clockwise and holes clockwise: pyproj's areas are signed by orientation.
    oriented = shapely.orient_polygons(np.asarray(geometries), exterior_cw=False)
    return np.array([abs(geod.geometry_area_perimeter(g)[0]) if g is not None and not g.is_empty else 0.0
                     for g in oriented])


def ground_areas(parcels):
    """The parcels' areas in m² on their CRS's ellipsoid, whatever the CRS."""
    geodetic = parcels.crs.geodetic_crs
    return geodesic_areas(parcels.geometry.to_crs(geodetic).to_numpy(), Geod(**_ellipsoid(geodetic)))


def _ellipsoid(crs):
    ellipsoid = crs.ellipsoid
    return {"a": ellipsoid.semi_major_metre, "b": ellipsoid.semi_minor_metre}


def renamed(parcels, columns):
    """``parcels`` with every attribute whose name is one of the output ``columns`` renamed
    ``in_<name>`` (``in_in_<name>`` if another attribute has that name, and so on), and the
    renaming ``{old: new}``.

    Names are compared with the output columns as a shapefile's fields are, ignoring case and
    cut to 10 bytes, so that no input attribute can take an output column's field in the
    zipped shapefile (which keeps attributes apart with suffixes, :mod:`candela.vectors.writing`).
    """
    def field(name):
        return str(name).upper().encode("utf-8")[:DBF_NAME_BYTES]

    reserved = {field(name) for name in columns}
    attributes = [name for name in parcels.columns if name != parcels.geometry.name]
    names = set(attributes)
    mapping = {}
    for name in attributes:
        if field(name) not in reserved:
            continue
        new = PREFIX + str(name)
        while new in names:  # names only grow: this ends
            new = PREFIX + new
        names.add(new)
        mapping[name] = new
    return parcels.rename(columns=mapping), mapping
