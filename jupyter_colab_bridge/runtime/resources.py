"""System figures for ``api/colab/resources``: memory, each kernel's memory, disk, GPUs.

Everything is read through psutil, the same way on Linux, macOS and Windows:
no ``/proc`` parsing, no process started per request (Colab's own extension
runs ``ps`` and ``nvidia-smi`` for each). Three layers:

* plain functions that read one kind of figure (:func:`memory_figures`,
  :func:`disk_figures`) and find each kernel's local process
  (:func:`kernel_processes`);
* :class:`ResourceCollector`, which makes one reply's figures from them
  (blocking system calls: it runs in a worker thread);
* :class:`ResourceSampler`, which serves those figures to any number of
  callers: at most one collection in flight, shared by everyone waiting, and
  its result reused for ``max_age`` seconds, so pages polling every second
  from several tabs cost one collection each ``max_age``.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import threading
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, Callable, NamedTuple, Protocol, TypedDict, TypeVar

import psutil

from .gpus import GpuFigures, GpuReader

#: Seconds a collection is reused for further requests (``ColabBridge.resources_max_age``).
RESOURCES_MAX_AGE = 0.5

#: The label Colab's page shows for the runtime's disk.
DISK_LABEL = "kernel"

_T = TypeVar("_T")


class KernelFigures(TypedDict):
    uuid: str
    usedBytes: int


class MemoryFigures(TypedDict):
    totalBytes: int
    freeBytes: int
    kernels: list[KernelFigures]


class FilesystemFigures(TypedDict):
    label: str
    totalBytes: int
    usedBytes: int


class DiskFigures(TypedDict):
    filesystem: FilesystemFigures


class Resources(TypedDict):
    """The body of ``api/colab/resources`` (docs/protocol.md section 6)."""

    memory: MemoryFigures
    disks: list[DiskFigures]
    gpus: list[GpuFigures]


class KernelProcess(NamedTuple):
    """A kernel and the pid of its local process."""

    kernel_id: str
    pid: int


# -- kernels --------------------------------------------------------------------


def local_kernel_pid(kernel_manager: Any) -> int | None:
    """The pid of the kernel's process on this machine, or None.

    jupyter_client 7 and 8 keep the process on the kernel's provisioner
    (``LocalProvisioner.process``, a ``subprocess.Popen``). None when the
    kernel has no process yet or any more, and for kernels that run elsewhere:
    a Kernel or Enterprise Gateway (``GatewayKernelManager`` has no
    provisioner) or a remote provisioner (no local ``Popen``), whose pid
    numbers, if any, are not this machine's.
    """
    provisioner = getattr(kernel_manager, "provisioner", None)
    process = getattr(provisioner, "process", None)
    if isinstance(process, subprocess.Popen):
        return int(process.pid)
    return None


def kernel_processes(multi_kernel_manager: Any) -> list[KernelProcess]:
    """Each running kernel of the server with a local process.

    Reads only the managers' Python objects (no system call): the sampler
    calls it on the event loop, where those objects live.
    """
    kernels = []
    for kernel_id in list(multi_kernel_manager.list_kernel_ids()):
        try:
            kernel_manager = multi_kernel_manager.get_kernel(kernel_id)
        except KeyError:  # shut down meanwhile
            continue
        pid = local_kernel_pid(kernel_manager)
        if pid is not None:
            kernels.append(KernelProcess(str(kernel_id), pid))
    return kernels


# -- memory -----------------------------------------------------------------------


def parent_pids() -> dict[int, int]:
    """``{pid: parent pid}`` of this server's descendants: its kernels and theirs.

    psutil's ``Process.children(recursive=True)`` finds them in one pass over
    the machine's processes (one ``/proc`` scan on Linux, one snapshot on
    Windows) and skips pids reused meanwhile; each one's parent is then read
    alone. A kernel is a child of the server (``local_kernel_pid``), so the
    figures of every kernel come from this one pass.
    """
    parents = {}
    for process in psutil.Process().children(recursive=True):
        try:
            parents[process.pid] = int(process.ppid())
        except psutil.NoSuchProcess:  # gone since the pass
            continue
    return parents


def children_map(parents: Mapping[int, int]) -> dict[int, list[int]]:
    """``{pid: [child pids]}`` from ``{pid: parent pid}``."""
    children: dict[int, list[int]] = defaultdict(list)
    for pid, ppid in parents.items():
        if pid != ppid:
            children[ppid].append(pid)
    return children


def tree_rss(root: int, children: Mapping[int, Sequence[int]]) -> int | None:
    """Resident memory (bytes) of process ``root`` and all its descendants.

    None when ``root`` is gone or cannot be read. A descendant that vanishes
    meanwhile is skipped; one that may not be read counts 0 (its own children
    still count); one started before ``root`` is a reused pid, not a
    descendant, and is skipped with its subtree (as ``Process.children`` does).
    """
    try:
        process = psutil.Process(root)
        with process.oneshot():
            born = process.create_time()
            total = int(process.memory_info().rss)
    except (psutil.NoSuchProcess, psutil.AccessDenied):  # ZombieProcess is a NoSuchProcess
        return None
    seen = {root}
    stack = list(children.get(root, ()))
    while stack:
        pid = stack.pop()
        if pid in seen:  # the map was read while pids changed hands: no cycles
            continue
        seen.add(pid)
        try:
            process = psutil.Process(pid)
            with process.oneshot():
                if process.create_time() < born:
                    continue
                total += int(process.memory_info().rss)
        except psutil.NoSuchProcess:
            continue
        except psutil.AccessDenied:  # counts 0; its children still count
            pass
        stack.extend(children.get(pid, ()))
    return total


def memory_figures(kernels: Sequence[KernelProcess]) -> MemoryFigures:
    """The machine's memory and each kernel's (its process tree's resident memory).

    ``freeBytes`` is the memory available to new work without swapping
    (``MemAvailable`` on Linux), as Colab's runtime reports it. A kernel whose
    process is gone is left out.
    """
    vm = psutil.virtual_memory()
    figures: MemoryFigures = {
        "totalBytes": int(vm.total),
        "freeBytes": int(vm.available),
        "kernels": [],
    }
    if kernels:
        children = children_map(parent_pids())
        for kernel in kernels:
            used = tree_rss(kernel.pid, children)
            if used is not None:
                figures["kernels"].append({"uuid": kernel.kernel_id, "usedBytes": used})
    return figures


# -- disk --------------------------------------------------------------------------


def disk_figures(path: str) -> list[DiskFigures]:
    """The filesystem holding ``path``: its size and what is used of it."""
    usage = psutil.disk_usage(path)
    filesystem: FilesystemFigures = {
        "label": DISK_LABEL,
        "totalBytes": int(usage.total),
        "usedBytes": int(usage.used),
    }
    return [{"filesystem": filesystem}]


# -- one reply's figures -------------------------------------------------------------


class Collector(Protocol):
    """Makes one reply's figures (blocking)."""

    def collect(self, kernels: Sequence[KernelProcess]) -> Resources: ...


class ResourceCollector:
    """Memory, kernels, the disk holding ``root_dir``, and the GPUs.

    A part that fails is logged and left empty, so the reply still comes.
    """

    def __init__(self, root_dir: str, gpus: GpuReader, log: logging.Logger) -> None:
        self.root_dir = root_dir
        self.gpus = gpus
        self.log = log
        self._disk_failed = False

    def collect(self, kernels: Sequence[KernelProcess]) -> Resources:
        """Read every figure now (blocking: call it from a worker thread)."""
        return {"memory": memory_figures(kernels), "disks": self._disks(), "gpus": self.gpus.read()}

    def _disks(self) -> list[DiskFigures]:
        try:
            disks = disk_figures(self.root_dir)
        except OSError as e:  # root_dir removed, or not readable any more
            if not self._disk_failed:
                self.log.warning("Colab runtime API: no disk figures for %s: %s", self.root_dir, e)
            self._disk_failed = True
            return []
        self._disk_failed = False
        return disks


# -- serving them ---------------------------------------------------------------------


def _set_result(future: asyncio.Future[_T], result: _T) -> None:
    if not future.done():  # else the waiter gave up (the loop is shutting down)
        future.set_result(result)


def _set_error(future: asyncio.Future[Any], error: Exception) -> None:
    if not future.done():
        future.set_exception(error)


def in_daemon_thread(work: Callable[[], _T], name: str) -> asyncio.Future[_T]:
    """Run ``work`` in a new daemon thread; a future of the running loop for its result.

    A daemon thread rather than an executor: a system call that hangs (a
    stuck network filesystem, a GPU fallen off the bus) then holds only this
    thread, never a thread the server's file operations need, and never
    delays the server's exit, which joins executor threads.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[_T] = loop.create_future()

    def run() -> None:
        try:
            result = work()
        except Exception as e:  # handed to the waiter, which raises it
            deliver(_set_error, e)
        else:
            deliver(_set_result, result)

    def deliver(settle: Callable[[asyncio.Future[Any], Any], None], outcome: Any) -> None:
        try:
            loop.call_soon_threadsafe(settle, future, outcome)
        except RuntimeError:  # the loop is closed: nobody waits any more
            pass

    threading.Thread(target=run, name=name, daemon=True).start()
    return future


class ResourceSampler:
    """Serves figures to many callers: one collection at a time, reused ``max_age`` s.

    ``kernels`` lists the kernels' processes (cheap, on the event loop);
    ``collector`` reads the figures in a worker thread. A caller that arrives
    while a collection runs waits for that one; one that arrives within
    ``max_age`` seconds of the last collection's end gets its result. A
    caller that goes away (cancelled) does not cancel the collection the
    others wait for. ``collections`` counts collections started.
    """

    def __init__(
        self,
        collector: Collector,
        kernels: Callable[[], list[KernelProcess]],
        max_age: float = RESOURCES_MAX_AGE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.collector = collector
        self.kernels = kernels
        self.max_age = max_age
        self.clock = clock
        self.collections = 0
        self._latest: tuple[float, Resources] | None = None
        self._pending: asyncio.Future[Resources] | None = None

    async def get(self) -> Resources:
        """The current figures (reused, shared or freshly collected)."""
        latest = self._latest
        if latest is not None and self.clock() - latest[0] < self.max_age:
            return latest[1]
        if self._pending is None:
            self._pending = asyncio.ensure_future(self._collect())
        return await asyncio.shield(self._pending)

    async def _collect(self) -> Resources:
        try:
            kernels = self.kernels()
            self.collections += 1
            result = await in_daemon_thread(
                lambda: self.collector.collect(kernels), "colab-resources"
            )
            self._latest = (self.clock(), result)
            return result
        finally:
            self._pending = None


def server_sampler(
    multi_kernel_manager: Any, root_dir: str, log: logging.Logger, max_age: float
) -> ResourceSampler:
    """The sampler for a server: its kernels, the disk holding ``root_dir``, NVML's GPUs."""
    collector = ResourceCollector(root_dir, GpuReader(log), log)
    return ResourceSampler(collector, lambda: kernel_processes(multi_kernel_manager), max_age)
