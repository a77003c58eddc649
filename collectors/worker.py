"""Run a generator in a forked child process, so reading a bulk file overlaps writing it.

A first import of a bulk file spends about as long parsing and normalising rows (the
collector) as writing them (the pipeline), both in Python, so one core does both in turn.
:func:`in_worker` runs the producing generator in a child process and yields its items to
the caller in order, one item ahead: while the caller writes Page *n*, the child builds
Page *n+1* on the other core (docs/performance.md, "First import").

What may not change is what commits: the child only computes and sends; the caller writes
and commits each Page it received, as before. So:

- the child dies (killed, crashed): the caller gets :class:`WorkerDied` after the last whole
  item; what was committed stays, the rest is read again by the next run;
- the caller dies (kill -9): the child is killed with it (Linux's parent-death signal) or
  fails its next send into the closed pipe, and exits; it never touches the database;
- the caller stops early (an error, Ctrl-C): the child is killed and reaped.

The child is a ``fork``: it inherits what the parent set up (the open archive, the plan,
the stored fingerprints) with no pickling, and leaves with ``os._exit`` so that it never
runs the parent's clean-up (closing a database connection it shares a socket with).
Without ``fork`` (Windows, macOS by default) the generator runs in-process as before.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
from collections.abc import Callable, Iterator
from typing import TypeVar

T = TypeVar("T")

_ITEM, _END, _ERROR = 0, 1, 2
#: Linux ``prctl`` option: signal the process when its parent dies.
_PR_SET_PDEATHSIG = 1


class WorkerDied(RuntimeError):
    """The child process ended without finishing (killed, or crashed in C)."""


def can_fork() -> bool:
    """Whether :func:`in_worker` runs a child process here (else it runs in-process)."""
    return "fork" in multiprocessing.get_all_start_methods()


def in_worker(produce: Callable[[], Iterator[T]]) -> Iterator[T]:
    """The items of ``produce()``, computed in a child process (see the module docstring).

    An exception raised in the child is raised here, after the items sent before it.
    """
    if not can_fork():
        yield from produce()
        return
    receiver, sender = multiprocessing.Pipe(duplex=False)
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child; its effects are asserted by the parent
        receiver.close()
        _child(produce, sender, parent)
    sender.close()
    try:
        while True:
            try:
                kind, value = receiver.recv()
            except EOFError:
                raise WorkerDied(
                    f"the file-reading process {pid} ended unexpectedly "
                    f"({_exit_status(pid)}); rows committed so far are kept, run again to "
                    "continue"
                ) from None
            if kind == _ITEM:
                yield value
            elif kind == _END:
                return
            else:
                raise value
    finally:
        receiver.close()
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def _child(produce: Callable[[], Iterator[T]], sender: object, parent: int) -> None:
    """Send ``produce()``'s items, then its end or its error; never return."""
    code = 0
    try:
        _die_with(parent)
        for item in produce():
            sender.send((_ITEM, item))  # type: ignore[attr-defined]
        sender.send((_END, None))  # type: ignore[attr-defined]
    except BrokenPipeError:
        code = 1  # the caller is gone: nobody to tell
    except BaseException as error:
        code = 1
        with contextlib.suppress(BaseException):
            try:
                sender.send((_ERROR, error))  # type: ignore[attr-defined]
            except BrokenPipeError:
                pass
            except BaseException:  # an exception that does not pickle: send its text
                sender.send((_ERROR, RuntimeError(f"{type(error).__name__}: {error}")))  # type: ignore[attr-defined]
    finally:
        os._exit(code)


def _die_with(parent: int) -> None:
    """Have the kernel kill this process when its parent dies (Linux; elsewhere the closed
    pipe ends it at its next send)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)


def _exit_status(pid: int) -> str:
    with contextlib.suppress(ChildProcessError):
        _, status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(status):
            return f"killed by signal {os.WTERMSIG(status)}"
        return f"exit status {os.WEXITSTATUS(status)}"
    return "status unknown"
