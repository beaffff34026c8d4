"""Real Jupyter servers as subprocesses, for tests that need a whole process.

Some set-ups cannot run inside pytest-jupyter's in-process server: TLS
(``certfile``/``keyfile``), ``jupyter lab`` and ``jupyter notebook``, a server
pointed at a Kernel Gateway. :func:`running` starts one on 127.0.0.1 with a
free port, a known token and its own config/data/runtime directories, waits
until ``api/status`` answers, and stops it afterwards (kernels included).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

TOKEN = "subprocess-t0ken"

#: How long a server may take to answer ``api/status`` (a cold JupyterLab
#: start on a loaded 2-core machine is the slow case).
START_TIMEOUT = 90.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A running server: where it listens and how to authenticate."""

    proc: subprocess.Popen[bytes]
    port: int
    token: str
    base_url: str
    scheme: str
    log: Path

    @property
    def url(self) -> str:
        """``http(s)://127.0.0.1:<port><base_url>``."""
        return f"{self.scheme}://127.0.0.1:{self.port}{self.base_url}"

    @property
    def ws_scheme(self) -> str:
        return "wss" if self.scheme == "https" else "ws"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def isolated_env(root: Path, extensions: dict[str, bool] | None = None) -> dict[str, str]:
    """Environment with Jupyter's config, data and runtime dirs under ``root``.

    The config dir enables ``jupyter_colab_bridge`` (plus ``extensions``), so
    the test does not depend on how the package was installed.
    """
    config = root / "config"
    config.mkdir(parents=True, exist_ok=True)
    enabled = {"jupyter_colab_bridge": True, **(extensions or {})}
    (config / "jupyter_server_config.json").write_text(
        json.dumps({"ServerApp": {"jpserver_extensions": enabled}})
    )
    env = dict(os.environ)
    env.update(
        JUPYTER_CONFIG_DIR=str(config),
        JUPYTER_DATA_DIR=str(root / "data"),
        JUPYTER_RUNTIME_DIR=str(root / "runtime"),
        JUPYTER_PLATFORM_DIRS="1",
        IPYTHONDIR=str(root / "ipython"),
        PYTHONUNBUFFERED="1",
    )
    return env


def _answers(url: str, token: str, context: ssl.SSLContext | None) -> bool:
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    try:
        with urllib.request.urlopen(request, timeout=5, context=context) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def wait_for_http(
    proc: subprocess.Popen[bytes],
    url: str,
    token: str,
    log: Path,
    ca_file: Path | None = None,
    ready_path: str = "api/status",
) -> None:
    """Poll ``<url><ready_path>`` until it answers 200; fail with the log if the process dies."""
    context = ssl.create_default_context(cafile=str(ca_file)) if ca_file else None
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        if _answers(url + ready_path, token, context):
            return
        time.sleep(0.2)
    raise RuntimeError(f"server did not answer {url}{ready_path}:\n{log.read_text()[-4000:]}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM (a Jupyter server then shuts its kernels down); SIGKILL if it lingers."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


@contextmanager
def running(
    tmp_path: Path,
    app: str = "jupyter_server",
    args: Sequence[str] = (),
    base_url: str = "/",
    token: str = TOKEN,
    certfile: Path | None = None,
    keyfile: Path | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[Server]:
    """Run ``python -m <app>`` (``jupyter_server``, ``jupyterlab``, ``notebook``) as a server.

    With ``certfile``/``keyfile`` it serves HTTPS; readiness is then checked
    against ``certfile`` as the trusted CA (a self-signed certificate).
    """
    root = tmp_path / f"{app}-home"
    notebooks = root / "notebooks"
    notebooks.mkdir(parents=True, exist_ok=True)
    port = free_port()
    command = [
        sys.executable,
        "-m",
        app,
        "--no-browser",
        "--allow-root",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.base_url={base_url}",
        f"--ServerApp.root_dir={notebooks}",
        f"--IdentityProvider.token={token}",
    ]
    scheme = "http"
    if certfile is not None:
        command += [f"--ServerApp.certfile={certfile}", f"--ServerApp.keyfile={keyfile}"]
        scheme = "https"
    command += list(args)
    proc, log = _spawn(command, root, env or isolated_env(root), notebooks)
    server = Server(proc, port, token, base_url, scheme, log)
    try:
        wait_for_http(proc, server.url, token, log, ca_file=certfile)
        yield server
    finally:
        stop(proc)


@contextmanager
def kernel_gateway(tmp_path: Path, token: str = "gateway-t0ken") -> Iterator[Server]:
    """Run a Jupyter Kernel Gateway (``jupyter kernelgateway``) on 127.0.0.1."""
    root = tmp_path / "kernel-gateway-home"
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "kernel_gateway",
        "--KernelGatewayApp.ip=127.0.0.1",
        f"--KernelGatewayApp.port={port}",
        "--KernelGatewayApp.port_retries=0",
        f"--KernelGatewayApp.auth_token={token}",
        # jupyter_server lists kernels (api/status, api/sessions); the gateway forbids it by default
        "--JupyterWebsocketPersonality.list_kernels=True",
    ]
    proc, log = _spawn(command, root, isolated_env(root), root)
    server = Server(proc, port, token, "/", "http", log)
    try:
        wait_for_http(proc, server.url, token, log, ready_path="api/kernelspecs")
        yield server
    finally:
        stop(proc)


def _spawn(
    command: list[str], root: Path, env: dict[str, str], cwd: Path
) -> tuple[subprocess.Popen[bytes], Path]:
    """Start ``command`` with its output in ``root/server.log``."""
    log = root / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=str(cwd),
        )
    return proc, log


def start_or_exit(tmp_path: Path, *args: str) -> tuple[int | None, str]:
    """Start ``jupyter server`` with ``args`` until it serves or exits.

    Returns its exit code (None: it started, and was stopped again) and its log.
    """
    env = dict(
        os.environ,
        JUPYTER_RUNTIME_DIR=str(tmp_path / "rt"),
        JUPYTER_CONFIG_DIR=str(tmp_path / "cfg"),
    )
    cmd = [
        sys.executable,
        "-m",
        "jupyter_server",
        "--no-browser",
        "--allow-root",
        "--port=0",
        "--IdentityProvider.token=x",
        f"--ServerApp.root_dir={tmp_path}",
        *args,
    ]
    log = tmp_path / "server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
        code: int | None = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            code = proc.poll()
            if code is not None or "Colab local runtime bridge" in log.read_text():
                break
            time.sleep(0.1)
        if code is None:  # it started: stop it
            proc.terminate()
            proc.wait(timeout=30)
    return code, log.read_text()
