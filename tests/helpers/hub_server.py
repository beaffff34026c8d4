"""A real JupyterHub for tests: Hub, configurable-http-proxy and user servers.

:func:`running_hub` starts JupyterHub on 127.0.0.1 (free ports for the proxy,
the Hub and the proxy's API) in its own directory (sqlite database, cookie
secret, generated config file), with configurable-http-proxy from
``tests/hub/node_modules/.bin``, the dummy authenticator and JupyterHub's
``SimpleLocalProcessSpawner``, which runs each user's ``jupyterhub-singleuser``
from this Python environment as the Hub's own user, with
``jupyter_colab_bridge`` enabled through the spawned server's
``JUPYTER_CONFIG_DIR``. Everything else keeps the Hub's defaults (in
particular ``HubAuth.allow_token_in_url`` stays off).

The test drives the Hub through its REST API with an admin service token
(:class:`Hub`: create users, start and stop their servers, create their API
tokens). The Hub's output goes to ``hub.log``, each user server's to
``servers/<name>.log``; :meth:`Hub.logs` gathers them for failure messages.
On exit the Hub stops the user servers and the proxy; any process it started
that is still alive after that is killed.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.helpers.servers import free_port

HUB_TESTS = Path(__file__).parent.parent / "hub"
PROXY_COMMAND = HUB_TESTS / "node_modules" / ".bin" / "configurable-http-proxy"
SETUP_HINT = "run scripts/setup-hub-tests .venv (or scripts/run-tests, which does)"

#: The Hub's own start: database, proxy, routes (a loaded 2-core machine is the slow case).
HUB_START_TIMEOUT = 120.0
#: One user server, from the spawn request until the Hub reports it ready.
SERVER_START_TIMEOUT = 120.0
#: Stopping a user server, or the whole Hub.
STOP_TIMEOUT = 60.0
#: Each request to the Hub's REST API.
API_TIMEOUT = 30.0

ADMIN_SERVICE = "colab-bridge-tests"


def missing_prerequisite() -> str | None:
    """Why a Hub cannot run here, or None when it can."""
    try:
        import jupyterhub  # noqa: F401
    except ImportError:
        return "the Python package 'jupyterhub' is not installed"
    try:
        import psutil  # noqa: F401
    except ImportError:
        return "the Python package 'psutil' is not installed"
    if not os.access(PROXY_COMMAND, os.X_OK):
        return f"{PROXY_COMMAND.relative_to(HUB_TESTS.parent.parent)} is missing (needs npm ci)"
    if shutil.which("node") is None:
        return "node is not on PATH (configurable-http-proxy runs on Node.js)"
    return None


class HubError(RuntimeError):
    """The Hub did not do what the test asked; the message carries its logs."""


@dataclass
class ApiReply:
    """A reply of the Hub's REST API."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Hub:
    """A running Hub: its addresses, its admin token and its logs."""

    proc: subprocess.Popen[bytes]
    root: Path
    proxy_port: int
    hub_port: int
    admin_token: str
    log: Path
    server_logs: Path

    @property
    def url(self) -> str:
        """The public URL (the proxy), ``http://127.0.0.1:<port>``, no trailing slash."""
        return f"http://127.0.0.1:{self.proxy_port}"

    @property
    def ws_url(self) -> str:
        """The public URL for WebSockets, ``ws://127.0.0.1:<port>``."""
        return f"ws://127.0.0.1:{self.proxy_port}"

    def user_url(self, name: str) -> str:
        """The user's server through the proxy: ``http://127.0.0.1:<port>/user/<name>/``."""
        return f"{self.url}/user/{name}/"

    # -- logs -----------------------------------------------------------------
    def logs(self, tail: int = 6000) -> str:
        """The end of the Hub's log and of each user server's, for a failure message."""
        parts = [_tail("hub.log", self.log, tail)]
        for path in sorted(self.server_logs.glob("*.log")):
            parts.append(_tail(f"servers/{path.name}", path, tail))
        return "\n".join(parts)

    def fail(self, message: str) -> HubError:
        """A :class:`HubError` with ``message`` and the logs."""
        return HubError(f"{message}\n{self.logs()}")

    # -- the REST API -------------------------------------------------------------
    def api(self, method: str, path: str, body: Any = None, token: str | None = None) -> ApiReply:
        """``<method> /hub/api/<path>`` through the proxy, as the admin service by default."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}/hub/api/{path}",
            data=data,
            method=method,
            headers={
                "Authorization": f"token {token or self.admin_token}",
                "Content-Type": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=API_TIMEOUT) as response:
                return ApiReply(response.status, response.read(), dict(response.headers))
        except urllib.error.HTTPError as e:
            return ApiReply(e.code, e.read(), dict(e.headers))
        except (urllib.error.URLError, OSError) as e:
            raise self.fail(f"{method} /hub/api/{path}: the Hub did not answer ({e})") from e

    def expect(self, reply: ApiReply, statuses: Sequence[int], what: str) -> ApiReply:
        """``reply`` if its status is one of ``statuses``, else a :class:`HubError`."""
        if reply.status not in statuses:
            body = reply.body.decode(errors="replace")[:500]
            raise self.fail(f"{what}: the Hub answered {reply.status}: {body}")
        return reply

    def user(self, name: str) -> dict[str, Any] | None:
        """The user's model, or None if the Hub has no such user."""
        reply = self.api("GET", f"users/{name}")
        if reply.status == 404:
            return None
        return self.expect(reply, [200], f"reading user {name}").json()  # type: ignore[no-any-return]

    def add_user(self, name: str) -> None:
        """Create the user (no-op if it exists)."""
        if self.user(name) is None:
            self.expect(self.api("POST", f"users/{name}"), [201], f"creating user {name}")

    def server(self, name: str) -> dict[str, Any] | None:
        """The model of the user's default server, or None while it has none."""
        model = self.user(name)
        if model is None:
            raise self.fail(f"no user {name}")
        servers = model.get("servers") or {}
        return servers.get("")  # type: ignore[no-any-return]

    def start_server(
        self, name: str, args: Sequence[str] = (), timeout: float = SERVER_START_TIMEOUT
    ) -> None:
        """Start the user's server and wait until the Hub reports it ready.

        ``args`` go on the server's command line (``--ColabBridge.allowed_origins=...``),
        for this start only.
        """
        body = {"user_options": {"args": list(args)}}
        reply = self.api("POST", f"users/{name}/server", body)
        self.expect(reply, [201, 202], f"starting the server of {name}")

        def ready(server: dict[str, Any] | None) -> bool:
            if server is None:  # the Hub gave up on the spawn
                raise self.fail(f"the server of {name} failed to start")
            return bool(server.get("ready"))

        self._wait_server(name, timeout, ready, "ready")

    def stop_server(self, name: str, timeout: float = STOP_TIMEOUT) -> None:
        """Stop the user's server and wait until the Hub reports it gone."""
        reply = self.api("DELETE", f"users/{name}/server")
        if reply.status == 400 and self.server(name) is None:
            return  # not running
        self.expect(reply, [202, 204], f"stopping the server of {name}")
        self._wait_server(name, timeout, lambda s: s is None, "stopped")

    def _wait_server(
        self,
        name: str,
        timeout: float,
        done: Callable[[dict[str, Any] | None], bool],
        state: str,
    ) -> None:
        """Poll the user's server model until ``done`` says yes; fail after ``timeout``."""
        deadline = time.monotonic() + timeout
        delay = 0.05
        while time.monotonic() < deadline:
            if done(self.server(name)):
                return
            if self.proc.poll() is not None:
                raise self.fail(f"the Hub exited with {self.proc.returncode}")
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
        raise self.fail(f"the server of {name} was not {state} after {timeout:.0f}s")

    def new_token(self, name: str, note: str = "colab") -> str:
        """A new Hub API token of the user, with the user's own permissions."""
        reply = self.api("POST", f"users/{name}/tokens", {"note": note})
        return str(self.expect(reply, [201], f"creating a token for {name}").json()["token"])


def _tail(title: str, path: Path, size: int) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as e:
        return f"--- {title}: cannot read ({e})"
    cut = "...\n" if len(text) > size else ""
    return f"--- {title} ({path})\n{cut}{text[-size:]}"


#: The Hub's config file; the values come from :func:`running_hub` as JSON.
CONFIG_TEMPLATE = '''\
"""Generated by tests/helpers/hub_server.py for one test run."""
import json
import subprocess

settings = json.loads({settings!r})
c = get_config()  # noqa: F821

c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = settings["proxy_port"]
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = settings["hub_port"]
c.JupyterHub.db_url = "sqlite:///" + settings["db"]
c.JupyterHub.cookie_secret_file = settings["cookie_secret"]
c.JupyterHub.pid_file = settings["hub_pid"]

c.ConfigurableHTTPProxy.command = [settings["proxy_command"]]
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:%d" % settings["proxy_api_port"]
c.ConfigurableHTTPProxy.auth_token = settings["proxy_token"]
c.ConfigurableHTTPProxy.pid_file = settings["proxy_pid"]

c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allowed_users = set(settings["users"])

c.JupyterHub.services = [{{"name": settings["service"], "api_token": settings["admin_token"]}}]
c.JupyterHub.load_roles = [{{"name": "admin", "services": [settings["service"]]}}]

c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = settings["home_template"]
c.Spawner.cmd = settings["singleuser"]
c.Spawner.environment = settings["environment"]
c.Spawner.start_timeout = settings["start_timeout"]
c.Spawner.http_timeout = settings["start_timeout"]
c.LocalProcessSpawner.interrupt_timeout = 5
c.LocalProcessSpawner.term_timeout = 5


def _pre_spawn(spawner):
    """Each server's output to servers/<name>.log; per-start arguments from user_options."""
    log = open(settings["server_logs"] + "/" + spawner.user.name + ".log", "ab")
    spawner.popen_kwargs = {{"stdout": log, "stderr": subprocess.STDOUT}}
    options = spawner.user_options or {{}}
    spawner.args = list(settings["server_args"]) + list(options.get("args") or [])


c.Spawner.pre_spawn_hook = _pre_spawn
'''


def singleuser_command() -> list[str]:
    """``jupyterhub-singleuser`` of this Python environment."""
    script = Path(sys.executable).parent / "jupyterhub-singleuser"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "jupyterhub.singleuser"]


def _write_server_config(config_dir: Path) -> None:
    """Enable the bridge for the spawned servers (an editable install has no config file)."""
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "jupyter_server_config.json").write_text(
        json.dumps({"ServerApp": {"jpserver_extensions": {"jupyter_colab_bridge": True}}})
    )


def _hub_env(root: Path) -> dict[str, str]:
    """The Hub's environment: this one, minus Jupyter and Hub variables of the caller."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("JUPYTER", "JPY_", "CONFIGPROXY_")) and k != "IPYTHONDIR"
    }
    env.update(
        HOME=str(root / "hub-home"),
        JUPYTER_PLATFORM_DIRS="1",
        PYTHONUNBUFFERED="1",
    )
    return env


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _descendants(pid: int) -> list[Any]:
    """The processes under ``pid`` (psutil), empty if it is gone."""
    import psutil

    try:
        return list(psutil.Process(pid).children(recursive=True))
    except psutil.Error:
        return []


def _pid_from(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _stop_hub(hub: Hub, started: list[Any]) -> list[str]:
    """Stop the Hub (it stops the servers and the proxy), then kill whatever is left.

    Returns a line for each process that had to be killed.
    """
    import psutil

    known = {p.pid: p for p in started + _descendants(hub.proc.pid)}
    proxy_pid = _pid_from(hub.root / "proxy.pid")
    if proxy_pid is not None and proxy_pid not in known:
        with contextlib.suppress(psutil.Error):
            known[proxy_pid] = psutil.Process(proxy_pid)
    if hub.proc.poll() is None:
        hub.proc.send_signal(signal.SIGTERM)
        try:
            hub.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            hub.proc.kill()
            hub.proc.wait(10)
    killed = []
    for proc in known.values():
        with contextlib.suppress(psutil.Error):
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                killed.append(f"{proc.pid} {' '.join(proc.cmdline())[:200]}")
                proc.kill()
    psutil.wait_procs(list(known.values()), timeout=10)
    return killed


@contextmanager
def running_hub(
    root: Path,
    users: Sequence[str] = ("alice", "bob"),
    server_args: Sequence[str] = (),
    start_timeout: float = HUB_START_TIMEOUT,
) -> Iterator[Hub]:
    """Run a JupyterHub in ``root`` with ``users`` created (their servers not started).

    ``server_args`` go on every user server's command line.
    """
    reason = missing_prerequisite()
    if reason is not None:
        raise HubError(f"JupyterHub cannot run: {reason}; {SETUP_HINT}")
    root.mkdir(parents=True, exist_ok=True)
    server_logs = root / "servers"
    server_logs.mkdir(exist_ok=True)
    (root / "hub-home").mkdir(exist_ok=True)
    config_dir = root / "server-config"
    _write_server_config(config_dir)
    proxy_port, hub_port, proxy_api_port = free_port(), free_port(), free_port()
    admin_token = secrets.token_hex(24)
    args = ["--allow-root"] if os.geteuid() == 0 else []
    settings = {
        "proxy_port": proxy_port,
        "hub_port": hub_port,
        "proxy_api_port": proxy_api_port,
        "db": str(root / "jupyterhub.sqlite"),
        "cookie_secret": str(root / "jupyterhub_cookie_secret"),
        "hub_pid": str(root / "hub.pid"),
        "proxy_pid": str(root / "proxy.pid"),
        "proxy_command": str(PROXY_COMMAND),
        "proxy_token": secrets.token_hex(24),
        "users": list(users),
        "service": ADMIN_SERVICE,
        "admin_token": admin_token,
        "home_template": str(root / "home" / "{username}"),
        "singleuser": singleuser_command(),
        "environment": {
            "JUPYTER_CONFIG_DIR": str(config_dir),
            "JUPYTER_PLATFORM_DIRS": "1",
            "PYTHONUNBUFFERED": "1",
        },
        "start_timeout": int(SERVER_START_TIMEOUT),
        "server_logs": str(server_logs),
        "server_args": args + list(server_args),
    }
    config = root / "jupyterhub_config.py"
    config.write_text(CONFIG_TEMPLATE.format(settings=json.dumps(settings)))
    log = root / "hub.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=_hub_env(root),
            cwd=str(root),
        )
    hub = Hub(proc, root, proxy_port, hub_port, admin_token, log, server_logs)
    started: list[Any] = []
    try:
        deadline = time.monotonic() + start_timeout
        while not _answers(f"{hub.url}/hub/api/"):
            if proc.poll() is not None:
                raise hub.fail(f"the Hub exited with {proc.returncode} while starting")
            if time.monotonic() > deadline:
                raise hub.fail(f"the Hub did not answer {hub.url}/hub/api/ in {start_timeout:.0f}s")
            time.sleep(0.2)
        started = _descendants(proc.pid)
        for name in users:
            hub.add_user(name)
        yield hub
    finally:
        for name in users:
            with contextlib.suppress(HubError):
                if hub.proc.poll() is None and hub.server(name) is not None:
                    started += _descendants(proc.pid)
                    hub.stop_server(name)
        killed = _stop_hub(hub, started)
        if killed:
            print("hub_server: killed what the Hub left running:\n" + "\n".join(killed))
