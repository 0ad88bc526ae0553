"""Test-only operations that misbehave on purpose: they sleep, die, spin or hang.

Workers find them by module path (``helpers.processes:SLEEPER``), like any operation.
"""

import json
import os
import signal
import threading
import time

from lxml import etree

from processes.declaration import FileInput, LiteralInput, Operation, Output, VectorInput, raster_output


def sleep(job):
    """Sleeps ``seconds``, reporting progress, then answers how long it slept."""
    sizes = [path.stat().st_size for _, path in job.files("image")]
    seconds = job.literal("seconds")
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        job.progress((time.monotonic() - started) / seconds, "Sleeping")
        time.sleep(min(0.2, seconds))
    job.output_json("result", {"slept": seconds, "sizes": sizes, "pid": os.getpid()})


SLEEPER = Operation(
    "Sleeper", "Sleeps", "Sleeps for a while.", "1.0.0",
    inputs=(LiteralInput("seconds", "Seconds", "How long", type="float", default=1.0),
            FileInput("image", "Image", "An optional raster, only checked to exist.", required=False)),
    outputs=(Output("result", "Result", "Slept seconds and the sizes of the images given"),),
    run=sleep,
)


def misbehave(job):
    """``how``: kill (SIGKILL itself), spin (burn CPU), hang (sleep for ever, heartbeat going),
    or freeze (sleep for ever with its heartbeat stopped, as a process stuck in a C call)."""
    how = job.literal("how")
    job.progress(0.1, f"About to {how}")
    if how == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif how == "spin":
        while True:
            pass
    elif how == "freeze":
        for thread in threading.enumerate():
            if thread.name == "candela-heartbeat":
                thread.done.set()  # no more beats from now on
    time.sleep(3600)


MISBEHAVER = Operation(
    "Misbehaver", "Misbehaves", "Dies, spins or hangs.", "1.0.0",
    inputs=(LiteralInput("how", "How", "kill, spin, hang or freeze", default="kill"),),
    outputs=(Output("result", "Result", "Never produced"),),
    run=misbehave,
)


def escape(job):
    """Writes its output outside its own folders and tries to publish it."""
    path = job.workdir.parents[2] / job.literal("name")  # the work root all jobs share
    path.write_bytes(b"II*\0")
    job.output_file("image", path)


ESCAPER = Operation(
    "Escaper", "Escapes", "Publishes a file from elsewhere.", "1.0.0",
    inputs=(LiteralInput("name", "Name", "File name", default="escaped.tif"),),
    outputs=(raster_output("image", "Image", "Never published"),),
    run=escape,
)


def count_features(job):
    """Counts the features of a vector input (GML or GeoJSON), with every kind of input a
    profile must bind: a vector, a list of rasters, a date and a literal with allowed values."""
    _, parcels = job.file("parcels")
    text = parcels.read_text()
    if text.lstrip().startswith("{"):
        features = len(json.loads(text)["features"])
    else:
        features = sum(1 for e in etree.fromstring(text.encode()).iter() if etree.QName(e).localname in
                       ("featureMember", "member"))
    images = job.files("images")
    job.output_json("result", {
        "features": features, "images": [name for name, _ in images], "since": job.literal("since_date"),
        "level": job.literal("level"), "tags": job.literals("tags"),
    })


COUNTER = Operation(
    "FeatureCounter", "Counts features", "Counts the features of a layer.", "1.0.0",
    inputs=(VectorInput("parcels", "Parcels", "Polygons."),
            FileInput("images", "Images", "Rasters, only named.", required=False, max_occurs=5),
            LiteralInput("since_date", "Since date", "A date, only echoed.", required=False),
            LiteralInput("level", "Level", "A level.", type="integer", default=1, allowed=(1, 2, 3)),
            LiteralInput("tags", "Tags", "Several words.", required=False, max_occurs=4)),
    outputs=(Output("result", "Result", "What was counted"),),
    run=count_features,
)
