"""What finished jobs leave in the results store: the server's side of :mod:`candela.results`.

A run function asks for its run to be recorded (:meth:`processes.job.Job.record`): the products
it made (by output identifier), per-parcel observations, its period and summary. The worker
records it once the job's outputs are published (:func:`record_job`), when their addresses are
known, with the job's provenance: process, version, job id, the literal parameters and where
each file input came from. The store is ``[candela] results``: an embedded GeoPackage by
default, PostgreSQL + PostGIS with a database URL.
"""

import logging
from dataclasses import dataclass, field
from functools import lru_cache

from candela.results.records import Run, utc
from candela.results.store import ResultsStore
from pywps import configuration

LOGGER = logging.getLogger("PYWPS")


@dataclass
class Recording:
    """What one job asks to be recorded: products by output identifier, observations, and the rest."""

    products: dict = field(default_factory=dict)  # output identifier -> Product (href filled in later)
    observations: list = field(default_factory=list)
    period: tuple = (None, None)
    summary: dict = field(default_factory=dict)


def results_url():
    """The configured results database."""
    return configuration.get_config_value("candela", "results")


def results_store():
    """The configured results store (one engine per database, per process)."""
    return _store(results_url())


@lru_cache(maxsize=None)
def _store(url):
    return ResultsStore(url)


def provenance(job):
    """``(parameters, inputs)`` of a job: its literal values, and what each file input was sent as."""
    parameters, inputs = {}, {}
    for inpt in job.operation.inputs:
        values = job.values.get(inpt.identifier, ())
        if not values:
            continue
        if hasattr(values[0], "sent_as"):
            inputs[inpt.identifier] = [source.name for source in values]
        else:
            literals = job.literals(inpt.identifier)
            parameters[inpt.identifier] = literals[0] if len(literals) == 1 else literals
    return parameters, inputs


def images_period(files):
    """``(first, last)`` acquisition times of ``(name, path)`` images (Nones when none is dated)."""
    from candela.rasters.dating import acquisition_time

    times = [t for name, path in files if (t := acquisition_time(path, name=name)) is not None]
    return (min(times), max(times)) if times else (None, None)


def raster_products(job, outputs, period=(None, None), source=None):
    """``(identifier, Product)`` pairs for a job's published raster outputs ``{identifier: kind}``,
    each with its footprint and ``period`` unless its tags date it."""
    from candela.results.products import raster_product

    products = []
    for identifier, kind in outputs.items():
        product = raster_product(job.results[identifier], kind, identifier, source=source)
        if product.period_start is None and product.period_end is None:
            product.period_start, product.period_end = map(utc, period)
        products.append((identifier, product))
    return products


def record_change_map(job, source, summary):
    """Ask for a change map and its quicklook (same footprint and period) to be recorded."""
    from dataclasses import replace

    [(identifier, product)] = raster_products(job, {"change_map": "change_map"}, source=source)
    quicklook = replace(product, kind="quicklook", name="quicklook", media_type="image/png", properties={})
    job.record([(identifier, product), ("quicklook", quicklook)],
               period=(product.period_start, product.period_end), summary=summary)


def record_job(recording, operation, job_id, parameters, inputs, outputs):
    """Record a finished job's :class:`Recording`; ``outputs`` are its published outputs
    (``{identifier: {"href": ...}}``). Returns the run's id."""
    products = []
    for identifier, product in recording.products.items():
        product.href = outputs.get(identifier, {}).get("href")
        if product.href is not None or product.kind != "quicklook":  # a quicklook is only worth its address
            products.append(product)
    run = Run(operation.identifier, operation.version, job_id=job_id, parameters=parameters, inputs=inputs,
              summary=recording.summary, period_start=recording.period[0], period_end=recording.period[1])
    return results_store().record(run, products, recording.observations)
