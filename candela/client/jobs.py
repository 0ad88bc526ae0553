"""Jobs on the server, followed from Python, and the outputs they give."""

import json
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

from .errors import ServerError, raise_for

FINAL = ("successful", "failed", "dismissed")
RASTERS = ("image/tiff", "image/tiff; subtype=geotiff")


class Job:
    """An asynchronous job: its ``id``, :meth:`status`, :meth:`result` (waits, with a progress
    bar) and :meth:`cancel`."""

    def __init__(self, session, url, process_id):
        self.session, self.url, self.process_id = session, url, process_id
        self.id = url.rstrip("/").rsplit("/", 1)[1]

    def __repr__(self):
        return f"<Job {self.id} of {self.process_id}>"

    def status(self):
        """The job's status document: ``status``, ``progress`` (0-100), ``message``."""
        response = self.session.get(self.url, timeout=30)
        raise_for(response)
        return response.json()

    def wait(self, poll=1.0, progress=True, timeout=None):
        """Wait for the job's end; return its final status. A progress bar shows its
        percentage where tqdm is installed (in a notebook, its widget)."""
        bar = _bar(self, progress)
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while True:
                status = self.status()
                if bar is not None:
                    bar.n = int(status.get("progress") or 0)
                    bar.set_postfix_str(status.get("message", "")[:60], refresh=True)
                if status["status"] in FINAL:
                    return status
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(f"job {self.id} still {status['status']} after {timeout} s")
                time.sleep(poll)
        finally:
            if bar is not None:
                bar.close()

    def result(self, **wait):
        """Wait for the job's end; its outputs ``{name: Output}``, or the ServerError of its failure."""
        status = self.wait(**wait)
        if status["status"] != "successful":
            raise ServerError("JobFailed" if status["status"] == "failed" else "JobDismissed",
                              status.get("message", ""))
        response = self.session.get(f"{self.url}/results", timeout=60)
        raise_for(response)
        return {name: Output(self.session, name, value) for name, value in response.json().items()}

    def cancel(self):
        """Dismiss the job (a queued or running one stops)."""
        raise_for(self.session.delete(self.url, timeout=30))


class Output:
    """One output: a link (``href``) to download, or a ``value`` the server sent."""

    def __init__(self, session, name, answer):
        self.session, self.name = session, name
        self.href = answer.get("href")
        self.value = answer.get("value")
        self.media_type = answer.get("type") or answer.get("mediaType")
        self.path = None

    def __repr__(self):
        return f"<Output {self.name}: {self.href or type(self.value).__name__} ({self.media_type})>"

    def download(self, folder="."):
        """The output as a file in ``folder``, named as on the server; streamed, and resumed
        from a partial download (``<name>.part``) when the server allows."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        if self.href is None:
            target = folder / f"{self.name}.json"
            target.write_text(json.dumps(self.value, indent=2) if not isinstance(self.value, str) else self.value)
            self.path = target
            return target
        target = folder / (Path(unquote(urlsplit(self.href).path)).name or self.name)
        partial = target.with_name(target.name + ".part")
        done = partial.stat().st_size if partial.exists() else 0
        headers = {"Range": f"bytes={done}-"} if done else {}
        with self.session.get(self.href, headers=headers, stream=True, timeout=60) as response:
            raise_for(response)
            mode = "ab" if done and response.status_code == 206 else "wb"
            with open(partial, mode) as out:
                for chunk in response.iter_content(1 << 20):
                    out.write(chunk)
        partial.replace(target)
        self.path = target
        return target

    def open(self, folder="."):
        """The output opened: a raster with rasterio, JSON as Python data, a PNG shown in a
        notebook (IPython's Image), anything else as its downloaded path."""
        if self.href is None:
            return self.value
        path = self.path or self.download(folder)
        if self.media_type in RASTERS:
            import rasterio

            return rasterio.open(path)
        if self.media_type == "application/json":
            return json.loads(path.read_text())
        if self.media_type == "image/png":
            try:
                from IPython.display import Image
            except ImportError:
                return path
            return Image(filename=str(path))
        return path


def _bar(job, progress):
    if not progress:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=100, desc=f"{job.process_id} {job.id[:8]}", unit="%")
