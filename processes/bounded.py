"""Running one request's work in a forked child with a deadline and a memory cap.

For work that cannot be interrupted from inside and whose cost a request chooses (a SPARQL
query: one join can take hours or all the memory): the child, a copy of this process, does it
and writes its answer to a pipe; past the deadline, or when the answer grows past its cap, the
child is killed and the parent answers that instead. The child's address space and CPU time
are limited too, so a query cannot take the host's memory down with it.
"""

import faulthandler
import json
import os
import resource
import select
import signal
import time


class TooSlow(Exception):
    """The work did not finish within its deadline."""


class TooLarge(Exception):
    """The work's answer grew past its cap, or the work past its memory."""


def run_forked(work, *, seconds, max_bytes, memory_bytes):
    """``work()`` → ``(header: dict, body: bytes)`` in a child; what it returned, or TooSlow or
    TooLarge. An exception in ``work`` is re-raised here as RuntimeError with its text."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read_end)
        _child(work, write_end, seconds, memory_bytes)
    os.close(write_end)
    try:
        data = _collect(read_end, time.monotonic() + seconds, max_bytes)
    except (TooSlow, TooLarge):
        _kill(pid)
        raise
    finally:
        os.close(read_end)
    _, status = os.waitpid(pid, 0)
    if not data:
        raise TooLarge("the work ran out of memory or time") if os.WIFSIGNALED(status) or status else \
            RuntimeError("the work gave no answer")
    head, _, body = data.partition(b"\n")
    header = json.loads(head)
    if "error" in header:
        if header.get("memory"):
            raise TooLarge(header["error"])
        raise RuntimeError(header["error"])
    return header, body


def _child(work, write_end, seconds, memory_bytes):
    code = 0
    faulthandler.disable()  # a child killed by its limits is expected: no tracebacks in the server log
    try:
        # On top of what the copy of the server already maps (threads' arenas, libraries).
        limit = _mapped_bytes() + memory_bytes
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        cpu = int(seconds) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
        try:
            header, body = work()
            payload = json.dumps(header).encode() + b"\n" + body
        except MemoryError:
            payload = json.dumps({"error": "out of memory", "memory": True}).encode() + b"\n"
        except Exception as error:  # noqa: BLE001 - reported to the parent, which decides
            payload = json.dumps({"error": f"{type(error).__name__}: {error}"}).encode() + b"\n"
        view = memoryview(payload)
        while view:
            written = os.write(write_end, view[:1 << 16])
            view = view[written:]
    except BaseException:  # noqa: BLE001 - the parent sees a broken answer
        code = 1
    finally:
        os._exit(code)  # never run the parent's cleanup (atexit, open connections) in the copy


def _mapped_bytes():
    """This process's address space now (Linux: /proc/self/statm), 0 where unknown."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _collect(read_end, deadline, max_bytes):
    chunks, size = [], 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TooSlow()
        ready, _, _ = select.select([read_end], [], [], left)
        if not ready:
            raise TooSlow()
        chunk = os.read(read_end, 1 << 16)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > max_bytes:
            raise TooLarge()
        chunks.append(chunk)


def _kill(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    os.waitpid(pid, 0)
