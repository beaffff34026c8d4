"""jupyter_server with the bridge, in a subprocess."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from .common import free_port


class Server:
    """jupyter_server with the bridge, in a subprocess.

    ``bridge``: extra ``ColabBridge`` settings (none by default: the server's
    default allowlist, which includes Colab's origin). ``enabled=False``: the
    same server without the bridge (a reference).
    """

    def __init__(
        self, tmp: Path, bridge: dict[str, Any] | None = None, enabled: bool = True
    ) -> None:
        self.tmp = tmp
        self.port = free_port()
        self.token = uuid.uuid4().hex
        self.root = tmp / "root"
        self.runtime = tmp / "runtime"
        self.root.mkdir()
        self.runtime.mkdir()
        self.bridge = dict(bridge or {})
        self.enabled = enabled
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = tmp / "server.log"

    def start(self) -> None:
        config: dict[str, Any] = {
            "ServerApp": {
                "jpserver_extensions": {"jupyter_colab_bridge": self.enabled},
                "port": self.port,
                "port_retries": 0,
                "ip": "127.0.0.1",
                "open_browser": False,
                "root_dir": str(self.root),
                "allow_root": True,
                "log_level": "WARN",
            },
            "IdentityProvider": {"token": self.token},
            "ZMQChannelsWebsocketConnection": {
                "iopub_msg_rate_limit": 0.0,
                "iopub_data_rate_limit": 0.0,
            },
        }
        if self.bridge:
            config["ColabBridge"] = self.bridge
        config_path = self.tmp / "jupyter_server_config.json"
        config_path.write_text(json.dumps(config))
        env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(self.runtime), PYTHONUNBUFFERED="1")
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "jupyter_server", f"--config={config_path}"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=str(self.tmp),
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()[-3000:]}")
            try:
                status, _ = http_get(self.port, "/api/status", self.headers)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("server did not start within 60 s")

    @property
    def url(self) -> str:
        """The server's URL (base_url ``/``)."""
        return f"http://127.0.0.1:{self.port}/"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start_kernel(self, name: str = "python3") -> str:
        """Start a kernel through the REST API; return its id."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(
                "POST",
                "/api/kernels",
                body=json.dumps({"name": name}),
                headers={**self.headers, "Content-Type": "application/json"},
            )
            response = conn.getresponse()
            assert response.status == 201, response.status
            return str(json.loads(response.read())["id"])
        finally:
            conn.close()

    def connection_file(self, kernel_id: str) -> Path:
        """The kernel's connection file (waits up to 30 s for it)."""
        path = self.runtime / f"kernel-{kernel_id}.json"
        deadline = time.monotonic() + 30
        while not path.exists():
            if time.monotonic() > deadline:
                raise RuntimeError(f"no connection file {path}")
            time.sleep(0.05)
        return path

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            conn.request("POST", "/api/shutdown", headers=self.headers)
            conn.getresponse().read()
        except OSError:
            pass
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def http_get(port: int, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()
