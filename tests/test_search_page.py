"""The search page at /search/ in a real browser (headless Chromium through Selenium) against a
live server whose results store holds a windthrow near Toruń: the page loads without script
errors, a phrase and the filters find the right parcels for the map and the table, errors name
the field at fault, and the CSV export holds what the table shows."""

import csv
import io
import struct
import zlib
from pathlib import Path

import pytest
import requests
import shapely

from candela.results.records import Observation, Product, Run
from candela.results.store import ResultsStore
from helpers.live import LiveServer

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
pytestmark = [pytest.mark.live, pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="needs Debian's chromium and chromium-driver (.ci/browser installs them)")]

OPTICAL = ("2017-07-30", "2017-08-20")
SAR = ("2017-08-20", "2017-09-29")
#: (parcel, class, damaged fraction, level, sources, period); F-1 is seen in both periods.
PARCELS = [
    ("F-1", "forest", 0.72, "high", ("optical",), OPTICAL),
    ("F-2", "forest", 0.45, "middle", ("optical",), OPTICAL),
    ("F-3", "forest", 0.30, "middle", ("optical",), OPTICAL),  # exactly 30 %: "more than" keeps it
    ("F-4", "forest", 0.12, "low", ("optical",), OPTICAL),
    ("M-1", "meadow", 0.55, "middle", ("optical",), OPTICAL),
    ("M-2", "meadow", 0.05, "very low", ("optical",), OPTICAL),
    ("F-1", "forest", 0.80, "high", ("sar",), SAR),
    ("F-5", "forest", 0.35, "middle", ("sar",), SAR),
    ("F-6", "forest", 0.65, "high", ("optical", "sar"), SAR),
    ("F-7", "forest", 0.20, "low", ("sar",), SAR),
    ("M-3", "meadow", 0.90, "high", ("sar",), SAR),
]
AREA_HA = 6.7
PHRASE = "forest parcels with more than 30 % damage, most damaged first, top 10"
#: What PHRASE finds: the forest observations of at least 30 %, most damaged first.
FOREST_30 = ["F-1", "F-1", "F-6", "F-2", "F-5", "F-3"]


def parcel_box(name):
    """Parcels about 200 m × 330 m, side by side east of 18.6 E, 53.0 N."""
    i = sorted({p[0] for p in PARCELS}).index(name)
    return shapely.box(18.6 + 0.004 * i, 53.0, 18.603 + 0.004 * i, 53.003)


def record_windthrow(url, outputs, base):
    """Two ParcelDamage runs (optical, then SAR), each ranked most damaged first, and a quicklook."""
    store = ResultsStore(url)
    for job, period in (("windthrow-optical", OPTICAL), ("windthrow-sar", SAR)):
        seen = sorted((p for p in PARCELS if p[5] == period), key=lambda p: -p[2])
        observations = [Observation(
            parcel, parcel_box(parcel), "ranked", attributes={"parcel_id": parcel}, classes=(kind,), sources=sources,
            period_start=period[0], period_end=period[1], area_ha=AREA_HA, kept_ha=AREA_HA,
            damaged_ha=round(fraction * AREA_HA, 3), damaged_fraction=fraction, score=fraction, rank=rank,
            level=level) for rank, (parcel, kind, fraction, level, sources, _) in enumerate(seen, 1)]
        store.record(Run("ParcelDamage", "1.0.0", job_id=job, period_start=period[0], period_end=period[1]),
                     observations=observations)
    # A quicklook the server itself serves under /outputs/ (the page must fetch nothing outside).
    (outputs / "look").mkdir(parents=True)
    (outputs / "look" / "quicklook.png").write_bytes(png())
    store.record(Run("ChangeDetect", "1.0.0", job_id="look"), products=[Product(
        "quicklook", "quicklook <b>optical</b>", href=f"{base}/outputs/look/quicklook.png", media_type="image/png",
        footprint=shapely.box(18.59, 52.99, 18.64, 53.01), period_start=OPTICAL[0], period_end=OPTICAL[1])])


def png(width=4, height=4, rgb=(200, 0, 0)):
    """A small one-colour PNG, written by hand (a GDAL PNG would warn that it has no georeference)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\0" + bytes(rgb) * width for _ in range(height))  # filter byte 0, then the pixels
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("search-page")
    live = LiveServer(root)
    record_windthrow(f"sqlite:///{root / 'results.gpkg'}", live.outputs, live.base)
    with live:
        yield live


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    # The network is closed: these keep Chromium from trying to reach anything outside.
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     f"--user-data-dir={tmp_path_factory.mktemp('chromium')}", "--window-size=1280,1000"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def searches(driver):
    """How many searches the page has finished (it counts them on the table)."""
    return int(driver.find_element("id", "results").get_attribute("data-searches"))


def wait_for_searches(driver, count):
    """Wait until the page has finished ``count`` searches; fail with what the page and the
    browser said if it does not."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        WebDriverWait(driver, 15).until(lambda d: searches(d) >= count)
    except TimeoutException:
        raise AssertionError(f"no search ended; the page says {text(driver, 'error')!r}, the browser "
                             f"{[entry['message'] for entry in driver.get_log('browser')]}") from None


def after_search(driver, action):
    """Do ``action`` (a click, a key), then wait until the search it starts has ended."""
    before = searches(driver)
    action()
    wait_for_searches(driver, before + 1)


@pytest.fixture
def page(server, browser):
    """The page freshly loaded, its opening search done."""
    browser.get(f"{server.base}/search/")
    wait_for_searches(browser, 1)
    return browser


def severe(driver):
    """The browser's errors since last asked, but the failed loads a 400 answer makes: those
    are the API refusing a query, which the page shows."""
    return [entry["message"] for entry in driver.get_log("browser")
            if entry["level"] == "SEVERE" and "status of 400" not in entry["message"]]


def rows(driver):
    return [[cell.text for cell in row.find_elements("tag name", "td")]
            for row in driver.find_elements("css selector", "#results tbody tr")]


def text(driver, element_id):
    return driver.find_element("id", element_id).text


def ask(driver, phrase, key=None):
    from selenium.webdriver.common.keys import Keys

    box = driver.find_element("id", "phrase")
    box.clear()
    box.send_keys(phrase)
    after_search(driver, (lambda: box.send_keys(Keys.ENTER)) if key == "enter"
                 else driver.find_element("id", "ask").click)


def test_the_page_loads_leaflet_the_stored_classes_and_the_best_ranked_parcels(page):
    assert severe(page) == []
    assert "leaflet-container" in page.find_element("id", "map").get_attribute("class")
    classes = page.find_elements("css selector", "#classes option")
    assert [option.get_attribute("value") for option in classes] == ["forest", "meadow"]
    assert [box.get_attribute("value") for box in page.find_elements("css selector", "#levels input")] == [
        "very low", "low", "middle", "high"]
    # Opening, it shows every parcel in rank order: the two runs' rank 1 first.
    assert len(rows(page)) == len(PARCELS)
    assert [row[0] for row in rows(page)[:2]] == ["F-1", "M-3"]
    assert text(page, "understood") == "parcels"
    # The quicklook is offered as an overlay, off until asked for, its name shown as text.
    label = page.find_element("css selector", ".leaflet-control-layers-overlays label")
    assert label.text == "quicklook <b>optical</b> (2017-07-30 – 2017-08-20)"
    overlay = label.find_element("tag name", "input")
    assert not overlay.is_selected()
    assert page.find_elements("css selector", ".leaflet-overlay-pane img") == []
    overlay.click()
    image = page.find_element("css selector", ".leaflet-overlay-pane img")
    assert image.get_attribute("src") == page.current_url.replace("/search/", "/outputs/look/quicklook.png")
    assert severe(page) == []


def test_the_address_without_its_slash_opens_the_working_page(server, browser):
    browser.get(f"{server.base}/search")
    assert browser.current_url == f"{server.base}/search/"
    wait_for_searches(browser, 1)
    assert len(rows(browser)) == len(PARCELS) and severe(browser) == []


def test_a_phrase_finds_the_forest_parcels_most_damaged_first_on_the_map_and_in_the_table(page):
    ask(page, PHRASE)
    found = rows(page)
    assert [row[0] for row in found] == FOREST_30
    damaged = [float(row[2]) for row in found]
    assert damaged == sorted(damaged, reverse=True) and min(damaged) == 30.0
    assert {row[5] for row in found} == {"forest"}
    assert text(page, "understood") == "forest parcels with at least 30 % damage, most damaged first, top 10"
    assert text(page, "count") == "6 parcels"
    assert len(page.find_elements("css selector", ".leaflet-overlay-pane path")) == len(found)
    # The map fits the parcels found: all in view, and not much else.
    west, south, east, north = map(float, page.execute_script("return map.getBounds().toBBoxString()").split(","))
    assert west <= 18.6 and east >= 18.603 + 0.004 * 5 and south <= 53.0 and north >= 53.003
    assert east - west < 0.2
    # A row shows its parcel: selected in the table, outlined and its popup open on the map.
    page.find_elements("css selector", "#results tbody tr")[3].click()
    assert "selected" in page.find_elements("css selector", "#results tbody tr")[3].get_attribute("class")
    popup = page.find_element("css selector", ".leaflet-popup-content").text
    assert "F-2" in popup and "45.0 %" in popup and "middle" in popup and "windthrow-optical" in popup
    assert severe(page) == []


def test_the_filters_find_high_damage_seen_by_sar_and_send_no_phrase(page):
    from selenium.webdriver.support.ui import Select

    # A phrase left in its box must not go with the filters (the API refuses both at once).
    page.find_element("id", "phrase").send_keys(PHRASE)
    page.find_element("id", "level-high").click()
    Select(page.find_element("id", "source")).select_by_value("sar")
    after_search(page, page.find_element("id", "search").click)
    found = rows(page)
    assert sorted(row[0] for row in found) == ["F-1", "F-6", "M-3"]
    assert all(row[1] == "high" and "sar" in row[6] for row in found)
    assert text(page, "understood") == "high damage parcels seen by sar"
    assert not page.find_element("id", "error").is_displayed()
    assert severe(page) == []


def test_the_filters_send_classes_and_a_percentage(page):
    from selenium.webdriver.support.ui import Select

    Select(page.find_element("id", "classes")).select_by_value("forest")
    page.find_element("id", "min_fraction").send_keys("60")
    after_search(page, page.find_element("id", "search").click)
    assert text(page, "understood") == "forest parcels with at least 60 % damage"
    assert sorted((row[0], row[2]) for row in rows(page)) == [("F-1", "72.0"), ("F-1", "80.0"), ("F-6", "65.0")]


def test_the_map_view_becomes_the_area_of_interest(page):
    page.find_element("id", "use-view").click()
    aoi = page.find_element("id", "aoi").get_attribute("value")
    west, south, east, north = map(float, aoi.split(","))
    assert west < 18.6 < 18.63 < east and south < 53.0 < 53.003 < north  # the opening view fits all parcels
    after_search(page, page.find_element("id", "search").click)
    assert len(rows(page)) == len(PARCELS)
    understood = text(page, "understood")
    assert understood.startswith("parcels within ")
    assert [float(v) for v in understood.split()[-1].split(",")] == [west, south, east, north]


def test_a_bad_phrase_is_refused_naming_the_word_and_the_box(page):
    ask(page, "forest blah", key="enter")
    error = page.find_element("id", "error")
    assert error.is_displayed() and error.get_attribute("role") == "alert"
    assert error.text.startswith("phrase: unknown word 'blah'")
    assert page.find_element("id", "phrase").get_attribute("aria-invalid") == "true"
    assert rows(page) == [] and text(page, "understood") == ""
    assert not page.find_element("id", "export-csv").is_displayed()
    assert severe(page) == []


def test_a_bad_limit_is_refused_naming_it_and_a_good_one_clears_the_error(page):
    limit = page.find_element("id", "limit")
    limit.send_keys("0")
    after_search(page, page.find_element("id", "search").click)
    assert text(page, "error").startswith("limit: must be a whole number from 1 to 10000")
    assert limit.get_attribute("aria-invalid") == "true"
    limit.clear()
    limit.send_keys("3")
    after_search(page, page.find_element("id", "search").click)
    assert not page.find_element("id", "error").is_displayed() and limit.get_attribute("aria-invalid") is None
    assert len(rows(page)) == 3
    assert severe(page) == []


def test_the_exports_carry_the_query_and_the_csv_holds_the_table(page):
    ask(page, PHRASE)
    hrefs = {kind: page.find_element("id", f"export-{kind}").get_attribute("href") for kind in ("geojson", "zip", "csv")}
    queries = {href.split("?", 1)[1] for href in hrefs.values()}
    assert len(queries) == 1 and queries.pop().startswith("phrase=forest")
    response = requests.get(hrefs["csv"], timeout=30)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/csv")
    table = rows(page)
    exported = list(csv.DictReader(io.StringIO(response.text)))
    assert [row["parcel"] for row in exported] == [row[0] for row in table] == FOREST_30
    assert [f"{float(row['damaged_fraction']) * 100:.1f}" for row in exported] == [row[2] for row in table]
    assert requests.get(hrefs["zip"], timeout=30).content[:2] == b"PK"
