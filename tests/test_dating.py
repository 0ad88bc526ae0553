"""Acquisition times from tags and Sentinel-2 names."""

from datetime import date, datetime, timedelta, timezone

import numpy as np
import pytest
import rasterio
from affine import Affine

from candela.rasters.dating import (
    ACQUISITION_TAG,
    acquisition_time,
    acquisition_time_and_source,
    format_time,
    parse_time,
    tile_from_name,
    time_from_name,
)
from candela.errors import InputError

from helpers.paths import shared_path

UTC = timezone.utc


def write_tif(path, **tags):
    """A tiny georeferenced GeoTIFF with the given metadata tags."""
    with rasterio.open(path, "w", driver="GTiff", width=4, height=4, count=1, dtype="uint8",
                       crs="EPSG:32631", transform=Affine(10, 0, 300000, 0, -10, 4900000)) as dataset:
        dataset.write(np.zeros((1, 4, 4), "uint8"))
        if tags:
            dataset.update_tags(**tags)
    return path


# --- names -----------------------------------------------------------------------------


@pytest.mark.parametrize("name, expected", [
    ("T30TXQ_20171026T110131_B02.tif", datetime(2017, 10, 26, 11, 1, 31, tzinfo=UTC)),
    # Compact product name: the first date-time is sensing, the second the processing.
    ("S2A_MSIL2A_20221005T115411_N0400_R023_T29UNU_20221005T164454", datetime(2022, 10, 5, 11, 54, 11, tzinfo=UTC)),
    ("S2B_MSIL1C_20201011T000249_N0209_R030_T55HFA_20201011T011446.zip", datetime(2020, 10, 11, 0, 2, 49, tzinfo=UTC)),
    # Granule folder: A<orbit> then the datastrip's sensing start.
    ("L2A_T29UNU_A038058_20221005T115407", datetime(2022, 10, 5, 11, 54, 7, tzinfo=UTC)),
    # Old-style product and datastrip names: sensing marked by V / S, after the processing time.
    ("S2A_OPER_PRD_MSIL1C_PDMC_20160706T155721_R094_V20150821T105936_20150821T105936",
     datetime(2015, 8, 21, 10, 59, 36, tzinfo=UTC)),
    ("S2A_OPER_MSI_L2A_DS_ATOS_20221005T164454_S20221005T115407_N04.00", datetime(2022, 10, 5, 11, 54, 7, tzinfo=UTC)),
    # An impossible date-time is skipped for the next one.
    ("city_20161399T000000_20170101T101010.tif", datetime(2017, 1, 1, 10, 10, 10, tzinfo=UTC)),
    # A reference URL: the query is no part of the name.
    ("https://example.org/data/T30TXQ_20171026T110131_B02.tif?stamp=20200101T000000",
     datetime(2017, 10, 26, 11, 1, 31, tzinfo=UTC)),
])
def test_time_from_name(name, expected):
    assert time_from_name(name) == expected


@pytest.mark.parametrize("name", ["image.tif", "upload 1", "B02_2017-10-26.tif", "x_20171026T1101_B02.tif"])
def test_time_from_name_without_a_date(name):
    assert time_from_name(name) is None


@pytest.mark.parametrize("name, expected", [
    # OSCD rennes: processed 2016-07-06, sensed 2015-08-21 (dataset's dates.txt).
    ("S2A_OPER_MSI_L1C_TL_EPA__20160706T155721_A000849_T30UWU_B02.tif", date(2015, 8, 21)),
    # OSCD abudhabi: processed the day it was sensed.
    ("S2A_OPER_MSI_L1C_TL_MTI__20160120T104345_A003020_T39QZG_B02.tif", date(2016, 1, 20)),
    # OSCD lasvegas (western US: sensed in the UTC evening).
    ("S2A_OPER_MSI_L1C_TL_EPA__20160928T133319_A000839_T11SPV_B02.tif", date(2015, 8, 20)),
    # Published S2B and S2C tiles (product S2B_MSIL1C_20170719..., STAC item of 2025-08-26).
    ("S2B_OPER_MSI_L1C_TL_SGS__20170719T012130_A001915_T56JKT_N02.05", date(2017, 7, 19)),
    ("S2C_OPER_MSI_L1C_TL_2CPS_20250826T204551_A005087_T15TVG_N05.11", date(2025, 8, 26)),
])
def test_old_style_tile_name_is_dated_by_its_orbit_not_its_processing_time(name, expected):
    assert time_from_name(name).date() == expected


def test_old_style_tile_time_is_within_minutes_of_the_published_sensing_time():
    # A granule whose metadata give the observation time 2025-08-26T17:22:22Z.
    when = time_from_name("S2C_OPER_MSI_L1C_TL_2CPS_20250826T204551_A005087_T15TVG_N05.11")
    assert abs(when - datetime(2025, 8, 26, 17, 22, 22, tzinfo=UTC)) < timedelta(minutes=5)


def test_old_style_tile_name_of_an_unknown_satellite_is_undated():
    assert time_from_name("S2Z_OPER_MSI_L1C_TL_MTI__20160120T104345_A003020_T39QZG_B02.tif") is None


@pytest.mark.parametrize("name, expected", [
    ("T30TXQ_20171026T110131_B02.tif", "30TXQ"),
    ("S2A_OPER_MSI_L1C_TL_MTI__20160120T104345_A003020_T39QZG_B02.tif", "39QZG"),
    ("S2A_MSIL2A_20221005T115411_N0400_R023_T29UNU_20221005T164454.zip", "29UNU"),
    ("https://example.org/T31UDQ_20171107T105229_B04.tif?x=1", "31UDQ"),
    ("image_20171026T110131.tif", None),
    ("T30IXQ_20171026T110131_B02.tif", None),  # no latitude band I in MGRS
])
def test_tile_from_name(name, expected):
    assert tile_from_name(name) == expected


# --- tags ------------------------------------------------------------------------------

S2_NAME = "T30TXQ_20171026T110131_B02.tif"


def test_acquisition_date_tag_comes_first(tmp_path):
    path = write_tif(tmp_path / S2_NAME, **{ACQUISITION_TAG: "2019-05-06T07:08:09Z",
                                            "TIFFTAG_DATETIME": "2018:01:02 03:04:05"})
    assert acquisition_time_and_source(path) == (datetime(2019, 5, 6, 7, 8, 9, tzinfo=UTC), "tag")


def test_tiff_datetime_comes_before_the_name(tmp_path):
    path = write_tif(tmp_path / S2_NAME, TIFFTAG_DATETIME="2018:01:02 03:04:05")
    assert acquisition_time_and_source(path) == (datetime(2018, 1, 2, 3, 4, 5, tzinfo=UTC), "tiff_datetime")


def test_name_comes_last(tmp_path):
    path = write_tif(tmp_path / S2_NAME)
    assert acquisition_time_and_source(path) == (datetime(2017, 10, 26, 11, 1, 31, tzinfo=UTC), "name")


@pytest.mark.parametrize("value", ["yesterday", "2019-13-45T00:00:00Z", "   "])
def test_malformed_acquisition_date_falls_back_to_tiff_datetime(tmp_path, value):
    path = write_tif(tmp_path / S2_NAME, **{ACQUISITION_TAG: value, "TIFFTAG_DATETIME": "2018:01:02 03:04:05"})
    assert acquisition_time(path) == datetime(2018, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize("value", ["0000:00:00 00:00:00", "2018-01-02", "soon"])
def test_malformed_tiff_datetime_falls_back_to_the_name(tmp_path, value):
    path = write_tif(tmp_path / S2_NAME, TIFFTAG_DATETIME=value)
    assert acquisition_time(path) == datetime(2017, 10, 26, 11, 1, 31, tzinfo=UTC)


def test_acquisition_date_round_trips_with_format_time(tmp_path):
    when = datetime(2016, 1, 20, 7, 3, 50, 250000, tzinfo=UTC)
    path = write_tif(tmp_path / "plain.tif", **{ACQUISITION_TAG: format_time(when)})
    assert acquisition_time(path) == when == parse_time(format_time(when))


def test_given_name_is_used_instead_of_the_file_name(tmp_path):
    path = write_tif(tmp_path / "T30TXQ_20171026T110131_B02.tif")
    assert acquisition_time(path, name="https://example.org/T31UDQ_20171107T105229_B02.tif") == datetime(
        2017, 11, 7, 10, 52, 29, tzinfo=UTC)


def test_the_file_name_dates_a_raster_whose_given_name_does_not(tmp_path):
    path = write_tif(tmp_path / S2_NAME)
    assert acquisition_time_and_source(path, name="upload 1") == (datetime(2017, 10, 26, 11, 1, 31, tzinfo=UTC), "name")


def test_tiff_datetime_can_be_passed_over(tmp_path):
    path = write_tif(tmp_path / S2_NAME, TIFFTAG_DATETIME="2018:01:02 03:04:05")
    assert acquisition_time_and_source(path, tiff_datetime=False) == (
        datetime(2017, 10, 26, 11, 1, 31, tzinfo=UTC), "name")
    assert acquisition_time(write_tif(tmp_path / "plain.tif", TIFFTAG_DATETIME="2018:01:02 03:04:05"),
                            tiff_datetime=False) is None


def test_open_dataset_is_accepted(tmp_path):
    path = write_tif(tmp_path / "plain.tif", TIFFTAG_DATETIME="2018:01:02 03:04:05")
    with rasterio.open(path) as dataset:
        assert acquisition_time(dataset) == datetime(2018, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_undated_raster_gives_none(tmp_path):
    assert acquisition_time_and_source(write_tif(tmp_path / "plain.tif")) == (None, None)


def test_unreadable_file_is_an_input_error_without_the_path(tmp_path):
    path = tmp_path / "notes.tif"
    path.write_text("not a raster")
    with pytest.raises(InputError, match="notes from the user") as raised:
        acquisition_time(path, name="notes from the user")
    assert str(tmp_path) not in str(raised.value)


# --- real data -------------------------------------------------------------------------


@pytest.mark.shared
def test_oscd_file_names_give_the_dataset_dates():
    images = shared_path("data", "oscd", "images")
    checked = 0
    for city in sorted(p for p in images.iterdir() if p.is_dir()):
        dates = dict(line.split(":") for line in (city / "dates.txt").read_text().split("\n") if ":" in line)
        for number in (1, 2):
            expected = datetime.strptime(dates[f"date_{number}"].strip(), "%Y%m%d").date()
            for path in (city / f"imgs_{number}").glob("*_B02.tif"):
                assert acquisition_time(path).date() == expected, (city.name, path.name)
                checked += 1
    assert checked >= 20
