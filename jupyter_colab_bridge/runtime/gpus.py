"""NVIDIA GPU figures through NVML, for ``api/colab/resources``.

NVML is NVIDIA's management library, the one ``nvidia-smi`` itself calls. Its
Python binding, ``nvidia-ml-py`` (module ``pynvml``), is an optional extra:
``pip install 'jupyter_colab_bridge[gpu]'``. The library is loaded and
initialised once, on the first read, and stays so for the life of the server;
no process is started. With no binding, no driver or no GPU every read is
``[]`` and one log line says why.
"""

from __future__ import annotations

import importlib
import logging
import shutil
import threading
from dataclasses import dataclass
from typing import Any, TypedDict

#: The module of NVIDIA's binding (distribution ``nvidia-ml-py``).
BINDING = "pynvml"

#: NVML error codes (``nvml.h``) that mean "this call is not available here".
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_FUNCTION_NOT_FOUND = 13


class GpuFigures(TypedDict):
    """One GPU as Colab's resource monitor reads it."""

    name: str
    memoryUsedBytes: int
    memoryTotalBytes: int
    gpuUtilization: float
    memoryUtilization: float
    everUsed: bool


@dataclass
class _Gpu:
    index: int
    handle: Any
    name: str | None = None
    ever_used: bool = False


def _fraction(percent: Any) -> float:
    """NVML's percent (0..100) as a fraction (0..1)."""
    return min(max(float(percent) / 100.0, 0.0), 1.0)


def _text(value: Any) -> str:
    """A name from NVML: ``bytes`` from old bindings, ``str`` from new ones."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _error_code(error: BaseException) -> Any:
    """The NVML return code of a ``pynvml.NVMLError`` (its ``value``), else None."""
    return getattr(error, "value", None)


class GpuReader:
    """Reads each GPU's name, memory and utilisation, in NVML's index order.

    ``nvml`` is the binding module; None imports :data:`BINDING` on the first
    read (tests pass a fake). ``everUsed`` is remembered per GPU: true once
    its used memory was above zero, and from then on. A GPU whose read fails
    is left out of that read, with a warning the first time for each kind of
    failure. Reads are serialised by a lock; NVML itself is thread-safe.
    """

    def __init__(self, log: logging.Logger, nvml: Any = None) -> None:
        self.log = log
        self._nvml = nvml
        self._lock = threading.Lock()
        self._gpus: list[_Gpu] | None = None  # None until NVML was started
        self._memory_v2 = True
        self._reported: set[tuple[int, str]] = set()
        self._no_utilization: set[int] = set()

    def read(self) -> list[GpuFigures]:
        """The figures of every GPU that could be read now; ``[]`` without NVML."""
        with self._lock:
            if self._gpus is None:
                self._gpus = self._start()
            figures = (self._read_one(gpu) for gpu in self._gpus)
            return [f for f in figures if f is not None]

    def _start(self) -> list[_Gpu]:
        """Load and initialise NVML, once; the GPUs it has (none if it cannot start)."""
        if self._nvml is None:
            try:
                self._nvml = importlib.import_module(BINDING)
            except ImportError:
                self._log_no_binding()
                return []
        nvml = self._nvml
        try:
            nvml.nvmlInit()
            count = int(nvml.nvmlDeviceGetCount())
        except Exception as e:  # NVMLError, or OSError/ctypes errors from a broken install
            self.log.info("Colab runtime API: no GPU figures: NVML did not start (%s)", e)
            return []
        gpus = []
        for index in range(count):
            try:
                gpus.append(_Gpu(index, nvml.nvmlDeviceGetHandleByIndex(index)))
            except Exception as e:  # a GPU NVML lists but cannot open (lost, no permission)
                self.log.warning("Colab runtime API: GPU %d left out: %s", index, e)
        if gpus:
            self.log.info("Colab runtime API: GPU figures from NVML, %d GPU(s)", len(gpus))
        else:
            self.log.info("Colab runtime API: no GPU figures: NVML lists no GPU")
        return gpus

    def _log_no_binding(self) -> None:
        if shutil.which("nvidia-smi"):  # a lookup on PATH only; nothing is run
            self.log.info(
                "Colab runtime API: no GPU figures: the NVIDIA driver is here but its "
                "Python binding is not; pip install 'jupyter_colab_bridge[gpu]' to show GPUs"
            )
        else:
            self.log.debug("Colab runtime API: no GPU figures: %s is not installed", BINDING)

    def _read_one(self, gpu: _Gpu) -> GpuFigures | None:
        nvml = self._nvml
        try:
            if gpu.name is None:
                gpu.name = _text(nvml.nvmlDeviceGetName(gpu.handle))
            used, total = self._memory(gpu.handle)
            gpu_util, memory_util = self._utilization(gpu)
        except Exception as e:  # whatever NVML raises for one GPU must not fail the reply
            self._report(gpu.index, e)
            return None
        gpu.ever_used = gpu.ever_used or used > 0
        return {
            "name": gpu.name,
            "memoryUsedBytes": used,
            "memoryTotalBytes": total,
            "gpuUtilization": gpu_util,
            "memoryUtilization": memory_util,
            "everUsed": gpu.ever_used,
        }

    def _memory(self, handle: Any) -> tuple[int, int]:
        """(used, total) bytes.

        NVML's version 2 reports the driver's reserved memory apart, so an
        idle GPU reads 0 used, as ``nvidia-smi`` shows it; version 1 counts
        the reserved memory as used. Version 1 where 2 is missing (drivers
        before R510, bindings before 11.510).
        """
        nvml = self._nvml
        if self._memory_v2:
            try:
                info = nvml.nvmlDeviceGetMemoryInfo(handle, version=nvml.nvmlMemory_v2)
                return int(info.used), int(info.total)
            except (AttributeError, TypeError):  # a binding without version 2
                self._memory_v2 = False
            except nvml.NVMLError as e:
                if _error_code(e) not in (NVML_ERROR_FUNCTION_NOT_FOUND, NVML_ERROR_NOT_SUPPORTED):
                    raise
                self._memory_v2 = False
            self.log.debug("Colab runtime API: NVML memory info version 2 unavailable; using 1")
        info = nvml.nvmlDeviceGetMemoryInfo(handle)
        return int(info.used), int(info.total)

    def _utilization(self, gpu: _Gpu) -> tuple[float, float]:
        """(GPU, memory) utilisation as fractions; 0.0 where NVML does not support it.

        Some GPUs report no utilisation (MIG instances, some virtual GPUs);
        their memory figures are still worth showing.
        """
        nvml = self._nvml
        try:
            rates = nvml.nvmlDeviceGetUtilizationRates(gpu.handle)
        except nvml.NVMLError as e:
            if _error_code(e) != NVML_ERROR_NOT_SUPPORTED:
                raise
            if gpu.index not in self._no_utilization:
                self._no_utilization.add(gpu.index)
                self.log.info(
                    "Colab runtime API: GPU %d reports no utilisation; showing 0", gpu.index
                )
            return 0.0, 0.0
        return _fraction(rates.gpu), _fraction(rates.memory)

    def _report(self, index: int, error: Exception) -> None:
        """A warning the first time a GPU fails in a given way, then debug lines."""
        key = (index, f"{type(error).__name__}: {error}")
        if key in self._reported:
            self.log.debug("Colab runtime API: GPU %d left out: %s", index, key[1])
            return
        self._reported.add(key)
        self.log.warning("Colab runtime API: GPU %d left out of the figures: %s", index, key[1])
