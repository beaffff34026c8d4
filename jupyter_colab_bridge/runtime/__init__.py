"""Colab's runtime API (``api/colab/*``): the figures behind Colab's resource monitor.

Colab's own runtimes load a server extension that answers
``api/colab/resources`` (memory, each kernel's memory, disk, GPUs),
``api/colab/build-info`` and ``api/colab/drive`` (docs/protocol.md section 6). This
subpackage serves the same contract from any Jupyter server: system figures
in :mod:`.resources` (psutil), GPU figures in :mod:`.gpus` (NVML), and the
handlers that translate them to HTTP in :mod:`.handlers`.
"""
