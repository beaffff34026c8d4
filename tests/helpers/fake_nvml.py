"""A stand-in for NVIDIA's NVML binding (module ``pynvml``), so GPU figures test without a GPU.

It has the calls :mod:`jupyter_colab_bridge.runtime.gpus` makes, with
NVML's error type and codes; each fake GPU is its own handle. Being a module
object, it can be put in ``sys.modules["pynvml"]`` for a real server to import.
"""

from __future__ import annotations

import types
from collections import Counter
from dataclasses import dataclass
from typing import Any

NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_DRIVER_NOT_LOADED = 9
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_FUNCTION_NOT_FOUND = 13
NVML_ERROR_GPU_IS_LOST = 15

MiB = 2**20


class NVMLError(Exception):
    """As pynvml's: ``value`` is NVML's return code."""

    def __init__(self, value: int) -> None:
        super().__init__(f"NVML error {value}")
        self.value = value


@dataclass
class FakeGpu:
    name: str
    total: int
    used: int = 0
    gpu_percent: int = 0
    memory_percent: int = 0
    reserved: int = 300 * MiB  # what NVML's memory info version 1 adds to "used"
    error: int | None = None  # NVML code every query of this GPU fails with
    utilization_supported: bool = True
    hold: Any = None  # a tests.helpers.probes.Hold each utilization query waits on


class FakeNvml(types.ModuleType):
    """The fake module; ``calls`` counts the calls made to it, by name."""

    NVMLError = NVMLError
    nvmlMemory_v2 = 0x02000028

    def __init__(
        self,
        gpus: list[FakeGpu],
        init_error: int | None = None,
        memory_v2: bool = True,
        name_as_bytes: bool = False,
    ) -> None:
        super().__init__("pynvml")
        self.gpus = gpus
        self.init_error = init_error
        self.memory_v2 = memory_v2
        self.name_as_bytes = name_as_bytes
        self.calls: Counter[str] = Counter()

    @staticmethod
    def _check(gpu: FakeGpu) -> None:
        if gpu.error is not None:
            raise NVMLError(gpu.error)

    def nvmlInit(self) -> None:
        self.calls["nvmlInit"] += 1
        if self.init_error is not None:
            raise NVMLError(self.init_error)

    def nvmlDeviceGetCount(self) -> int:
        self.calls["nvmlDeviceGetCount"] += 1
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeGpu:
        self.calls["nvmlDeviceGetHandleByIndex"] += 1
        return self.gpus[index]

    def nvmlDeviceGetName(self, gpu: FakeGpu) -> str | bytes:
        self.calls["nvmlDeviceGetName"] += 1
        self._check(gpu)
        return gpu.name.encode() if self.name_as_bytes else gpu.name

    def nvmlDeviceGetMemoryInfo(self, gpu: FakeGpu, version: int | None = None) -> Any:
        self.calls["nvmlDeviceGetMemoryInfo"] += 1
        self._check(gpu)
        if version is None:
            used = gpu.used + gpu.reserved
            return types.SimpleNamespace(total=gpu.total, used=used, free=gpu.total - used)
        if not self.memory_v2:
            raise NVMLError(NVML_ERROR_FUNCTION_NOT_FOUND)
        assert version == self.nvmlMemory_v2
        free = gpu.total - gpu.used - gpu.reserved
        return types.SimpleNamespace(
            version=version, total=gpu.total, reserved=gpu.reserved, free=free, used=gpu.used
        )

    def nvmlDeviceGetUtilizationRates(self, gpu: FakeGpu) -> Any:
        self.calls["nvmlDeviceGetUtilizationRates"] += 1
        self._check(gpu)
        if gpu.hold is not None:
            gpu.hold.block()
        if not gpu.utilization_supported:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        return types.SimpleNamespace(gpu=gpu.gpu_percent, memory=gpu.memory_percent)


GiB = 2**30


def two_gpus() -> list[FakeGpu]:
    """An idle H100 and an A100 in use, in NVML's index order."""
    return [
        FakeGpu("NVIDIA H100 80GB HBM3", 80 * GiB, used=0, gpu_percent=0, memory_percent=0),
        FakeGpu(
            "NVIDIA A100-SXM4-40GB", 40 * GiB, used=10 * GiB, gpu_percent=87, memory_percent=45
        ),
    ]


#: What api/colab/resources reports for :func:`two_gpus` on a first read.
TWO_GPUS_FIGURES = [
    {
        "name": "NVIDIA H100 80GB HBM3",
        "memoryUsedBytes": 0,
        "memoryTotalBytes": 80 * GiB,
        "gpuUtilization": 0.0,
        "memoryUtilization": 0.0,
        "everUsed": False,
    },
    {
        "name": "NVIDIA A100-SXM4-40GB",
        "memoryUsedBytes": 10 * GiB,
        "memoryTotalBytes": 40 * GiB,
        "gpuUtilization": 0.87,
        "memoryUtilization": 0.45,
        "everUsed": True,
    },
]
