"""Areas of interest given as the literal ``minx,miny,maxx,maxy[,crs]``."""

from dataclasses import dataclass

from rasterio.crs import CRS
from rasterio.errors import CRSError
from rasterio.warp import transform_bounds

from ..errors import InputError

LONLAT = "EPSG:4326"


@dataclass(frozen=True)
class AOI:
    """A rectangle ``(minx, miny, maxx, maxy)`` in ``crs`` (longitude/latitude by default)."""

    minx: float
    miny: float
    maxx: float
    maxy: float
    crs: str = LONLAT

    @property
    def bounds(self):
        return (self.minx, self.miny, self.maxx, self.maxy)

    def bounds_in(self, crs):
        """The rectangle's bounds in another CRS (densified, so they enclose it)."""
        return transform_bounds(CRS.from_user_input(self.crs), crs, *self.bounds, densify_pts=21)


def parse_aoi(text):
    """Parse ``minx,miny,maxx,maxy[,crs]``; an empty or missing text means no AOI (None)."""
    if text is None or not str(text).strip():
        return None
    parts = [p.strip() for p in str(text).split(",")]
    if len(parts) not in (4, 5):
        raise InputError("expected minx,miny,maxx,maxy with an optional CRS, e.g. 10.1,45.2,10.3,45.4")
    try:
        minx, miny, maxx, maxy = (float(p) for p in parts[:4])
    except ValueError:
        raise InputError("the four bounds must be numbers") from None
    crs = parts[4] if len(parts) == 5 and parts[4] else LONLAT
    try:
        parsed = CRS.from_user_input(crs)
    except CRSError:
        raise InputError(f"unknown CRS {crs!r}") from None
    if not (minx < maxx and miny < maxy):
        raise InputError("minx must be below maxx and miny below maxy")
    if parsed == CRS.from_epsg(4326):
        if not (-180 <= minx and maxx <= 180 and -90 <= miny and maxy <= 90):
            raise InputError("longitude/latitude bounds are out of range")
    return AOI(minx, miny, maxx, maxy, crs)
