"""Load: 200 requests from 20 concurrent clients, WPS and OGC API, on the dev server and on gunicorn.

A mix, in equal parts, of WPS DescribeProcess, synchronous ExtractInfo and Jpeg2Tiff over WPS,
asynchronous Jpeg2Tiff over WPS, and synchronous and asynchronous Jpeg2Tiff over OGC API -
Processes, against a server with the shipped job settings (2 parallel jobs, a queue of 20).
With ``--kills``, job workers are SIGKILLed mid-run, and so is the server (dev server: killed and
restarted; gunicorn: one of its workers). Every response is validated as it comes (WPS against
the WPS 1.0.0 XSD, OGC API against the standard's JSON schemas, both from ../shared/ogc-schemas;
without them only parsed), and so is every status document an asynchronous client polls.
Checked afterwards from the job store and the status documents on disk: no accepted job is
lost or left unfinished, every job's WPS status document is final and valid, no answer was a
server error, and every ServerBusy came while the queue was full. Latency percentiles per kind
of request. Run by hand:

    .venv/bin/python benchmarks/bench_load.py [--server dev|gunicorn|both] [--kills] [--no-docs]
"""

import argparse
import os
import random
import re
import signal
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timezone
from pathlib import Path

import requests
from lxml import etree

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

from bench_jpeg2tiff import environment, write_docs  # noqa: E402
from candela.jobs import FINAL  # noqa: E402
from candela.datasets.synthetic_s2 import write_product  # noqa: E402
from helpers import jsonschemas, schemas  # noqa: E402
from helpers.live import LiveServer, gunicorn, serve  # noqa: E402
from helpers.wps import NS, execute_xml  # noqa: E402

REQUESTS, CLIENTS, QUEUE = 200, 20, 20
KINDS = ("wps-describe", "wps-extractinfo-sync", "wps-jpeg2tiff-sync", "wps-jpeg2tiff-async",
         "ogcapi-jpeg2tiff-sync", "ogcapi-jpeg2tiff-async")
BANDS, RESOLUTION = "B02,B03", 60


class Invalid(Exception):
    """A response that is not what the protocol says (schema-invalid, a server error)."""


def wps_document(content):
    """The parsed WPS document, validated (WPS 1.0.0 or an OWS exception report)."""
    try:
        return schemas.assert_valid(content)
    except (AssertionError, etree.XMLSyntaxError) as error:
        raise Invalid(f"WPS: {error}"[:300]) from None


def ogc_document(response, schema):
    """The JSON of an OGC API response, validated against ``schema``."""
    try:
        return jsonschemas.assert_valid(response.json(), schema)
    except (AssertionError, ValueError) as error:
        raise Invalid(f"OGC API {schema}: {error}"[:300]) from None


def send(server, kind, product):
    """Send the request of ``kind``; return the response, retrying while the server restarts."""
    deadline = time.monotonic() + 60
    while True:
        try:
            if kind == "wps-describe":
                return requests.get(f"{server.wps}?service=WPS&version=1.0.0&request=DescribeProcess"
                                    "&identifier=all", timeout=600)
            if kind == "wps-extractinfo-sync":
                return server.post(execute_xml("ExtractInfo", [("images_ref", product.name)],
                                               outputs=[("pairs", False)]), timeout=600)
            if kind.startswith("wps-"):
                inputs = [("product_ref", product.name), ("bands", BANDS), ("resolution", str(RESOLUTION))]
                return server.post(execute_xml("Jpeg2Tiff", inputs, outputs=[("image", True)],
                                               status=kind.endswith("async")), timeout=600)
            body = {"inputs": {"product": {"href": product.as_uri()}, "bands": BANDS, "resolution": RESOLUTION},
                    "outputs": {"image": {"transmissionMode": "reference"}}}
            return requests.post(f"{server.base}/ogcapi/processes/Jpeg2Tiff/execution", json=body, timeout=600,
                                 headers={"Prefer": "respond-async"} if kind.endswith("async") else {})
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def request(server, kind, product):
    """Send one request; return (outcome, job id or None, seconds)."""
    started = time.monotonic()
    try:
        response = send(server, kind, product)
    except requests.ConnectionError:
        return "unreachable", None, time.monotonic() - started
    try:  # a document lacking what the protocol says it has is invalid too
        if response.status_code >= 500 and response.status_code != 503:
            raise Invalid(f"HTTP {response.status_code}: {response.text[:200]}")
        if kind.startswith("ogcapi-"):
            outcome, job_id = _ogcapi_answer(response, kind)
        else:
            outcome, job_id = _wps_answer(response, kind)
    except (Invalid, KeyError, TypeError) as error:
        print(f"invalid answer to {kind}: {error!r}", flush=True)
        return "invalid", None, time.monotonic() - started
    return outcome, job_id, time.monotonic() - started


def _busy(text):
    """'busy' when a ServerBusy came while the queue was full, else 'busy-early'."""
    waiting = int(re.search(r"(\d+) jobs are waiting", text).group(1))
    return "busy" if waiting >= QUEUE else "busy-early"


def _wps_answer(response, kind):
    doc = wps_document(response.content)
    busy = doc.xpath("//ows:Exception[@exceptionCode='ServerBusy']//ows:ExceptionText/text()", namespaces=NS)
    if busy:
        return _busy(busy[0]), None
    location = doc.get("statusLocation")
    if location:  # a client like OWSLib's monitorExecution: poll until the end
        return f"async-{poll_wps(location)}", location.rsplit("/", 1)[1][:-4]
    if kind == "wps-describe":
        return ("ok" if response.ok else "error"), None
    failed = doc.xpath("//wps:ProcessFailed", namespaces=NS)
    return ("failed" if failed else "ok" if doc.xpath("//wps:ProcessSucceeded", namespaces=NS) else "error"), None


def _ogcapi_answer(response, kind):
    if response.status_code == 503:
        return _busy(ogc_document(response, "exception")["description"]), None
    if kind.endswith("async"):
        if response.status_code != 201:
            raise Invalid(f"async execute answered {response.status_code}: {response.text[:200]}")
        job_id = ogc_document(response, "statusInfo")["jobID"]
        return f"async-{poll_ogcapi(response.headers['Location'])}", job_id
    if response.status_code != 200:
        return "failed", None
    ogc_document(response, "results")
    return "ok", None


def poll_wps(location):
    """Poll a WPS status document, validating each, until it is final: 'succeeded', 'failed' or 'lost'."""
    def final(response):
        doc = wps_document(response.content)
        if doc.xpath("//wps:ProcessSucceeded", namespaces=NS):
            return "succeeded"
        return "failed" if doc.xpath("//wps:ProcessFailed", namespaces=NS) else None

    return poll(location, final)


def poll_ogcapi(location):
    """Poll an OGC API job, validating each statusInfo (and the results), until it is final."""
    def final(response):
        status = ogc_document(response, "statusInfo")["status"]
        if status == "successful":
            ogc_document(requests.get(f"{location}/results", timeout=30), "results")
            return "succeeded"
        return "failed" if status in ("failed", "dismissed") else None

    return poll(location, final)


def poll(location, final, every=0.5, timeout=900):
    """GET ``location`` every ``every`` seconds until ``final(response)`` says how the job
    ended (it answers None while it runs); 'lost' after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(every)
        try:
            response = requests.get(location, timeout=30)
        except requests.ConnectionError:
            continue  # the server is restarting
        if response.status_code != 200:
            raise Invalid(f"{location}: HTTP {response.status_code}")
        ended = final(response)
        if ended:
            return ended
    return "lost"


def patient_request(server, kind, product, busy):
    """A client that, told ServerBusy, waits a second and asks again (each refusal counted)."""
    while True:
        outcome, job_id, seconds = request(server, kind, product)
        if not outcome.startswith("busy"):
            return outcome, job_id, seconds
        busy.append(outcome)
        time.sleep(1)


def killer(server, kind, stop, log):
    """SIGKILL three running job workers, and the server (dev) or one gunicorn worker."""
    time.sleep(3)
    for round_ in range(4):
        if stop.wait(2):
            return
        running = [j for j in server.store.jobs(status="running") if j["pid"]]
        if round_ == 2:
            if kind == "dev":
                server.kill()
                log.append("server SIGKILLed and restarted")
                server.start()
            elif running:
                os.kill(running[0]["supervisor"], signal.SIGKILL)
                log.append("a gunicorn worker SIGKILLed")
        elif running:
            job = random.choice(running)
            try:
                os.killpg(job["pid"], signal.SIGKILL)
                log.append(f"worker of job {job['job_id'][:8]} SIGKILLed")
            except ProcessLookupError:
                pass


def percentiles(values):
    values = sorted(values)
    if not values:
        return "", "", "", ""
    pick = lambda q: values[min(len(values) - 1, int(q * len(values)))]  # noqa: E731
    return tuple(f"{v:.2f}" for v in (pick(0.5), pick(0.9), pick(0.99), values[-1]))


def run(kind, kills):
    root = Path(tempfile.mkdtemp(prefix=f"load-{kind}-"))
    (root / "data").mkdir()
    product = write_product(root / "data", level="L2A", size_10m=240, zipped=True,
                            sensing_time=datetime(2022, 3, 4, 11, 0, tzinfo=timezone.utc))
    command = gunicorn if kind == "gunicorn" else serve(ROOT / "wsgi.py")
    server = LiveServer(root, command=command, data_roots=[root / "data"], maxprocesses=QUEUE).start()
    random.seed(0)
    kinds = [KINDS[n % len(KINDS)] for n in range(REQUESTS)]
    random.shuffle(kinds)
    stop, log, busy = threading.Event(), [], []
    chaos = threading.Thread(target=killer, args=(server, kind, stop, log)) if kills else None
    started = time.monotonic()
    try:
        if chaos:
            chaos.start()
        with ThreadPoolExecutor(CLIENTS) as pool:
            answers = list(pool.map(lambda k: (k, *patient_request(server, k, product, busy)), kinds))
        stop.set()
        if chaos:
            chaos.join()
        sent = time.monotonic() - started
        accepted = [job for _, outcome, job, _ in answers if outcome.startswith("async")]
        deadline = time.monotonic() + 900
        while any(j["status"] not in FINAL for j in server.store.jobs()) and time.monotonic() < deadline:
            time.sleep(0.5)
        drained = time.monotonic() - started
        jobs = server.store.jobs()
        documents = [_final_document(server.outputs / f"{job_id}.xml") for job_id in accepted]
    finally:
        stop.set()
        server.stop()
    outcomes = {}
    for outcome in [outcome for _, outcome, _, _ in answers] + busy:
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return {
        "server": kind, "kills": log, "sent": sent, "drained": drained, "outcomes": outcomes,
        "jobs": len(jobs), "unfinished": sum(j["status"] not in FINAL for j in jobs),
        "job_status": {s: sum(j["status"] == s for j in jobs) for s in {j["status"] for j in jobs}},
        "lost": len(set(accepted) - {j["job_id"] for j in jobs}),
        "bad_documents": sum(not ok for ok in documents), "documents": len(documents),
        "latency": {k: percentiles([s for kk, _, _, s in answers if kk == k]) for k in KINDS},
    }


def _final_document(path):
    """Whether the WPS status document at ``path`` is valid and final."""
    try:
        doc = wps_document(Path(path).read_bytes())
    except (OSError, Invalid):
        return False
    return bool(doc.xpath("//wps:ProcessSucceeded|//wps:ProcessFailed", namespaces=NS))


def section(results):
    validated = "validated against the official schemas" if schemas.SCHEMAS.is_dir() else \
        "parsed only (no ../shared/ogc-schemas)"
    lines = [
        "## Load: 200 requests from 20 clients", "",
        f"{date.today().isoformat()}: {environment()}.", "",
        f"`benchmarks/bench_load.py`: {REQUESTS} requests from {CLIENTS} concurrent clients, a sixth each of WPS "
        "DescribeProcess (all), WPS synchronous ExtractInfo, WPS synchronous and asynchronous Jpeg2Tiff, and OGC API "
        f"synchronous and asynchronous Jpeg2Tiff (a 240 px L2A product, {BANDS} at {RESOLUTION} m), on a server with "
        f"2 parallel jobs and a queue of {QUEUE}. Every job runs in a fresh worker process. Every answer and every "
        f"status document polled is {validated} (WPS 1.0.0 XSD; OGC API statusInfo, results, exception). "
        "\"kills\": job workers SIGKILLed mid-run, and the server (dev server, then restarted) or one gunicorn "
        "worker (2 workers, gevent).", "",
        "| server | kills | requests | ServerBusy (queue full) | invalid answers | sync failed "
        "| async succeeded / failed | jobs | unfinished | lost | job status | status documents final and valid "
        "| wall (s) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for r in results:
        o = r["outcomes"]
        lines.append(
            f"| {r['server']} | {len(r['kills'])} | {REQUESTS} | {o.get('busy', 0)} (early: "
            f"{o.get('busy-early', 0)}) | {o.get('invalid', 0) + o.get('error', 0)} | {o.get('failed', 0)} | "
            f"{o.get('async-succeeded', 0)} / {o.get('async-failed', 0) + o.get('async-lost', 0)} | {r['jobs']} | "
            f"{r['unfinished']} | {r['lost']} | "
            + ", ".join(f"{k} {v}" for k, v in sorted(r["job_status"].items()))
            + f" | {r['documents'] - r['bad_documents']}/{r['documents']} | {r['drained']:.0f} |")
    lines += ["", "Latency (s), p50 / p90 / p99 / max: of the answer; for asynchronous jobs, from the request to the "
              "final status (WPS status document or OGC API job), polled every 0.5 s as OWSLib does:", "",
              "| server | kills | " + " | ".join(KINDS) + " |", "|---|---|" + "---|" * len(KINDS)]
    for r in results:
        lines.append(f"| {r['server']} | {len(r['kills'])} | "
                     + " | ".join(" / ".join(r["latency"][k]) for k in KINDS) + " |")
    killed = "; ".join(f"{r['server']}: {', '.join(r['kills'])}" for r in results if r["kills"])
    lines += ["", f"Kills: {killed}" if killed else "No kills in this run.",
              "", "Each client sends its next request once the last one has ended (an async job: once it is "
              "final), as 20 users would; told ServerBusy (WPS exception, OGC API 503), it asks again a second "
              "later. Synchronous and asynchronous jobs of both protocols share one queue, so latency is mostly "
              "waiting for one of the 2 job slots: a job occupies a slot about "
              f"{2 * results[0]['drained'] / results[0]['jobs']:.1f} s (2 x wall / jobs of the first run), most of "
              "it starting a fresh worker process and importing its code. ServerBusy should come only while "
              f"the queue holds {QUEUE} waiting jobs (\"early\" counts "
              "any before that). \"invalid answers\" counts schema-invalid answers and server errors (HTTP 5xx "
              "other than ServerBusy's 503). A SIGKILLed worker's job, and a synchronous request cut by the "
              "server's own SIGKILL, end failed; none is left unfinished. With kills there are more jobs than "
              "requests: a client whose synchronous request was cut sends it again, and the job the first one "
              "started still runs to its end.", ""]
    return "\n".join(lines)


def main():
    global REQUESTS
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", choices=("dev", "gunicorn", "both"), default="both")
    parser.add_argument("--kills", action="store_true", help="also run with SIGKILLs mid-run")
    parser.add_argument("--no-docs", action="store_true", help="do not update docs/benchmarks.md")
    parser.add_argument("--requests", type=int, default=REQUESTS, help="a shorter run to try it (implies --no-docs)")
    args = parser.parse_args()
    servers = ("dev", "gunicorn") if args.server == "both" else (args.server,)
    if args.requests != REQUESTS:
        REQUESTS, args.no_docs = args.requests, True
    results = []
    for kind in servers:
        for kills in (False, True) if args.kills else (False,):
            print(f"{kind}{' with kills' if kills else ''}...", flush=True)
            results.append(run(kind, kills))
            print(results[-1], flush=True)
    text = section(results)
    print(text)
    if not args.no_docs:
        write_docs(text, "Load: 200 requests from 20 clients")


if __name__ == "__main__":
    main()
