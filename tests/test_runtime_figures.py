"""Colab's runtime API, the parts without a server: figures, GPUs (fake NVML), the sampler.

Processes are real (this Python's children); only NVML is a fake
(``fake_nvml``), as a GPU cannot be had here.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import psutil
import pytest
from jupyter_server.gateway.gateway_client import GatewayClient
from jupyter_server.gateway.managers import GatewayKernelManager

from jupyter_colab_bridge.runtime import resources
from jupyter_colab_bridge.runtime.gpus import GpuReader
from jupyter_colab_bridge.runtime.resources import (
    KernelProcess,
    ResourceCollector,
    Resources,
    ResourceSampler,
    children_map,
    disk_figures,
    kernel_processes,
    local_kernel_pid,
    memory_figures,
    parent_pids,
    tree_rss,
)
from tests.helpers.fake_nvml import (
    NVML_ERROR_DRIVER_NOT_LOADED,
    NVML_ERROR_GPU_IS_LOST,
    TWO_GPUS_FIGURES,
    FakeNvml,
    MiB,
    two_gpus,
)
from tests.helpers.probes import Hold, until

GiB = 2**30

# A process that allocates (and touches) N MiB, prints its pid, then waits.
HOLDER = (
    "import os, sys, time\n"
    "x = b'x' * (int(sys.argv[1]) * 2**20)\n"
    "print(os.getpid(), flush=True)\n"
    "time.sleep(600)\n"
)
# A process that starts ``python -c <its arguments>`` as its child, passes on
# the child's first line, then waits: PARENT, PARENT, HOLDER, "N" is a chain
# of three processes, the last holding N MiB.
PARENT = (
    "import subprocess, sys, time\n"
    "child = subprocess.Popen([sys.executable, '-c', *sys.argv[1:]],"
    " stdout=subprocess.PIPE, text=True)\n"
    "print(child.stdout.readline().strip(), flush=True)\n"
    "time.sleep(600)\n"
)


@pytest.fixture
def spawn() -> Iterator[Any]:
    """Starts Python processes that wait; kills them (and their children) afterwards."""
    started: list[subprocess.Popen[str]] = []

    def _spawn(*args: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen([sys.executable, "-c", *args], stdout=subprocess.PIPE, text=True)
        started.append(proc)
        return proc

    yield _spawn
    for proc in started:
        try:
            for child in psutil.Process(proc.pid).children(recursive=True):
                child.kill()
        except psutil.NoSuchProcess:  # killed by the test
            pass
        proc.kill()
        proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()


def read_line(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    return proc.stdout.readline().strip()


@pytest.fixture
def log() -> logging.Logger:
    return logging.getLogger("test_runtime_figures")


# -- memory and processes ---------------------------------------------------------


def test_memory_totals_are_psutils() -> None:
    figures = memory_figures([])
    vm = psutil.virtual_memory()
    assert figures["totalBytes"] == vm.total
    assert abs(figures["freeBytes"] - vm.available) < 256 * MiB
    assert figures["kernels"] == []


def test_kernel_memory_counts_its_descendants(spawn: Any) -> None:
    lone = spawn(HOLDER, "20")
    top = spawn(PARENT, PARENT, HOLDER, "150")
    read_line(lone)
    holder = psutil.Process(int(read_line(top)))
    middle = psutil.Process(holder.ppid())
    assert middle.ppid() == top.pid
    kernels = [KernelProcess("lone", lone.pid), KernelProcess("top", top.pid)]
    figures = {k["uuid"]: k["usedBytes"] for k in memory_figures(kernels)["kernels"]}
    assert set(figures) == {"lone", "top"}
    assert figures["lone"] >= 20 * MiB
    tree = [psutil.Process(top.pid), middle, holder]
    each = [p.memory_info().rss for p in tree]
    assert each[2] >= 150 * MiB
    assert abs(figures["top"] - sum(each)) < 16 * MiB


def test_gone_kernel_is_left_out(spawn: Any) -> None:
    proc = spawn(HOLDER, "1")
    read_line(proc)
    proc.kill()
    proc.wait()
    assert tree_rss(proc.pid, {}) is None
    figures = memory_figures([KernelProcess("gone", proc.pid), KernelProcess("me", os.getpid())])
    assert [k["uuid"] for k in figures["kernels"]] == ["me"]


def test_vanished_or_reused_descendants_are_skipped(spawn: Any) -> None:
    root = spawn(HOLDER, "1")
    read_line(root)
    own = psutil.Process(root.pid).memory_info().rss
    unused_pid = max(psutil.pids()) + 100_000  # no such process
    older = os.getpid()  # started before root: a reused pid, not a descendant
    children = {root.pid: [unused_pid, older], older: [os.getppid()]}
    total = tree_rss(root.pid, children)
    assert total is not None
    assert abs(total - own) < 8 * MiB  # root alone


def test_unreadable_descendant_counts_zero_but_its_children_count(
    spawn: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    top = spawn(PARENT, PARENT, HOLDER, "60")
    holder = int(read_line(top))
    middle = psutil.Process(holder).ppid()
    expected = psutil.Process(top.pid).memory_info().rss + psutil.Process(holder).memory_info().rss
    # psutil.Process.memory_info is memoized for oneshot(); the platform's reader is below it
    platform_process = psutil._psplatform.Process
    real = platform_process.memory_info

    def memory_info(self: Any) -> Any:
        if self.pid == middle:
            raise psutil.AccessDenied(self.pid)
        return real(self)

    monkeypatch.setattr(platform_process, "memory_info", memory_info)
    total = tree_rss(top.pid, children_map(parent_pids()))
    assert total is not None
    assert abs(total - expected) < 8 * MiB  # the holder below the unreadable middle counts


def test_parent_pids_are_the_servers_descendants(spawn: Any) -> None:
    """Read through psutil's public ``Process.children`` (no more ``psutil._ppid_map``)."""
    top = spawn(PARENT, PARENT, HOLDER, "1")
    holder = int(read_line(top))
    middle = psutil.Process(holder).ppid()
    parents = parent_pids()
    assert parents[top.pid] == os.getpid()
    assert parents[middle] == top.pid
    assert parents[holder] == middle
    assert os.getpid() not in parents  # only descendants, not the server or its parents
    assert holder in children_map(parents)[middle]


class _Provisioner:
    def __init__(self, process: Any) -> None:
        self.process = process


class _KernelManager:
    def __init__(self, provisioner: Any) -> None:
        self.provisioner = provisioner


class _MultiKernelManager:
    def __init__(self, kernels: dict[str, Any], vanishing: Sequence[str] = ()) -> None:
        self.kernels = kernels
        self.vanishing = list(vanishing)

    def list_kernel_ids(self) -> list[str]:
        return [*self.kernels, *self.vanishing]

    def get_kernel(self, kernel_id: str) -> Any:
        return self.kernels[kernel_id]


@pytest.fixture
def gateway_client() -> Iterator[None]:
    """GatewayKernelManager makes the GatewayClient singleton; drop it afterwards."""
    existed = GatewayClient.initialized()
    yield
    if not existed:
        GatewayClient.clear_instance()


def test_kernel_processes_only_local_ones(spawn: Any, gateway_client: None) -> None:
    proc = spawn(HOLDER, "1")
    remote_process = type("RemoteProcess", (), {"pid": 4242})()
    manager = _MultiKernelManager(
        {
            "local": _KernelManager(_Provisioner(proc)),
            "not-started": _KernelManager(None),
            "exited": _KernelManager(_Provisioner(None)),
            "remote-provisioner": _KernelManager(_Provisioner(remote_process)),
            "gateway": GatewayKernelManager(),
        },
        vanishing=["shut-down-meanwhile"],
    )
    assert kernel_processes(manager) == [KernelProcess("local", proc.pid)]
    assert local_kernel_pid(manager.kernels["gateway"]) is None


# -- disk ---------------------------------------------------------------------------


def test_disk_is_the_filesystem_of_the_path(tmp_path: Any) -> None:
    (disk,) = disk_figures(str(tmp_path))
    usage = psutil.disk_usage(str(tmp_path))
    assert disk["filesystem"]["label"] == "kernel"
    assert disk["filesystem"]["totalBytes"] == usage.total
    assert abs(disk["filesystem"]["usedBytes"] - usage.used) < 64 * MiB


def test_collector_without_a_disk_still_answers(
    tmp_path: Any, log: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    collector = ResourceCollector(str(tmp_path / "removed"), GpuReader(log, FakeNvml([])), log)
    with caplog.at_level(logging.DEBUG, logger=log.name):
        first = collector.collect([])
        second = collector.collect([])
    assert first["disks"] == second["disks"] == []
    assert first["memory"]["totalBytes"] == psutil.virtual_memory().total
    assert len([r for r in caplog.records if "no disk figures" in r.getMessage()]) == 1


# -- GPUs (fake NVML) -----------------------------------------------------------------


def test_gpus_in_index_order_with_fractions(log: logging.Logger) -> None:
    assert GpuReader(log, FakeNvml(two_gpus())).read() == TWO_GPUS_FIGURES


def test_ever_used_stays_true(log: logging.Logger) -> None:
    gpus = two_gpus()
    reader = GpuReader(log, FakeNvml(gpus))
    assert [g["everUsed"] for g in reader.read()] == [False, True]
    gpus[0].used = 512 * MiB
    assert [g["everUsed"] for g in reader.read()] == [True, True]
    gpus[0].used = gpus[1].used = 0
    figures = reader.read()
    assert [g["memoryUsedBytes"] for g in figures] == [0, 0]
    assert [g["everUsed"] for g in figures] == [True, True]


def test_nvml_starts_once(log: logging.Logger) -> None:
    nvml = FakeNvml(two_gpus())
    reader = GpuReader(log, nvml)
    for _ in range(3):
        assert len(reader.read()) == 2
    assert nvml.calls["nvmlInit"] == nvml.calls["nvmlDeviceGetCount"] == 1
    assert nvml.calls["nvmlDeviceGetName"] == 2  # names are read once
    assert nvml.calls["nvmlDeviceGetUtilizationRates"] == 6


def test_nvml_init_failure_is_no_gpus_logged_once(
    log: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    nvml = FakeNvml(two_gpus(), init_error=NVML_ERROR_DRIVER_NOT_LOADED)
    reader = GpuReader(log, nvml)
    with caplog.at_level(logging.DEBUG, logger=log.name):
        assert reader.read() == []
        assert reader.read() == []
    assert nvml.calls["nvmlInit"] == 1
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1 and "NVML did not start" in messages[0], messages
    assert caplog.records[0].levelno == logging.INFO


def test_no_binding_is_no_gpus(
    log: logging.Logger, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import raises ImportError
    reader = GpuReader(log)
    with caplog.at_level(logging.DEBUG, logger=log.name):
        assert reader.read() == [] and reader.read() == []
    assert len([r for r in caplog.records if "no GPU figures" in r.getMessage()]) == 1


def test_no_gpu_is_no_gpus(log: logging.Logger) -> None:
    assert GpuReader(log, FakeNvml([])).read() == []


def test_failing_gpu_is_skipped_warned_once(
    log: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    gpus = two_gpus()
    gpus[0].error = NVML_ERROR_GPU_IS_LOST
    reader = GpuReader(log, FakeNvml(gpus))
    with caplog.at_level(logging.DEBUG, logger=log.name):
        for _ in range(3):
            assert [g["name"] for g in reader.read()] == ["NVIDIA A100-SXM4-40GB"]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "GPU 0" in warnings[0].getMessage()
    gpus[0].error = None  # back again
    assert len(reader.read()) == 2


def test_memory_v1_where_v2_is_missing(log: logging.Logger) -> None:
    gpus = two_gpus()
    nvml = FakeNvml(gpus, memory_v2=False)
    figures = GpuReader(log, nvml).read()
    # version 1 counts the driver's reserved memory as used
    assert [g["memoryUsedBytes"] for g in figures] == [g.reserved + g.used for g in gpus]
    assert figures[0]["everUsed"] is True


def test_utilization_not_supported_reads_zero(log: logging.Logger) -> None:
    gpus = two_gpus()
    gpus[1].utilization_supported = False
    figures = GpuReader(log, FakeNvml(gpus, name_as_bytes=True)).read()
    assert figures[1]["name"] == "NVIDIA A100-SXM4-40GB"
    assert figures[1]["memoryUsedBytes"] == 10 * GiB
    assert figures[1]["gpuUtilization"] == figures[1]["memoryUtilization"] == 0.0


# -- the sampler --------------------------------------------------------------------------


class CountingCollector:
    """Collects nothing real; records where and how often it ran."""

    def __init__(
        self, delay: float = 0.0, error: Exception | None = None, hold: Hold | None = None
    ) -> None:
        self.delay = delay
        self.error = error
        self.hold = hold
        self.threads: list[str] = []
        self.kernels: list[Sequence[KernelProcess]] = []

    def collect(self, kernels: Sequence[KernelProcess]) -> Resources:
        self.threads.append(threading.current_thread().name)
        self.kernels.append(kernels)
        time.sleep(self.delay)
        if self.hold is not None:
            self.hold.block()
        if self.error is not None:
            raise self.error
        n = len(self.threads)
        return {
            "memory": {"totalBytes": n, "freeBytes": 0, "kernels": []},
            "disks": [],
            "gpus": [],
        }


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_concurrent_callers_share_one_collection() -> None:
    collector = CountingCollector(delay=0.3)
    sampler = ResourceSampler(collector, lambda: [KernelProcess("k", 1)], max_age=0)
    results = await asyncio.gather(*(sampler.get() for _ in range(8)))
    assert sampler.collections == 1 and len(collector.threads) == 1
    assert all(r is results[0] for r in results)
    assert collector.threads[0] == "colab-resources"
    assert collector.threads[0] != threading.current_thread().name
    assert collector.kernels == [[KernelProcess("k", 1)]]


async def test_result_reused_for_max_age() -> None:
    clock = Clock()
    collector = CountingCollector()
    sampler = ResourceSampler(collector, list, max_age=0.5, clock=clock)
    first = await sampler.get()
    clock.now += 0.4
    assert await sampler.get() is first
    clock.now += 0.2
    second = await sampler.get()
    assert second is not first and sampler.collections == 2
    assert second["memory"]["totalBytes"] == 2


async def test_max_age_zero_collects_each_time() -> None:
    sampler = ResourceSampler(CountingCollector(), list, max_age=0)
    for _ in range(3):
        await sampler.get()
    assert sampler.collections == 3


async def test_failed_collection_reaches_every_caller_then_retries() -> None:
    collector = CountingCollector(delay=0.1, error=OSError("disk gone"))
    sampler = ResourceSampler(collector, list, max_age=10)
    outcomes = await asyncio.gather(sampler.get(), sampler.get(), return_exceptions=True)
    assert [type(o) for o in outcomes] == [OSError, OSError]
    assert sampler.collections == 1
    collector.error = None
    assert (await sampler.get())["memory"]["totalBytes"] == 2


async def test_a_caller_that_leaves_does_not_cancel_the_others() -> None:
    collector = CountingCollector(hold=Hold())
    sampler = ResourceSampler(collector, list, max_age=0)
    leaving = asyncio.ensure_future(sampler.get())
    staying = asyncio.ensure_future(sampler.get())
    assert await until(collector.hold.entered.is_set), "the collection never started"
    leaving.cancel()
    collector.hold.released.set()
    result = await staying
    assert leaving.cancelled()
    assert result["memory"]["totalBytes"] == 1
    assert sampler.collections == 1


async def test_event_loop_runs_while_collecting() -> None:
    """The collection is held in its thread until the loop itself releases it."""
    collector = CountingCollector(hold=Hold())
    sampler = ResourceSampler(collector, list, max_age=0)
    pending = asyncio.ensure_future(sampler.get())
    assert await until(collector.hold.entered.is_set), "the collection never started"
    assert not pending.done()
    collector.hold.released.set()  # only a running loop gets here while it is held
    await pending
    assert collector.hold.released_in_time


def test_server_sampler_reads_real_figures(tmp_path: Any, log: logging.Logger) -> None:
    sampler = resources.server_sampler(_MultiKernelManager({}), str(tmp_path), log, 0.5)
    assert isinstance(sampler.collector, ResourceCollector)
    figures = sampler.collector.collect(sampler.kernels())
    assert figures["memory"]["totalBytes"] == psutil.virtual_memory().total
    assert figures["disks"][0]["filesystem"]["totalBytes"] == psutil.disk_usage(str(tmp_path)).total
