"""Where things lie in the windthrow scene (:mod:`.synthetic_windthrow`), in pixels.

Everything is placed on the *world* canvas: the radar grid, which covers the optical image
with a margin (:data:`MARGIN`). Shapes are given in optical pixel units (x = column, y =
row, from the optical image's top-left corner) and moved onto the canvas by
:func:`on_canvas`. Parcel edges lie on pixel boundaries, except those of one parcel cut by a
slanted line, whose pixels are partly inside: :func:`coverage` gives each pixel's exact
share (shapely areas), and the truth counts damaged area by it.
"""

from dataclasses import dataclass

import numpy as np
import shapely
from shapely import affinity
from shapely.geometry import Polygon, box

#: Optical image: SIZE x SIZE pixels.
SIZE = 256
#: Radar pixels beyond the optical image: top, left, bottom, right.
MARGIN = (6, 8, 8, 8)
CANVAS = (SIZE + MARGIN[0] + MARGIN[2], SIZE + MARGIN[1] + MARGIN[3])

#: Windthrow patches: semi-axes of an ellipse, in pixels (so 2-6 px across), elongated along
#: the storm's track (from the west-south-west), as fallen trees lie in lines.
PATCH_AXES = (1.0, 2.8)
STORM_TRACK = 0.35  # radians from the x axis, give or take STORM_SPREAD
STORM_SPREAD = 0.3


@dataclass(frozen=True)
class ParcelPlan:
    """A parcel: its land cover, outline (optical pixel units) and what happens to it."""

    landcover: str
    outline: Polygon
    fraction: float = 0.0  # share of the parcel's area blown down (forest)
    harvested: bool = False  # cropped and ploughed between the images (field)
    clouded: bool = False  # under the cloud of the "after" image


def rectangle(row, col, height, width):
    """A rectangle in optical pixel units, from its top-left pixel and size."""
    return box(col, row, col + width, row + height)


# In reading order, which gives the ids T-101, T-102, ...: ids say nothing of land cover.
# Damaged areas (ha) rise by at least 1.55 x from one damaged forest parcel to the next
# (1.0, 1.68, 2.6, 4.2, 6.8, 10.6, 17, 27), so a ranking within 20 % keeps their order.
PLANS = (
    ParcelPlan("forest", rectangle(4, 4, 54, 50), 1.0),
    ParcelPlan("forest", rectangle(4, 56, 46, 46), 0.5),
    ParcelPlan("forest", rectangle(4, 104, 30, 40)),
    ParcelPlan("forest", rectangle(4, 146, 42, 40), 0.25),
    ParcelPlan("meadow", rectangle(4, 196, 36, 56)),
    ParcelPlan("field", rectangle(50, 196, 40, 56)),
    ParcelPlan("forest", rectangle(60, 4, 34, 50), 1.0),
    ParcelPlan("forest", rectangle(60, 56, 26, 40), 0.25),
    ParcelPlan("forest", rectangle(60, 98, 25, 40), 0.1),
    ParcelPlan("forest", rectangle(60, 140, 30, 40)),
    # Cut by a slanted ride: its edges are not on pixel boundaries.
    ParcelPlan("forest", Polygon([(4, 100), (60.3, 100), (44.7, 134.6), (4, 134.6)]), 0.1),
    ParcelPlan("field", rectangle(100, 196, 40, 56), harvested=True),
    ParcelPlan("meadow", rectangle(150, 80, 30, 50)),
    # A woodlot in the fields, alone under the cloud.
    ParcelPlan("forest", rectangle(190, 150, 34, 40), 0.5, clouded=True),
)
FIRST_ID = 101

#: The cloud: centre (row, col) and mean radius in optical pixels; its edge wobbles by up to
#: CLOUD_WOBBLE of the radius, and still covers the clouded parcel and no other.
CLOUD = (207.0, 170.0, 33.0)
CLOUD_WOBBLE = 0.12
#: A pond: centre (row, col) and radii (rows, cols), optical pixels.
POND = (230.0, 234.0, 14.0, 17.0)
#: Roads (row, col, height, width), optical pixels; they run on across the radar margin.
ROADS = ((144, -MARGIN[1], 3, SIZE + MARGIN[1] + MARGIN[3]), (-MARGIN[0], 189, 144 + MARGIN[0], 3))
#: A village of houses and gardens in blocks of VILLAGE_BLOCK pixels (synthetic landscape only).
VILLAGE = (196, 8, 54, 62)
VILLAGE_BLOCK = 4
VILLAGE_BUILT = 0.55

#: Labelled areas for training a classifier on the "before" state: inside undamaged forest,
#: meadows, fields (the harvested one still standing then) and the pond.
TRAINING = (
    ("forest", rectangle(9, 110, 20, 28)),
    ("forest", rectangle(65, 146, 20, 28)),
    ("meadow", rectangle(10, 204, 24, 40)),
    ("meadow", rectangle(156, 88, 18, 34)),
    ("field", rectangle(56, 204, 28, 40)),
    ("field", rectangle(106, 204, 28, 40)),
    ("water", rectangle(224, 226, 12, 16)),
)


def parcel_id(index):
    """The id of the ``index``-th parcel of :data:`PLANS` (``"T-101"``, ...)."""
    return f"T-{FIRST_ID + index}"


def on_canvas(shape):
    """A shape in optical pixel units moved into canvas pixel units."""
    return affinity.translate(shape, MARGIN[1], MARGIN[0])


def coverage(shape, canvas=CANVAS):
    """Share of each canvas pixel inside ``shape`` (canvas pixel units), exact, float64."""
    share = np.zeros(canvas)
    left, top, right, bottom = shape.bounds
    rows = np.arange(max(int(np.floor(top)), 0), min(int(np.ceil(bottom)), canvas[0]))
    cols = np.arange(max(int(np.floor(left)), 0), min(int(np.ceil(right)), canvas[1]))
    r, c = np.meshgrid(rows, cols, indexing="ij")
    pixels = shapely.box(c, r, c + 1, r + 1)
    share[r, c] = shapely.area(shapely.intersection(pixels, shape))
    return share


def ellipse_mask(centre, radii, canvas=CANVAS):
    """Pixels (canvas) whose centre lies in the ellipse of ``centre`` (row, col) and ``radii``."""
    rows, cols = np.mgrid[:canvas[0], :canvas[1]] + 0.5
    return ((rows - centre[0]) / radii[0]) ** 2 + ((cols - centre[1]) / radii[1]) ** 2 <= 1


def cloud_mask(rng, canvas=CANVAS):
    """The cloud (canvas pixels): a disc whose radius wobbles with the direction."""
    row, col, radius = CLOUD
    row, col = row + MARGIN[0], col + MARGIN[1]
    rows, cols = np.mgrid[:canvas[0], :canvas[1]] + 0.5
    angle = np.arctan2(rows - row, cols - col)
    wobble = sum(rng.uniform(-1, 1) * np.sin(k * angle + rng.uniform(0, 2 * np.pi)) for k in (2, 3, 5))
    limit = radius * (1 + CLOUD_WOBBLE * wobble / 3)
    return np.hypot(rows - row, cols - col) <= limit


def windthrow(rng, share, fraction):
    """Pixels blown down in a parcel whose pixels are ``share`` inside it.

    Elliptical patches a few pixels across are laid at random (each from its centre
    outwards) until their area, counted by ``share``, reaches ``fraction`` of the parcel's;
    the last patch is cut short there, so a parcel of whole pixels gets exactly
    ``round(fraction * pixels)`` of them. Returns a bool array like ``share``.
    """
    inside = share > 0
    if fraction >= 1:
        return inside.copy()
    damaged = np.zeros_like(inside)
    target = fraction * share.sum()
    done = 0.0
    while done < target - 1e-9:
        free_rows, free_cols = np.nonzero(inside & ~damaged)
        pick = rng.integers(len(free_rows))
        patch, order = _patch(rng, free_rows[pick], free_cols[pick], inside & ~damaged)
        cumulative = np.cumsum(share[patch][order])
        count = min(int(np.searchsorted(cumulative, target - done - 1e-9)) + 1, len(order))
        rows, cols = patch[0][order[:count]], patch[1][order[:count]]
        damaged[rows, cols] = True
        done += float(cumulative[count - 1])
    return damaged


def _patch(rng, row, col, free):
    """Free pixels of an ellipse centred on pixel (row, col), and their order from the centre."""
    major = rng.uniform(*PATCH_AXES)
    minor = major * rng.uniform(0.5, 1.0)
    angle = rng.normal(STORM_TRACK, STORM_SPREAD)
    reach = int(np.ceil(major))
    r0, c0 = max(row - reach, 0), max(col - reach, 0)
    window = free[r0:row + reach + 1, c0:col + reach + 1]
    dy, dx = np.mgrid[:window.shape[0], :window.shape[1]]
    dy, dx = dy + r0 - row, dx + c0 - col
    along = dx * np.cos(angle) + dy * np.sin(angle)
    across = -dx * np.sin(angle) + dy * np.cos(angle)
    distance = (along / major) ** 2 + (across / minor) ** 2
    chosen = (distance <= 1) & window
    rows, cols = np.nonzero(chosen)
    return (rows + r0, cols + c0), np.argsort(distance[chosen], kind="stable")
