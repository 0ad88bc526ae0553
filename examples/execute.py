"""Execute the example notebooks against a running CANDELA server and save them with their outputs.

    python examples/execute.py                      # every notebook here, server at $CANDELA_URL or :5000
    python examples/execute.py --url http://127.0.0.1:5000 sar_change.ipynb
    python examples/execute.py --save-to /tmp/run   # leave the notebooks here untouched

Each notebook runs in a fresh ``python3`` kernel with this folder as its working directory (its
files go to ``outputs/``, ignored by git). Needs nbclient, nbformat and ipykernel
(``pip install .[test]`` or jupyter), and the client's dependencies (``pip install .[client]``).
"""

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent


def execute(path, url=None, timeout=600, cwd=None):
    """The notebook at ``path`` executed (``CANDELA_URL`` set to ``url`` where given) in ``cwd``
    (default: its folder); raises nbclient's CellExecutionError at the first failing cell."""
    book = nbformat.read(path, as_version=4)
    previous = os.environ.get("CANDELA_URL")
    if url:
        os.environ["CANDELA_URL"] = url  # the kernel inherits this process's environment
    try:
        NotebookClient(book, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(cwd or Path(path).parent)}}).execute()
    finally:
        if url:
            if previous is None:
                os.environ.pop("CANDELA_URL", None)
            else:
                os.environ["CANDELA_URL"] = previous
    return book


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebooks (default: every *.ipynb beside this script)")
    parser.add_argument("--url", help="the server's base URL (default: $CANDELA_URL, else http://127.0.0.1:5000)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds a cell may take (default 600)")
    parser.add_argument("--save-to", type=Path, help="folder to save the executed notebooks in (default: in place)")
    args = parser.parse_args(argv)
    notebooks = [p if p.exists() else HERE / p for p in args.notebooks] or sorted(HERE.glob("*.ipynb"))
    for path in notebooks:
        start = time.monotonic()
        book = execute(path, args.url, args.timeout)
        target = (args.save_to / path.name) if args.save_to else path
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(book, target)
        print(f"{path.name}: executed in {time.monotonic() - start:.0f} s, saved to {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
