import pytest

from candela.rasters.aoi import parse_aoi
from candela.errors import InputError


def test_empty_means_no_aoi():
    assert parse_aoi("") is None and parse_aoi("  ") is None and parse_aoi(None) is None


def test_lonlat_by_default_and_projected_crs():
    aoi = parse_aoi("-9.5, 52.9, -9.2, 53.1")
    assert aoi.bounds == (-9.5, 52.9, -9.2, 53.1) and aoi.crs == "EPSG:4326"
    utm = parse_aoi("500000,5880000,520000,5900000,EPSG:32629")
    left, bottom, right, top = utm.bounds_in("EPSG:4326")
    assert -9.1 < left < -8.9 and 53.0 < bottom < 53.2 and right > left and top > bottom


@pytest.mark.parametrize("text, problem", [
    ("1,2,3", "minx,miny,maxx,maxy"), ("a,b,c,d", "numbers"), ("3,0,1,1", "below"),
    ("0,0,1,1,EPSG:999999", "unknown CRS"), ("-200,0,1,1", "out of range"),
])
def test_bad_aoi_says_what_is_wrong(text, problem):
    with pytest.raises(InputError, match=problem):
        parse_aoi(text)
