"""Vector layers for tests: GML as the QGIS plugin sends it, files of each format, zips."""

import zipfile
from pathlib import Path

import geopandas as gpd
from shapely.geometry import Polygon

#: A layer of two labelled polygons as the QGIS WPS plugin sends it: QGIS exports the layer
#: with OGR's GML writer (GML 2, srsName on each geometry, a schemaLocation naming the .xsd it
#: wrote beside its temporary file, which the server never has) and sends the text.
QGIS_SAMPLES_GML = """<?xml version="1.0" encoding="utf-8" ?>
<ogr:FeatureCollection
     xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
     xsi:schemaLocation="http://ogr.maptools.org/ samples.xsd"
     xmlns:ogr="http://ogr.maptools.org/"
     xmlns:gml="http://www.opengis.net/gml">
  <gml:boundedBy>
    <gml:Box>
      <gml:coord><gml:X>14.5</gml:X><gml:Y>46.05</gml:Y></gml:coord>
      <gml:coord><gml:X>14.53</gml:X><gml:Y>46.06</gml:Y></gml:coord>
    </gml:Box>
  </gml:boundedBy>
  <gml:featureMember>
    <ogr:samples fid="samples.0">
      <ogr:geometryProperty><gml:Polygon srsName="EPSG:4326"><gml:outerBoundaryIs><gml:LinearRing><gml:coordinates>14.5,46.05 14.51,46.05 14.51,46.06 14.5,46.05</gml:coordinates></gml:LinearRing></gml:outerBoundaryIs></gml:Polygon></ogr:geometryProperty>
      <ogr:id>1</ogr:id>
      <ogr:landcover>forest</ogr:landcover>
    </ogr:samples>
  </gml:featureMember>
  <gml:featureMember>
    <ogr:samples fid="samples.1">
      <ogr:geometryProperty><gml:Polygon srsName="EPSG:4326"><gml:outerBoundaryIs><gml:LinearRing><gml:coordinates>14.52,46.05 14.53,46.05 14.53,46.06 14.52,46.05</gml:coordinates></gml:LinearRing></gml:outerBoundaryIs></gml:Polygon></ogr:geometryProperty>
      <ogr:id>2</ogr:id>
      <ogr:landcover>water</ogr:landcover>
    </ogr:samples>
  </gml:featureMember>
</ogr:FeatureCollection>
"""

#: Hand-written GML without any srsName (as tests/test_qgis.py's PARCELS_GML).
GML_WITHOUT_CRS = """<?xml version="1.0" encoding="utf-8"?>
<ogr:FeatureCollection xmlns:ogr="http://ogr.maptools.org/" xmlns:gml="http://www.opengis.net/gml">
  <gml:featureMember><ogr:parcels fid="parcels.0"><ogr:geometryProperty><gml:Point><gml:coordinates>
    1,2</gml:coordinates></gml:Point></ogr:geometryProperty><ogr:id>1</ogr:id></ogr:parcels></gml:featureMember>
</ogr:FeatureCollection>"""


def gml_with(root="ogr:FeatureCollection", schema_location=None, members=1):
    """GML of ``members`` points in EPSG:4326 under ``root``, with an xsi:schemaLocation."""
    location = f' xsi:schemaLocation="{schema_location}"' if schema_location else ""
    member = ('<gml:featureMember><ogr:points fid="points.{i}"><ogr:geometryProperty><gml:Point srsName="EPSG:4326">'
              '<gml:coordinates>{i},2</gml:coordinates></gml:Point></ogr:geometryProperty><ogr:id>{i}</ogr:id>'
              '</ogr:points></gml:featureMember>')
    body = "\n".join(member.format(i=i) for i in range(members))
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<{root} xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
            f'{location} xmlns:wfs="http://www.opengis.net/wfs" xmlns:ogr="http://ogr.maptools.org/"'
            f' xmlns:gml="http://www.opengis.net/gml">\n{body}\n</{root}>\n')


def labelled(crs="EPSG:32633"):
    """Three polygons with an id, a class and a value, in ``crs``."""
    if crs == "EPSG:4326":
        geometries = [Polygon([(14.4, 46.0), (14.45, 46.0), (14.45, 46.05)]), Polygon([(14.5, 46.0), (14.6, 46.0), (14.6, 46.1)]),
                      Polygon([(14.7, 46.0), (14.8, 46.0), (14.8, 46.1), (14.7, 46.1)])]
    else:
        geometries = [Polygon([(500010, 5000080), (500020, 5000080), (500020, 5000090)]),
                      Polygon([(500030, 5000050), (500060, 5000050), (500060, 5000080)]),
                      Polygon([(500000, 5000000), (500020, 5000000), (500020, 5000020), (500000, 5000020)])]
    return gpd.GeoDataFrame({"id": [1, 2, 3], "landcover": ["forest", "water", "urban"], "ndvi": [0.5, 0.1, 0.2]},
                            geometry=geometries, crs=crs)


def shapefile_members(features, folder, name="samples"):
    """``{file name: bytes}`` of ``features`` written as shapefile ``name`` under ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    features.to_file(folder / f"{name}.shp", driver="ESRI Shapefile", engine="pyogrio")
    return {path.name: path.read_bytes() for path in sorted(folder.glob(f"{name}.*"))}


def write_zip(path, members, compression=zipfile.ZIP_DEFLATED):
    """A zip of ``members`` ({name: bytes} or (name, bytes) pairs) at ``path``."""
    items = members.items() if isinstance(members, dict) else members
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in items:
            archive.writestr(name, data)
    return path
