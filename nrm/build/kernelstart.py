"""Starting the kernel a notebook runs in: once more when the first start fails, and with the
kernel's own stderr named in the error.

Why a start fails: ``jupyter_client`` chooses a kernel's five ports by binding port 0 and closing
the socket, writes them to the connection file and starts the kernel, which binds them again.
Another process starting at the same time (two kernels of a build and a test run on the same
machine) can take one of those ports in between; the kernel then dies at once with
``ZMQError: Address already in use`` and the client reports only ``RuntimeError: Kernel died
before replying to kernel_info`` (jupyter/jupyter_client#154, nteract/papermill#511). A loaded
machine widens the window (the kernel's imports take seconds). A second start picks new ports.

The kernel's stderr is passed through a pipe (:class:`TeeKernelManager`): every byte still
reaches this process's stderr at once (the console lines of a build), and the last few KiB are
kept, so a failed start can say what the kernel printed before it died.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
from typing import IO, Any

#: Messages of ``jupyter_client``'s ``wait_for_ready`` when the kernel never answered.
START_FAILURES = (
    "Kernel died before replying to kernel_info",
    "Kernel didn't respond",
)

#: How much of the kernel's stderr is kept for an error message.
TAIL_BYTES = 8192


def is_start_failure(exc: BaseException) -> bool:
    """Whether ``exc`` says the kernel did not start (not that a cell failed)."""
    return isinstance(exc, RuntimeError) and str(exc).startswith(START_FAILURES)


class StderrTee:
    """Copies a pipe to this process's stderr as it comes, keeping the last bytes."""

    def __init__(self, pipe: IO[bytes]) -> None:
        self.tail = bytearray()
        self._pipe = pipe
        self._thread = threading.Thread(target=self._copy, name="kernel-stderr", daemon=True)
        self._thread.start()

    def _copy(self) -> None:
        fd = self._pipe.fileno()
        try:
            while chunk := os.read(fd, 65536):
                self.tail += chunk
                del self.tail[:-TAIL_BYTES]
                with contextlib.suppress(OSError):  # no console: read on (never block the kernel)
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(2, view) :]
        except OSError:
            pass
        finally:
            self._pipe.close()

    def last_line(self, wait: float = 2.0) -> str:
        """The last non-empty line the kernel wrote to stderr ('' if none), after waiting up
        to ``wait`` seconds for a dead kernel's pipe to drain."""
        self._thread.join(wait)
        lines = [ln.strip() for ln in self.tail.decode("utf-8", "replace").splitlines()]
        return next((ln for ln in reversed(lines) if ln), "")


def tee_kernel_manager() -> type:
    """A new ``AsyncKernelManager`` class whose kernels' stderr goes through a
    :class:`StderrTee` (the last one in its ``last_tee``); jupyter_client is imported here, as
    it is only needed to run notebooks."""
    from jupyter_client.manager import AsyncKernelManager

    class TeeKernelManager(AsyncKernelManager):  # type: ignore[misc]
        #: the tee of the kernel this class started last (a class per notebook execution)
        last_tee: StderrTee | None = None

        async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
            kw["stderr"] = subprocess.PIPE
            await super()._async_launch_kernel(kernel_cmd, **kw)
            proc = getattr(self.provisioner, "process", None)
            if proc is not None and proc.stderr is not None:
                type(self).last_tee = StderrTee(proc.stderr)

    return TeeKernelManager
