"""Loaded by Python at start-up because ``nrm watch`` put this folder on PYTHONPATH.

Starts the inside tier of ``nrm watch`` (nrm.watch.startup), then runs the ``sitecustomize``
this file shadows, if there is one. It never stops the program: any failure is one line on
stderr and the program runs unwatched from the inside.
"""

import os
import sys


def _nrm_watch_start() -> None:
    try:
        from nrm.watch import startup

        startup.start()
    except Exception as exc:
        sys.stderr.write(f"nrm watch: inside tier off: {type(exc).__name__}: {exc}\n")
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        import importlib.util
        from importlib.machinery import PathFinder

        rest = [p for p in sys.path if os.path.abspath(p or ".") != here]
        spec = PathFinder.find_spec("sitecustomize", rest)
        if spec is not None and spec.loader is not None:
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
    except Exception as exc:
        sys.stderr.write(f"nrm watch: the shadowed sitecustomize failed: {exc}\n")


_nrm_watch_start()
