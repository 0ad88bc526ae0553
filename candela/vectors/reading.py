"""Reading a vector layer users sent (samples, parcels) into a GeoDataFrame, with checks.

The format comes from the content (:mod:`.formats`): a zipped shapefile (read in place
through /vsizip/, never unpacked), a GeoPackage, GeoJSON or GML, each opened only by its
own GDAL driver (:mod:`.drivers`). Rules:

- one layer: a file with several is refused, naming them, unless ``layer`` picks one;
- a CRS: GeoJSON without one is EPSG:4326 (RFC 7946); any other layer without one is refused;
- geometries are 2D; invalid polygons are repaired (``shapely.make_valid``, polygonal parts
  kept); features whose geometry is null, empty or unrepairable are dropped and counted in
  ``features.attrs["without_geometry"]``; the index is each feature's position in the layer;
- limits: ``max_bytes`` for the file (and for what a zip unpacks to), ``max_features``.
"""

import os

import numpy as np
import pyogrio
import shapely
from geopandas import GeoSeries

from ..errors import InputError
from ..sizes import human_size
from .drivers import DRIVERS, open_options, remove_unsafe_drivers
from .formats import GEOJSON, UNREADABLE, detect_format, gdal_source

MAX_FEATURES = 100_000
MAX_BYTES = 256 * 2**20
#: Layers looked at when listing a file's layers.
MAX_LAYERS = 100
POLYGONAL = (3, 6)  # shapely type ids of Polygon, MultiPolygon


def read_features(path, *, layer=None, max_features=MAX_FEATURES, max_bytes=MAX_BYTES):
    """The features of the vector layer in ``path`` as a GeoDataFrame with a CRS (see the
    module's rules); InputError for anything unusable, without server paths."""
    size = os.path.getsize(path)
    if size > max_bytes:
        raise InputError(f"the vector file has {human_size(size)}, more than the {human_size(max_bytes)} allowed")
    kind = detect_format(path)
    source = gdal_source(path, kind, max_bytes)
    remove_unsafe_drivers()
    options = open_options(kind)
    info = _layer_info(source, layer, options)
    if info["driver"] != DRIVERS[kind]:
        raise InputError(UNREADABLE)
    if info["features"] > max_features:
        raise _too_many(max_features, info["features"])
    features = _gdal(pyogrio.read_dataframe, source, layer=info["layer_name"], force_2d=True,
                     max_features=max_features + 1, on_invalid="ignore", **options)
    if len(features) > max_features:
        raise _too_many(max_features)
    if len(features) == 0:
        raise InputError("the layer has no features")
    return _usable(_with_crs(features, kind))


def _layer_info(source, layer, options):
    """pyogrio's information on the layer to read: ``layer`` (a name), or the only layer with
    geometries."""
    layers = _layers(source, options)
    if layer is not None:
        chosen = [info for info in layers if info["layer_name"] == layer]
        if not chosen:
            raise InputError(f"the file has no layer {layer!r}; its layers are: {_names(layers)}")
        return chosen[0]
    if len(layers) != 1:
        found = f"{len(layers)} layers ({_names(layers)})" if layers else "no layer with geometries"
        raise InputError(f"the file has {found}: send one layer, or name the one to read")
    return layers[0]


def _layers(source, options):
    """Information on each layer with geometries (``list_layers`` takes no open options, and
    GML needs them)."""
    layers = []
    for index in range(MAX_LAYERS):
        try:
            info = pyogrio.read_info(source, layer=index, **options)
        except pyogrio.errors.DataLayerError:
            break
        except (RuntimeError, ValueError, OSError):
            raise InputError(UNREADABLE) from None
        if info["geometry_type"] is not None:
            layers.append(info)
    return layers


def _gdal(function, *args, **kwargs):
    """``function(*args, **kwargs)``, GDAL's errors (which name server paths) made InputError."""
    try:
        return function(*args, **kwargs)
    except (RuntimeError, ValueError, OSError):
        raise InputError(UNREADABLE) from None


def _with_crs(features, kind):
    if features.crs is not None:
        return features
    if kind == GEOJSON:
        return features.set_crs("EPSG:4326")
    raise InputError("the layer has no coordinate reference system")


def _usable(features):
    """``features`` with invalid polygons repaired and those without a usable geometry dropped."""
    geometries = features.geometry.to_numpy().copy()
    broken = np.isin(shapely.get_type_id(geometries), POLYGONAL) & ~shapely.is_valid(geometries)
    # "structure" keeps a repaired polygon polygonal (lines from collapsed parts are dropped).
    geometries[broken] = shapely.make_valid(geometries[broken], method="structure", keep_collapsed=False)
    usable = ~(shapely.is_missing(geometries) | shapely.is_empty(geometries))
    if not usable.any():
        raise InputError(f"none of the layer's {len(features)} features has a usable geometry")
    kept = features.set_geometry(GeoSeries(geometries, index=features.index, crs=features.crs))[usable].copy()
    kept.attrs["without_geometry"] = int((~usable).sum())
    return kept


def _too_many(max_features, count=None):
    if count is None:  # counting would mean reading them all
        return InputError(f"the layer has more than the {max_features} features allowed")
    return InputError(f"the layer has {count} features, more than the {max_features} allowed")


def _names(layers):
    return ", ".join(repr(info["layer_name"]) for info in layers[:20]) + (", ..." if len(layers) > 20 else "")
