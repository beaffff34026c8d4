"""The local Jupyter servers and the bridge settings they run with.

Servers are found through their runtime files (what ``jupyter server list``
reads). Settings are read the way a server reads them at start-up: the
Jupyter config files on this user's config path, the ``jupyter_server_config.d``
files that enable extensions, and, where the system shows it (psutil reads it
on Linux, macOS and Windows), the server process's own ``--ColabBridge.*`` and
``--ServerApp.jpserver_extensions`` command-line options. Nothing is added to
the wire for this: the server is never asked for its configuration.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
from typing import Any

import psutil
from jupyter_server.extension.config import ExtensionConfigManager
from jupyter_server.serverapp import ServerApp, list_running_servers
from traitlets import TraitError
from traitlets.config import Config
from traitlets.config.loader import KVArgParseConfigLoader

from ..app import ColabBridge
from ..backend_url import WILDCARD_IPS, paste_url
from .observations import BridgeConfig, RunningServer

EXTENSION = "jupyter_colab_bridge"
#: Command-line options of a server that matter to the bridge.
_RELEVANT_OPTIONS = ("--ColabBridge.", "--ServerApp.jpserver_extensions=")


def backend_url_from_info(info: dict[str, Any]) -> str:
    """The URL to paste into Colab for a server's runtime file."""
    return paste_url(
        bool(info.get("secure")),
        info.get("hostname"),
        info.get("port"),
        info.get("base_url"),
        str(info.get("token") or ""),
    )


def server_from_info(info: dict[str, Any]) -> RunningServer:
    """A :class:`RunningServer` from one runtime file's contents."""
    ip = info.get("hostname") or "localhost"
    return RunningServer(
        backend_url=backend_url_from_info(info),
        scheme="https" if info.get("secure") else "http",
        ip=str(info.get("hostname") or ""),
        host="localhost" if ip in WILDCARD_IPS else ip,
        port=int(info.get("port") or 0),
        base_url=info.get("base_url") or "/",
        token=str(info.get("token") or ""),
        pid=info.get("pid"),
        root_dir=str(info.get("root_dir") or ""),
        sock=str(info.get("sock") or ""),
        version=str(info.get("version") or ""),
        password=bool(info.get("password")),
    )


def running_servers(runtime_dir: str | None = None) -> list[RunningServer]:
    """The running Jupyter servers of this user, ordered by port."""
    servers = [server_from_info(info) for info in list_running_servers(runtime_dir)]
    return sorted(servers, key=lambda s: (s.port, s.pid or 0))


def process_command_line(pid: int | None) -> list[str] | None:
    """A process's arguments (psutil: Linux, macOS, Windows), or None where not shown.

    None for a process that is gone, another user's that the system hides
    (macOS, Windows), or a system that does not say.
    """
    if not pid:
        return None
    try:
        argv = psutil.Process(int(pid)).cmdline()
    except (psutil.Error, OSError, ValueError):
        return None
    return [str(arg) for arg in argv if arg] or None


def command_line_config(argv: list[str]) -> Config:
    """The options of ``argv`` that concern the bridge, parsed like traitlets does."""
    relevant = [a for a in argv if a.startswith(_RELEVANT_OPTIONS) and "=" in a]
    if not relevant:
        return Config()
    return KVArgParseConfigLoader(relevant, classes=[ServerApp, ColabBridge]).load_config()


def _files_disabling(config_dirs: list[str]) -> list[str]:
    found = []
    for directory in config_dirs:
        names = sorted(glob.glob(os.path.join(directory, "jupyter_server_config.d", "*.json")))
        names.append(os.path.join(directory, "jupyter_server_config.json"))
        for name in names:
            try:
                with open(name, encoding="utf-8") as f:
                    data = json.load(f)
                value = data["ServerApp"]["jpserver_extensions"][EXTENSION]
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if value is False:
                found.append(name)
    return found


def bridge_config(pid: int | None = None) -> BridgeConfig:
    """Read the settings as jupyter_server would, plus server ``pid``'s options."""
    result = BridgeConfig(sources=["Jupyter config files"])
    try:
        serverapp = ServerApp()
        serverapp.load_config_file()
        argv = process_command_line(pid)
        cli = command_line_config(argv) if argv else Config()
        if argv is not None:
            result.sources.append(f"the command line of process {pid}")
        serverapp.update_config(cli)
        paths = list(serverapp.config_file_paths)
        extensions = ExtensionConfigManager(read_config_path=paths).get_jpserver_extensions()
        extensions.update(serverapp.jpserver_extensions)
        if EXTENSION in extensions:
            result.enabled = bool(extensions[EXTENSION])
        if result.enabled is False:
            result.disabled_by = _files_disabling(paths)
            if cli.get("ServerApp", {}).get("jpserver_extensions", {}).get(EXTENSION) is False:
                result.disabled_by.append(f"the command line of process {pid}")
        bridge = ColabBridge()
        bridge.serverapp = serverapp
        bridge.load_config_file()
        bridge.update_config(serverapp.config)
        result.allowed_origins = list(bridge.allowed_origins)
        result.allowed_origin_patterns = list(bridge.allowed_origin_patterns)
        result.kernel_map = dict(bridge.kernel_map)
    except (TraitError, ValueError, OSError, SystemExit) as e:
        result.error = f"could not read the configuration: {e}"
    return result


def server_python(pid: int | None) -> str | None:
    """The Python interpreter a server process runs, where the system shows it."""
    argv = process_command_line(pid)
    if not argv:
        return None
    exe = argv[0]
    if os.path.isabs(exe) and os.path.basename(exe).startswith("python"):
        return exe
    return None


def python_imports_bridge(python: str) -> bool | None:
    """Whether ``python`` can import this package; None if it cannot be run."""
    try:
        done = subprocess.run(
            [python, "-c", f"import {EXTENSION}.app"],
            capture_output=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.returncode == 0


def in_container() -> bool:
    """Whether this process looks like it runs in a Docker or Podman container."""
    return os.path.exists("/.dockerenv") or os.path.exists("/run/.containerenv")
