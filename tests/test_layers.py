"""The package's layers, as docs/explanation/how-it-works.md's layout table claims them.

Every module is read with :mod:`ast` (never imported), and every import in it
counts: at the top, inside a function (a lazy import), under
``TYPE_CHECKING``, and ``importlib.import_module("...")`` with a literal name.

* The user's tools (``doctor/`` and the command line, ``cli.py``) depend on the
  server side, never the reverse: no module outside them (``app.py``,
  ``server/``, ``protocol/``, ``runtime/``, the modules both sides share)
  imports ``doctor`` or ``cli``.
* ``protocol/`` is pure: no tornado I/O (``tornado.httputil``'s types and
  ``tornado.escape`` are fine), no jupyter_server or jupyter_client, no
  sockets, no asyncio (its event loop and streams are I/O by definition).
* The doctor's verdicts (``doctor/diagnoses.py``, ``kernel_facts.py``, ``surfaces.py`` and the
  facts they judge, ``observations.py``) are as pure, and import none of the
  doctor's modules that observe (the client, the kernel run, the local
  servers, the checks, the command line).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import jupyter_colab_bridge

PACKAGE = Path(jupyter_colab_bridge.__file__).resolve().parent
NAME = "jupyter_colab_bridge"
DOCTOR = f"{NAME}.doctor"
CLI = f"{NAME}.cli"
#: The user's tools: only they may import them.
TOOLS = (DOCTOR, CLI)

#: Modules ``protocol/`` must not import (a module or any of its submodules).
PROTOCOL_FORBIDDEN = (
    # tornado's I/O: servers, clients, sockets, the event loop
    "tornado.web",
    "tornado.websocket",
    "tornado.iostream",
    "tornado.ioloop",
    "tornado.httpserver",
    "tornado.httpclient",
    "tornado.simple_httpclient",
    "tornado.curl_httpclient",
    "tornado.http1connection",
    "tornado.tcpserver",
    "tornado.tcpclient",
    "tornado.netutil",
    # the server and kernels
    "jupyter_server",
    "jupyter_client",
    "zmq",
    # networking of the standard library
    "asyncio",
    "socket",
    "ssl",
    "selectors",
    "socketserver",
    "http.client",
    "http.server",
    "urllib.request",
)

#: The doctor's pure modules, and what they must not import besides PROTOCOL_FORBIDDEN.
VERDICTS = tuple(f"{DOCTOR}.{m}" for m in ("diagnoses", "kernel_facts", "observations", "surfaces"))
_OBSERVING = ("colab_client", "kernel_run", "server_info", "checks")
OBSERVERS = (*(f"{DOCTOR}.{m}" for m in _OBSERVING), CLI, "subprocess")


def module_name(path: Path) -> str:
    """``jupyter_colab_bridge.protocol.paths`` for ``.../protocol/paths.py``."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(source: str, module: str, is_package: bool = False) -> Iterator[str]:
    """Every module name ``source`` (the text of ``module``) imports, made absolute.

    ``from x import y`` yields both ``x`` and ``x.y`` (``y`` may be a submodule).
    """
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            yield origin
            yield from (f"{origin}.{alias.name}" for alias in node.names)
        elif (
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and (
                (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                or (
                    isinstance(node.func, ast.Name)
                    and node.func.id in ("__import__", "import_module")
                )
            )
        ):
            yield node.args[0].value


def within(name: str, prefixes: tuple[str, ...]) -> str | None:
    """The first of ``prefixes`` that is ``name`` or a package above it."""
    for prefix in prefixes:
        if name == prefix or name.startswith(prefix + "."):
            return prefix
    return None


def violations(path: Path, source: str | None = None) -> list[str]:
    """What the module at ``path`` (or ``source`` standing for it) imports against the layers."""
    module = module_name(path)
    text = path.read_text(encoding="utf-8") if source is None else source
    found = []
    for name in imported_names(text, module, path.name == "__init__.py"):
        if within(module, TOOLS) is None and within(name, TOOLS):
            found.append(f"{module} imports {name}: only doctor/ and cli may use doctor/ and cli")
        if within(module, (f"{NAME}.protocol",)):
            banned = within(name, PROTOCOL_FORBIDDEN)
            if banned:
                found.append(f"{module} imports {name}: protocol/ does no I/O ({banned})")
        if module in VERDICTS:
            banned = within(name, PROTOCOL_FORBIDDEN + OBSERVERS)
            if banned:
                found.append(f"{module} imports {name}: the verdicts do no I/O ({banned})")
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=[module_name(p) for p in MODULES])
def test_module_keeps_its_layer(path: Path) -> None:
    assert violations(path) == []


def test_every_layer_is_walked() -> None:
    """The walk sees the layers it judges (a renamed folder would pass unseen otherwise)."""
    names = {module_name(p) for p in MODULES}
    for expected in ("app", "backend_url", "protocol.origins", "server.handlers", "cli"):
        assert f"{NAME}.{expected}" in names
    assert any(n.startswith(f"{NAME}.runtime.") for n in names)


SERVER_SIDE = [
    PACKAGE / "app.py",
    PACKAGE / "server" / "handlers.py",
    PACKAGE / "runtime" / "handlers.py",
    PACKAGE / "protocol" / "origins.py",
    PACKAGE / "backend_url.py",
    PACKAGE / "__init__.py",
]


@pytest.mark.parametrize("path", SERVER_SIDE, ids=lambda p: module_name(p))
@pytest.mark.parametrize(
    "line",
    [
        "from {up}doctor.server_info import paste_url",
        "from {up}doctor import checks",
        "from {up} import doctor",
        "import jupyter_colab_bridge.doctor.checks",
        "from jupyter_colab_bridge import doctor",
        "def f():\n    from {up}doctor.colab_client import ApiAnswer",
        "if TYPE_CHECKING:\n    from {up}doctor.diagnoses import CheckResult",
        "importlib.import_module('jupyter_colab_bridge.doctor.checks')",
        "from {up}cli import main",
        "import jupyter_colab_bridge.cli",
    ],
)
def test_an_import_of_the_doctor_is_caught(path: Path, line: str) -> None:
    """The checker itself: each way of reaching doctor/ from the server side is reported."""
    depth = len(path.relative_to(PACKAGE).parts) - 1  # 0 for app.py, 1 for server/x.py
    line = line.format(up="." * (depth + 1))  # the relative import of the package's root
    found = violations(path, path.read_text(encoding="utf-8") + "\n" + line + "\n")
    assert len(found) >= 1 and all("only doctor/ and cli may use" in f for f in found), found


@pytest.mark.parametrize(
    "line",
    [
        "from tornado import web",
        "import tornado.websocket",
        "from tornado.ioloop import IOLoop",
        "from tornado.iostream import IOStream",
        "from tornado.httpclient import AsyncHTTPClient",
        "from tornado.netutil import bind_sockets",
        "from tornado import tcpserver",
        "from jupyter_server.base.handlers import JupyterHandler",
        "import asyncio",
        "from asyncio import open_connection",
        "import socket",
    ],
)
def test_io_in_protocol_is_caught(line: str) -> None:
    path = PACKAGE / "protocol" / "origins.py"
    found = violations(path, path.read_text(encoding="utf-8") + "\n" + line + "\n")
    assert found and all("protocol/ does no I/O" in f for f in found), found


def test_a_pure_protocol_module_passes() -> None:
    """What protocol/ may use: tornado's pure HTTP types and escaping, the standard library."""
    source = (
        "from __future__ import annotations\n"
        "import re\n"
        "from tornado import httputil\n"
        "from tornado.httputil import HTTPHeaders\n"
        "from tornado.escape import url_unescape\n"
        "from urllib.parse import urlsplit\n"
        "from .origins import OriginPolicy\n"
        "from . import paths\n"
    )
    assert violations(PACKAGE / "protocol" / "cors.py", source) == []


@pytest.mark.parametrize("verdicts", ["diagnoses", "kernel_facts", "observations", "surfaces"])
@pytest.mark.parametrize(
    "line",
    [
        "from .colab_client import Target",
        "from .server_info import BridgeConfig",
        "from . import kernel_run",
        "from ..cli import print_report",
        "from tornado.httpclient import HTTPResponse",
        "import subprocess",
    ],
)
def test_io_in_the_verdicts_is_caught(verdicts: str, line: str) -> None:
    path = PACKAGE / "doctor" / f"{verdicts}.py"
    found = violations(path, path.read_text(encoding="utf-8") + "\n" + line + "\n")
    assert found and all("the verdicts do no I/O" in f for f in found), found


def test_the_doctor_may_use_the_server_side() -> None:
    path = PACKAGE / "doctor" / "server_info.py"
    assert violations(path, "from ..app import ColabBridge\nfrom ..server import base\n") == []
