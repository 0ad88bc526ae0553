"""Run a function in a forked child and return its result.

A process that has run TensorFlow cannot fork a child that runs it again (the child hangs),
and this test process forks PyWPS workers that run the encoder. So tests never run
TensorFlow here: they run it in a child through :func:`run_isolated`.
"""

import multiprocessing
import traceback

TIMEOUT = 600


def _child(sender, function, args, kwargs):
    try:
        sender.send((True, function(*args, **kwargs)))
    except BaseException as error:  # noqa: BLE001  (everything goes back to the test)
        sender.send((False, (error, traceback.format_exc())))
    finally:
        sender.close()


def run_isolated(function, *args, **kwargs):
    """``function(*args, **kwargs)`` in a forked child; its exception is raised here."""
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(sender, function, args, kwargs))
    child.start()
    sender.close()
    try:
        if not receiver.poll(TIMEOUT):
            raise TimeoutError(f"{getattr(function, '__name__', function)} took more than {TIMEOUT} s")
        ok, value = receiver.recv()
    finally:
        child.join(5)
        if child.is_alive():
            child.kill()
    if ok:
        return value
    error, trace = value
    error.add_note(f"raised in the isolated child:\n{trace}")
    raise error
