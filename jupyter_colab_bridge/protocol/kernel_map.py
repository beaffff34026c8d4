"""The kernel map: which kernel a page's request for a kernel name really gets.

``ColabBridge.kernel_map`` (e.g. ``{"python3": "myenv"}``) rewrites the kernel
name in the requests of an allowed page that create or change a kernel:

* ``POST api/sessions`` and ``PATCH api/sessions/<id>``: ``{"kernel": {"name": ...}}``
* ``POST api/kernels``: ``{"name": ...}``

A request that names no kernel gets the server's default kernel, so the map
applies to that default name too (``POST`` only; a ``PATCH`` without a
kernel name changes no kernel). Pure code: bytes in, bytes out, no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

#: The setting's name, as the user writes it in a config file.
SETTING = "c.ColabBridge.kernel_map"

#: The kernel name Colab's page asks for in a Python notebook.
COLAB_PYTHON_KERNEL = "python3"

# jupyter_server's routes (services/sessions/handlers.py, services/kernels/handlers.py),
# matched on the raw path as tornado matches them.
_SESSION_ID = r"[^/]+"
_SESSIONS = re.compile(r"api/sessions")
_SESSION = re.compile(rf"api/sessions/{_SESSION_ID}")
_KERNELS = re.compile(r"api/kernels")

# jupyter_client's kernel names (kernelspec._is_valid_kernel_name).
_KERNEL_NAME = re.compile(r"[a-zA-Z0-9._-]+")


class KernelMapError(ValueError):
    """The map sends a request to a kernel this server does not have."""

    def __init__(self, requested: str, mapped: str, existing: Iterable[str]) -> None:
        self.requested = requested
        self.mapped = mapped
        self.existing = sorted(existing)
        super().__init__(
            f"{SETTING} sends the kernel {requested!r} to {mapped!r}, which this server "
            f"does not have. Kernels it has: {', '.join(self.existing) or '(none)'}. "
            f"Fix {SETTING}, or install that kernel (jupyter kernelspec list shows them)."
        )

    @property
    def reason(self) -> str:
        """A short status reason."""
        return f"kernel {self.mapped} not found"


class BodyNotJson(ValueError):
    """A body the map cannot read as JSON although it may look like it (too deeply nested)."""


@dataclass(frozen=True)
class Remap:
    """One rewritten request: the new body, what was asked and what it gets."""

    body: bytes
    requested: str
    mapped: str


def request_kind(method: str, path: str, base_url: str) -> str | None:
    """``"session"`` or ``"kernel"`` for a request that picks a kernel, else None.

    ``path`` is the raw request path (no query), ``base_url`` the server's.
    """
    if not path.startswith(base_url):
        return None
    rel = path[len(base_url) :]
    method = method.upper()
    if method == "POST" and _SESSIONS.fullmatch(rel):
        return "session"
    if method == "PATCH" and _SESSION.fullmatch(rel):
        return "session"
    if method == "POST" and _KERNELS.fullmatch(rel):
        return "kernel"
    return None


def colab_python_kernel(kernel_map: Mapping[str, str]) -> str:
    """The kernel Colab's Python notebooks (which ask for ``python3``) get."""
    return kernel_map.get(COLAB_PYTHON_KERNEL, COLAB_PYTHON_KERNEL)


def validate_map(value: Mapping[object, object]) -> dict[str, str]:
    """The setting as a plain dict of non-empty names; ValueError naming the bad entry."""
    out: dict[str, str] = {}
    for key, target in value.items():
        if not (
            isinstance(key, str)
            and isinstance(target, str)
            and _KERNEL_NAME.fullmatch(key)
            and _KERNEL_NAME.fullmatch(target)
        ):
            raise ValueError(
                f"{SETTING} maps kernel names to kernel names (letters, digits, '.', '_', '-'), "
                f"e.g. {{'python3': 'myenv'}}; got {key!r}: {target!r}"
            )
        out[key] = target
    return out


def remap_body(
    kind: str,
    method: str,
    body: bytes,
    kernel_map: Mapping[str, str],
    default_name: str,
    existing: Iterable[str] | None = None,
) -> Remap | None:
    """The body with the mapped kernel name, or None when the map does not apply.

    A body that is not a JSON object is left alone: the server answers it
    with its own error; one nested too deeply to parse raises
    :class:`BodyNotJson` (the server's own parser would fail on it too, with
    a less clear answer). With ``existing``, raises :class:`KernelMapError`
    when the mapped kernel is not among them (:func:`check_target`).
    """
    if not kernel_map:
        return None
    if body.strip():
        try:
            model = json.loads(body)
        except RecursionError:
            raise BodyNotJson(
                "The request body is not JSON: it is nested too deeply to parse."
            ) from None
        except (ValueError, UnicodeDecodeError):
            return None
    else:
        model = {}
    if not isinstance(model, dict):
        return None
    holder: dict[str, object]
    if kind == "session":
        kernel = model.get("kernel")
        if kernel is None and method.upper() == "POST":
            kernel = model["kernel"] = {}
        if not isinstance(kernel, dict) or kernel.get("id"):
            return None  # another shape, or an existing kernel: not ours to change
        holder = kernel
    else:
        holder = model
    requested = holder.get("name")
    if requested is None or requested == "":
        if method.upper() != "POST":
            return None
        requested = default_name
    if not isinstance(requested, str) or requested not in kernel_map:
        return None
    mapped = kernel_map[requested]
    holder["name"] = mapped
    remap = Remap(json.dumps(model).encode(), requested, mapped)
    if existing is not None:
        check_target(remap, existing)
    return remap


def check_target(remap: Remap, existing: Iterable[str]) -> None:
    """:class:`KernelMapError` when ``remap`` sends to a kernel not among ``existing``."""
    names = set(existing)
    if remap.mapped not in names:
        raise KernelMapError(remap.requested, remap.mapped, names)


def describe_map(kernel_map: Mapping[str, str], existing: Iterable[str]) -> tuple[str, list[str]]:
    """A start-up line for the map, and one warning per target that does not exist."""
    names = set(existing)
    pairs = ", ".join(f"{k} -> {v}" for k, v in sorted(kernel_map.items()))
    missing = [
        f"{SETTING} sends {k!r} to {v!r}, which this server does not have "
        f"(kernels: {', '.join(sorted(names)) or '(none)'}); a page asking for {k!r} "
        "will get an error"
        for k, v in sorted(kernel_map.items())
        if v not in names
    ]
    return f"Colab bridge: kernel map for Colab's pages: {pairs}", missing
