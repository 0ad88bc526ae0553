"""The ranking's quicklook: a PNG map of the parcels coloured by damage level, with a legend
and the ranks of the hardest hit written on them, framed on the parcels the change maps cover.

Drawn with matplotlib's Agg canvas on a Figure of its own (never pyplot, whose global state
and backend choice a server has no use for), at most :data:`SIZE` pixels a side.
"""

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PatchCollection
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from shapely.plotting import patch_from_polygon

from .levels import LEVEL_NAMES
from .ranking import OUTSIDE

#: Side of the square quicklook, in pixels (inches x dots per inch).
SIZE = 1024
DPI = 128
#: Colours of the levels, least damaged first (ColorBrewer RdYlGn, reversed), and of unranked parcels.
LEVEL_COLOURS = dict(zip(LEVEL_NAMES, ("#1a9641", "#a6d96a", "#fdae61", "#d7191c")))
UNRANKED = "#bdbdbd"
#: Ranks written on the map: the hardest hit, which a forester visits first.
LABELLED = 10


def write_quicklook(table, destination, title="Parcel damage"):
    """Draw ``table`` (:func:`candela.damage.ranking.rank_parcels`'s) to the PNG ``destination``."""
    parcels = table.to_crs(table.estimate_utm_crs()) if table.crs.is_geographic else table
    figure = Figure(figsize=(SIZE / DPI, SIZE / DPI), dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_axes((0.02, 0.02, 0.74, 0.90))  # the legend goes on the right
    colours = parcels["level"].map(LEVEL_COLOURS).fillna(UNRANKED)
    # Patches added to the axes directly: GeoDataFrame.plot would import pyplot.
    axes.add_collection(PatchCollection([patch_from_polygon(g) for g in parcels.geometry], match_original=False,
                                        facecolor=colours.tolist(), edgecolor="#333333", linewidth=0.4))
    for _, parcel in parcels[parcels["rank"].notna() & (parcels["rank"] <= LABELLED)].iterrows():
        point = parcel.geometry.representative_point()
        axes.annotate(str(int(parcel["rank"])), (point.x, point.y), ha="center", va="center", fontsize=8,
                      fontweight="bold", color="black")
    counts = parcels["level"].value_counts()
    handles = [Patch(facecolor=LEVEL_COLOURS[level], edgecolor="#333333", label=f"{level} ({counts.get(level, 0)})")
               for level in reversed(LEVEL_NAMES)]
    unranked = int(parcels["rank"].isna().sum())
    if unranked:
        handles.append(Patch(facecolor=UNRANKED, edgecolor="#333333", label=f"not ranked ({unranked})"))
    axes.legend(handles=handles, title="Damage level", loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8,
                title_fontsize=9, frameon=False)
    # Framed on the parcels the maps cover: one stray parcel kilometres away would shrink the rest to dots.
    covered = parcels[parcels["status"] != OUTSIDE]
    left, bottom, right, top = (covered if len(covered) else parcels).total_bounds
    margin = 0.03 * max(right - left, top - bottom, 1.0)
    axes.set_xlim(left - margin, right + margin)
    axes.set_ylim(bottom - margin, top + margin)
    axes.set_aspect("equal", adjustable="box")
    axes.set_axis_off()
    figure.suptitle(title, fontsize=11)
    figure.savefig(destination, format="png", dpi=DPI)
    return destination
