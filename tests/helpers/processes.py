"""Test-only processes that misbehave on purpose: they sleep, die, spin or hang.

Workers import them by module path (``helpers.processes:Sleeper``), like any process.
"""

import os
import signal
import threading
import time

from processes.base import CandelaProcess
from processes.wpsio import json_output, literal, raster_input, raster_output


class Sleeper(CandelaProcess):
    """Sleeps ``seconds``, reporting progress, then answers how long it slept."""

    IDENTIFIER, TITLE, ABSTRACT, VERSION = "Sleeper", "Sleeps", "Sleeps for a while.", "1.0.0"

    def inputs_(self):
        return [literal("seconds", "Seconds", "How long", data_type="float", default=1.0),
                *raster_input("image", "Image", "An optional raster, only checked to exist.")]

    def outputs_(self):
        return [json_output("result", "Result", "Slept seconds and the sizes of the images given")]

    def run(self, job):
        sizes = [path.stat().st_size for _, path in job.files("image")]
        seconds = float(job.literal("seconds") or 1.0)
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            job.progress((time.monotonic() - started) / seconds, "Sleeping")
            time.sleep(min(0.2, seconds))
        job.output_json("result", {"slept": seconds, "sizes": sizes, "pid": os.getpid()})


class Misbehaver(CandelaProcess):
    """``how``: kill (SIGKILL itself), spin (burn CPU), hang (sleep for ever, heartbeat going),
    or freeze (sleep for ever with its heartbeat stopped, as a process stuck in a C call)."""

    IDENTIFIER, TITLE, ABSTRACT, VERSION = "Misbehaver", "Misbehaves", "Dies, spins or hangs.", "1.0.0"

    def inputs_(self):
        return [literal("how", "How", "kill, spin, hang or freeze", default="kill")]

    def outputs_(self):
        return [json_output("result", "Result", "Never produced")]

    def run(self, job):
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


class Escaper(CandelaProcess):
    """Writes its output outside its own folders and tries to publish it."""

    IDENTIFIER, TITLE, ABSTRACT, VERSION = "Escaper", "Escapes", "Publishes a file from elsewhere.", "1.0.0"

    def inputs_(self):
        return [literal("name", "Name", "File name", default="escaped.tif")]

    def outputs_(self):
        return [raster_output("image", "Image", "Never published")]

    def run(self, job):
        path = job.workdir.parent.parent / job.literal("name")  # the work root all jobs share
        path.write_bytes(b"II*\0")
        job.output_file("image", path)
