"""The results store on an embedded SQLite file and on PostgreSQL + PostGIS: migrations that
match the declared schema, runs recorded whole with provenance, geometries and times kept."""

import threading

import pytest
import shapely
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from candela.results import migrate
from candela.results.records import Observation, Product, Run
from candela.results.schema import METADATA
from candela.results.store import ResultsStore, UnknownRun
from helpers.results import results_url


@pytest.fixture(params=["sqlite", "postgis"])
def url(request, tmp_path):
    return results_url(request.param, tmp_path)


def parcels(count=4, run="r"):
    return [Observation(f"{run}-{i}", shapely.box(18.60 + i * 0.01, 53.0, 18.605 + i * 0.01, 53.005), "ranked",
                        {"parcel_id": f"{run}-{i}", "name": "Leśnictwo"}, ("forest",), ("optical", "sar"),
                        "2017-07-30T09:50:31Z", "2017-09-29", 20.0, 18.0, 18.0 * i / 10, i / 10, i / 10,
                        count - i, "low", {"opt_mean": 0.1 * i}) for i in range(count)]


def test_migrations_create_the_declared_schema(url):
    store = ResultsStore(url)
    with store.engine.connect() as db:
        assert migrate.current(db) == migrate.head()
        # Only the store's tables: the database may hold the job store's and PostGIS's.
        ours = {"include_name": lambda name, kind, parent: kind != "table" or name.startswith("result_")}
        context = MigrationContext.configure(db, opts={"version_table": migrate.VERSION_TABLE, **ours})
        # The PostGIS index is the migration's own (SQLite has none): not declared in the schema.
        differences = [d for d in compare_metadata(context, METADATA)
                       if not (d[0] == "remove_index" and d[1].name == "ix_result_observations_geometry")]
        assert differences == []


def test_opening_twice_migrates_once_and_keeps_data(url):
    store = ResultsStore(url)
    store.record(Run("ParcelDamage", "1.0.0"), observations=parcels(2))
    again = ResultsStore(url)
    assert len(again.observations()) == 2


def test_a_newer_schema_is_refused(url):
    store = ResultsStore(url)
    with store.engine.begin() as db:
        db.execute(sa.text(f"UPDATE {migrate.VERSION_TABLE} SET version_num = '9999'"))
    with pytest.raises(migrate.StoreError, match="9999.*upgrade the server"):
        ResultsStore(url)


def test_a_run_is_recorded_with_its_provenance(url):
    store = ResultsStore(url)
    footprint = shapely.box(18.5, 52.9, 18.8, 53.1)
    run = Run("ParcelDamage", "1.0.0", job_id="job-1", parameters={"threshold": 0.5},
              inputs={"parcels": "http://example.org/parcels.geojson"}, summary={"parcels": 4},
              period_start="2017-07-30", period_end="2017-09-29T10:00:00+02:00")
    store.record(run, [Product("change_map", "optical_change", "http://example.org/a.tif", "image/tiff", "optical",
                               footprint, "2017-07-30", "2017-09-29")], parcels())
    stored = store.run(run.run_id)
    assert (stored["process"], stored["version"], stored["job_id"]) == ("ParcelDamage", "1.0.0", "job-1")
    assert stored["parameters"] == {"threshold": 0.5} and stored["summary"] == {"parcels": 4}
    assert stored["inputs"] == {"parcels": "http://example.org/parcels.geojson"}
    assert (stored["period_start"], stored["period_end"]) == ("2017-07-30T00:00:00Z", "2017-09-29T08:00:00Z")
    [product] = stored["products"]
    assert product["footprint"].equals(footprint) and product["source"] == "optical"
    observations = store.observations()
    assert [o["parcel"] for o in observations] == ["r-0", "r-1", "r-2", "r-3"]
    first = observations[1]
    assert first["geometry"].equals_exact(parcels()[1].geometry, 0)
    assert first["attributes"] == {"parcel_id": "r-1", "name": "Leśnictwo"}
    assert (first["classes"], first["sources"]) == (["forest"], ["optical", "sar"])
    assert first["period_start"] == "2017-07-30T09:50:31Z" and first["rank"] == 3
    assert first["job_id"] == "job-1" and first["run_id"] == run.run_id
    with pytest.raises(UnknownRun):
        store.run("no-such-run")


def test_the_same_parcel_keeps_its_key_across_runs(url):
    store = ResultsStore(url)
    store.record(Run("ParcelDamage", "1.0.0"), observations=parcels(2, "a"))
    store.record(Run("ParcelDamage", "1.0.0"), observations=parcels(2, "b"))
    keys = [o["parcel_key"] for o in store.observations()]
    assert keys[0] == keys[2] and keys[1] == keys[3] and keys[0] != keys[1]


def test_a_failed_record_leaves_nothing(url):
    store = ResultsStore(url)
    broken = parcels(2)
    broken[1].status = None  # NOT NULL: the second insert fails
    with pytest.raises(sa.exc.IntegrityError):
        store.record(Run("ParcelDamage", "1.0.0"), observations=broken)
    assert store.run_ids() == [] and store.observations() == []


def test_concurrent_runs_are_all_recorded(url):
    store = ResultsStore(url)
    errors = []

    def record(n):
        try:
            store.record(Run("ParcelDamage", "1.0.0", job_id=f"j{n}"), observations=parcels(3, f"t{n}"))
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=record, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(store.run_ids()) == 6 and len(store.observations()) == 18


def test_the_embedded_store_is_a_geopackage_gis_software_opens(tmp_path):
    import sqlite3
    import warnings

    import geopandas as gpd
    import pyogrio

    path = tmp_path / "results.gpkg"
    store = ResultsStore(f"sqlite:///{path}")
    footprint = shapely.box(18.5, 52.9, 18.8, 53.1)
    store.record(Run("ParcelDamage", "1.0.0", job_id="job-1"),
                 [Product("change_map", "optical_change", "http://example.org/a.tif", "image/tiff", "optical",
                          footprint, "2017-07-30T09:50:31Z", "2017-09-29")], parcels())
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA application_id").fetchone() == (0x47504B47,)  # 'GPKG'
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # GDAL warns of anything not as the standard says
        layers = dict(pyogrio.list_layers(path))
        observations = gpd.read_file(path, layer="result_observations")
        products = gpd.read_file(path, layer="result_products")
    assert layers["result_observations"] == "Unknown" and layers["result_products"] == "Unknown"  # geometry layers
    assert observations.crs.to_epsg() == 4326 and len(observations) == 4
    assert observations.geometry.iloc[1].equals_exact(parcels()[1].geometry, 0)
    assert observations["level"].tolist() == ["low"] * 4 and "Leśnictwo" in observations["attributes"].iloc[0]
    assert str(observations["period_start"].iloc[0]) == "2017-07-30 09:50:31+00:00"
    assert products.geometry.iloc[0].equals(footprint)
