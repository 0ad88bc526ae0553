"""Load: 200 WPS requests from 20 concurrent clients, on the dev server and on gunicorn.

A mix of GetCapabilities/DescribeProcess, synchronous ExtractInfo and Jpeg2Tiff, and
asynchronous Jpeg2Tiff, against a server with the shipped job settings (2 parallel jobs, a
queue of 20). With ``--kills``, job workers are SIGKILLed mid-run, and so is the server (dev
server: killed and restarted; gunicorn: one of its workers). Checked afterwards from the job
store and the status documents on disk: no accepted job is lost or left unfinished, every
status document is a final, well-formed WPS document, and every ServerBusy came while the
queue was full. Latency percentiles per kind of request. Run by hand:

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
from helpers.live import LiveServer, gunicorn, serve  # noqa: E402
from helpers.wps import NS, execute_xml  # noqa: E402

REQUESTS, CLIENTS, QUEUE = 200, 20, 20
KINDS = ("describe", "extractinfo-sync", "jpeg2tiff-sync", "jpeg2tiff-async")


def request(server, kind, product):
    """Send one request; return (outcome, job id or None, seconds)."""
    inputs = [("product_ref", product), ("bands", "B02,B03"), ("resolution", "60")]
    started = time.monotonic()
    deadline = started + 60
    while True:  # a client retries while the server restarts
        try:
            if kind == "describe":
                response = requests.get(f"{server.wps}?service=WPS&version=1.0.0&request=DescribeProcess"
                                        "&identifier=all", timeout=600)
            elif kind == "extractinfo-sync":
                response = server.post(execute_xml("ExtractInfo", [("images_ref", product)],
                                                   outputs=[("pairs", False)]), timeout=600)
            else:
                response = server.post(execute_xml("Jpeg2Tiff", inputs, outputs=[("image", True)],
                                                   status=kind.endswith("async")), timeout=600)
            break
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                return "unreachable", None, time.monotonic() - started
            time.sleep(0.2)
    seconds = time.monotonic() - started
    doc = etree.fromstring(response.content)
    busy = doc.xpath("//ows:Exception[@exceptionCode='ServerBusy']//ows:ExceptionText/text()", namespaces=NS)
    if busy:
        waiting = int(re.search(r"(\d+) jobs are waiting", busy[0]).group(1))
        return ("busy" if waiting >= QUEUE else "busy-early"), None, seconds
    location = doc.get("statusLocation")
    if location:  # a client like OWSLib's monitorExecution: poll until the end
        final = poll(location)
        return f"async-{final}", location.rsplit("/", 1)[1][:-4], time.monotonic() - started
    if kind == "describe":
        return ("ok" if response.ok else "error"), None, seconds
    failed = doc.xpath("//wps:ProcessFailed", namespaces=NS)
    return ("failed" if failed else "ok" if doc.xpath("//wps:ProcessSucceeded", namespaces=NS) else "error"), \
        None, seconds


def poll(location, every=0.5, timeout=900):
    """Poll a status document until it is final; 'succeeded', 'failed' or 'lost'."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(every)
        try:
            doc = etree.fromstring(requests.get(location, timeout=30).content)
        except (requests.ConnectionError, etree.XMLSyntaxError):
            continue  # the server is restarting
        if doc.xpath("//wps:ProcessSucceeded", namespaces=NS):
            return "succeeded"
        if doc.xpath("//wps:ProcessFailed", namespaces=NS):
            return "failed"
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
                            sensing_time=datetime(2022, 3, 4, 11, 0, tzinfo=timezone.utc)).name
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
    try:
        doc = etree.parse(str(path))
    except (OSError, etree.XMLSyntaxError):
        return False
    return bool(doc.xpath("//wps:ProcessSucceeded|//wps:ProcessFailed", namespaces=NS))


def section(results):
    lines = [
        "## Load: 200 requests from 20 clients", "",
        f"{date.today().isoformat()}: {environment()}.", "",
        f"`benchmarks/bench_load.py`: {REQUESTS} WPS requests from {CLIENTS} concurrent clients, a quarter each "
        "of DescribeProcess (all), synchronous ExtractInfo, synchronous Jpeg2Tiff and asynchronous Jpeg2Tiff "
        f"(a 240 px L2A product, 2 bands at 60 m), on a server with 2 parallel jobs and a queue of {QUEUE}. "
        "Every job runs in a fresh worker process. \"kills\": job workers SIGKILLed mid-run, and the server "
        "(dev server, then restarted) or one gunicorn worker (2 workers, gevent).", "",
        "| server | kills | requests | ServerBusy answers (queue full) | sync failed | async succeeded / failed "
        "| jobs | unfinished | lost | job status | status documents final | wall (s) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for r in results:
        o = r["outcomes"]
        lines.append(
            f"| {r['server']} | {len(r['kills'])} | {REQUESTS} | {o.get('busy', 0)} (early: "
            f"{o.get('busy-early', 0)}) | {o.get('failed', 0)} | {o.get('async-succeeded', 0)} / "
            f"{o.get('async-failed', 0) + o.get('async-lost', 0)} | {r['jobs']} | {r['unfinished']} | {r['lost']} | "
            + ", ".join(f"{k} {v}" for k, v in sorted(r["job_status"].items()))
            + f" | {r['documents'] - r['bad_documents']}/{r['documents']} | {r['drained']:.0f} |")
    lines += ["", "Latency (s), p50 / p90 / p99 / max: of the answer; for async Jpeg2Tiff, from the request to "
              "the final status document, polled every 0.5 s as OWSLib does:", "",
              "| server | kills | " + " | ".join(KINDS) + " |", "|---|---|" + "---|" * len(KINDS)]
    for r in results:
        lines.append(f"| {r['server']} | {len(r['kills'])} | "
                     + " | ".join(" / ".join(r["latency"][k]) for k in KINDS) + " |")
    lines += ["", "Kills: " + "; ".join(f"{r['server']}: {', '.join(r['kills'])}" for r in results if r["kills"]),
              "", "Each client sends its next request once the last one has ended (an async job: once its "
              "status document is final), as 20 users would; told ServerBusy, it asks again a second later. Synchronous and asynchronous jobs share one "
              "queue, so latency is mostly waiting for one of the 2 job slots; a job takes about 1 s, "
              "most of it starting a fresh worker process. ServerBusy would come only while the queue holds "
              f"{QUEUE} waiting jobs (\"early\" counts any before that). A SIGKILLed worker's job, and a "
              "synchronous request cut by the server's own SIGKILL, end failed; none is left unfinished. "
              "With kills there are more jobs than requests: a client whose synchronous request was cut "
              "sends it again, and the job the first one started still runs to its end.", ""]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", choices=("dev", "gunicorn", "both"), default="both")
    parser.add_argument("--kills", action="store_true", help="also run with SIGKILLs mid-run")
    parser.add_argument("--no-docs", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args()
    servers = ("dev", "gunicorn") if args.server == "both" else (args.server,)
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
