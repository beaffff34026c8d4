"""The doctor's verdicts: plain functions from what was observed to cause and fix.

Nothing here does I/O: :mod:`.checks` observes and hands what it saw to these
functions, which hold every word the doctor says (the kernel's INFO lines are in
:mod:`.kernel_facts`, as pure), so every diagnosis is tested without a server too.
Each check has a :class:`CheckId` (with its title) and a verdict function here,
and one entry in :data:`.checks.CHECKS`, the ordered table that runs them.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

from .. import __version__
from ..backend_url import Target
from ..protocol.handshake import PROTOCOL_VERSION
from ..protocol.origins import COLAB_ORIGIN
from ..protocol.runtime_api import XSSI_PREFIX
from .observations import (
    ApiAnswer,
    BridgeConfig,
    EndpointsSeen,
    HandshakeSeen,
    KernelRun,
    Place,
    RunningServer,
    ServerSeen,
)


class _Word(str, Enum):
    """A str-valued enum that prints, formats and serializes as its value."""

    def __str__(self) -> str:
        return str.__str__(self)

    def __format__(self, spec: str) -> str:
        return str.__format__(self, spec)


class Status(_Word):
    """A check's outcome, as ``--json`` writes it (and ``[PASS]`` in upper case)."""

    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"
    SKIP = "skip"
    INFO = "info"


class CheckId(_Word):
    """Each check's id (``--json``'s ``id``) and title, in the order the doctor reports them."""

    heading: str

    def __new__(cls, value: str, heading: str) -> CheckId:
        member = str.__new__(cls, value)
        member._value_ = value
        member.heading = heading
        return member

    INSTALL = "install", "Package and extension"
    SERVER = "server", "Jupyter server"
    ENDPOINTS = "endpoints", "Bridge endpoints"
    HANDSHAKE = "handshake", "Colab handshake and GET api/kernelspecs"
    KERNEL = "kernel", "Kernel runs 1+1 through proxied_ws"
    COLAB_PACKAGE = "colab_package", "google.colab in Colab's kernel"
    DRIVE = "drive", "Google Drive"
    WIDGETS = "widgets", "Widgets on Colab's page"
    PACKAGES = "packages", "Python and packages in Colab's kernel"
    RESOURCES = "resources", "Resource monitor (api/colab/resources)"
    PORT_PROXY = "port_proxy", "Port proxy (_proxy/<port>/)"
    TERMINAL = "terminal", "Terminal (colab/tty)"
    LANGUAGE_SERVER = "language_server", "Language server (colab/lsp)"
    ORIGIN = "origin", "Colab's origins allowed"
    FORWARDING = "forwarding", "Host and port seen by the browser"
    BROWSER = "browser", "Browser notes"


#: Short names of the statuses (the tests use them).
PASS, FAIL, WARN, SKIP, INFO = Status.PASS, Status.FAIL, Status.WARN, Status.SKIP, Status.INFO
GET_URL = "jupyter colab-bridge url"
ENABLE = "jupyter server extension enable jupyter_colab_bridge"
RESTART_WITHOUT_OPTION = (
    "restart the server without --ServerApp.jpserver_extensions=jupyter_colab_bridge=False"
)


@dataclass
class CheckResult:
    """The outcome of one check: a status, a summary, and on failure cause and fix."""

    id: CheckId
    status: Status
    summary: str
    cause: str = ""
    fix: str = ""

    @property
    def title(self) -> str:
        return self.id.heading

    def as_dict(self) -> dict[str, str]:
        return {"title": self.title, **asdict(self)}


@dataclass
class DoctorReport:
    """All checks of one doctor run; ``ok`` only when none failed."""

    url: str | None
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.status != Status.FAIL for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {"url": self.url, "ok": self.ok, "checks": [c.as_dict() for c in self.checks]}


def skipped(ids: tuple[CheckId, ...], why: str) -> list[CheckResult]:
    """Checks that cannot run because a check they need did not pass."""
    return [CheckResult(i, Status.SKIP, f"skipped: {why}") for i in ids]


def is_loopback(host: str) -> bool:
    """Whether a browser treats ``host`` as this machine (exempt from mixed content)."""
    host = host.lower()
    return host in ("localhost", "::1") or host.startswith("127.")


def masked(url: str) -> str:
    """A backend URL with its token shortened, for output that may be shared."""
    try:
        return Target.parse(url).masked_url
    except ValueError:
        return url


def find_local_server(target: Target, servers: list[RunningServer]) -> RunningServer | None:
    """The running server of this user that ``target`` names, by port."""
    for server in servers:
        if server.port == target.port and (
            is_loopback(target.host) or target.host.lower() == server.host.lower()
        ):
            return server
    return None


def _disabled_by(config: BridgeConfig) -> tuple[str, str]:
    by = ", ".join(config.disabled_by) or "a jupyter_server_config.py file"
    if any(b.startswith("the command line") for b in config.disabled_by):
        return by, RESTART_WITHOUT_OPTION
    return by, f"run `{ENABLE}`, then restart the server"


# -- 1. package and extension -------------------------------------------------
def check_install(config: BridgeConfig) -> CheckResult:
    """The package imports here, and the config enables the extension."""
    where = f"jupyter_colab_bridge {__version__} imports in {sys.executable}"
    if config.error:
        return CheckResult(
            CheckId.INSTALL, Status.FAIL, where, config.error, "correct the setting named above"
        )
    if config.enabled:
        return CheckResult(CheckId.INSTALL, Status.PASS, f"{where}; enabled in the Jupyter config")
    if config.enabled is False:
        by, fix = _disabled_by(config)
        return CheckResult(
            CheckId.INSTALL, Status.FAIL, f"{where}; but disabled", f"disabled by {by}", fix
        )
    return CheckResult(
        CheckId.INSTALL,
        Status.FAIL,
        f"{where}; but not enabled",
        "no Jupyter config file enables it (the jupyter_server_config.d/"
        "jupyter_colab_bridge.json that pip installs is not on the config path)",
        f"run `{ENABLE}`, then restart the server",
    )


# -- 2. a server answers ------------------------------------------------------
def server_down(
    target: Target, servers: list[RunningServer], place: Place | None = None
) -> CheckResult:
    """Nothing listens at the URL: where the servers are, and how to forward."""
    place = place or Place()
    others = [masked(s.backend_url) for s in servers if not s.sock]
    if others:
        fix = (
            f"paste the URL of a running server (`{GET_URL}` prints it in full): "
            f"{', '.join(others)}; or, if port {target.port} is forwarded (ssh -L, docker -p), "
            "check that the forward is up and points at the server's port"
        )
    elif place.ssh_forward:
        fix = (
            "start the server here: `jupyter server` (it prints the URL to paste); then, "
            f"on your laptop, run `{place.ssh_forward}` and paste the URL there"
        )
    elif place.container:
        fix = (
            "start the server: `jupyter server` (it prints the URL to paste); in Docker, "
            f"publish the port (`docker run -p 127.0.0.1:{target.port}:{target.port} ...`) and "
            "start the server with --ip=0.0.0.0"
        )
    else:
        fix = "start the server: `jupyter server` (it prints the URL to paste)"
    cause = f"nothing listens at {target.netloc} (connection refused)"
    return CheckResult(CheckId.SERVER, Status.FAIL, f"no server at {target.netloc}", cause, fix)


def not_jupyter_api(target: Target, status: int, local: RunningServer | None) -> CheckResult:
    """The URL answers, but not with Jupyter's API under its path."""
    cause = f"no Jupyter server has base_url {target.base_url} at {target.netloc}"
    if local is not None and local.base_url != target.base_url:
        cause = (
            f"the server on port {target.port} has base_url {local.base_url}, "
            f"but the URL has {target.base_url}"
        )
    return CheckResult(
        CheckId.SERVER,
        Status.FAIL,
        f"{target.http_url('api')} answered {status}, not Jupyter's API",
        cause,
        f"paste the server's base URL as `{GET_URL}` prints it, like "
        "http://localhost:8888/?token=... (not a /lab or /tree page)",
    )


def hub_server_not_running(target: Target, answer: ApiAnswer) -> CheckResult | None:
    """JupyterHub answered for the user's server instead of the server: it does not run.

    The Hub's proxy sends a request for a server that is not running to the
    Hub, which redirects it to ``/hub/user/<name>/...`` (or answers 503 while
    the server starts or stops). None when this is not that case.
    """
    if answer.hub_version is None or target.hub_user is None:
        return None
    redirected = answer.status in (301, 302, 303, 307, 308) and "/hub/" in (answer.location or "")
    if not (redirected or answer.status in (424, 503)):
        return None
    name = target.hub_user[1]
    seen = f"redirected to {answer.location}" if redirected else f"answered {answer.status}"
    return CheckResult(
        CheckId.SERVER,
        Status.FAIL,
        f"{name}'s server on this JupyterHub is not running",
        f"JupyterHub {answer.hub_version} {seen} for {target.http_url('api')}: the Hub answers "
        "for a user's server that is stopped (or still starting), and Colab cannot use it",
        f"start it on the Hub's home page, {target.hub_url('home')} (Start My Server), wait "
        "until it runs, then connect again with the same URL",
    )


def choose_target(
    url: str | None, servers: list[RunningServer]
) -> tuple[Target | None, CheckResult | None, str]:
    """The URL to check, or the failed server check; plus a note for the summary.

    ``url`` is the one given on the command line; without it, the first
    running server on a TCP port (``servers`` is ordered by port).
    """
    if url:
        try:
            return Target.parse(url), None, ""
        except ValueError as e:
            fix = "jupyter colab-bridge doctor 'http://localhost:8888/?token=...'"
            return None, CheckResult(CheckId.SERVER, Status.FAIL, "unusable URL", str(e), fix), ""
    tcp = [s for s in servers if not s.sock]
    if tcp:
        note = ""
        if len(tcp) > 1:
            note = f" ({len(tcp)} servers run; checked the first; pass a URL to check another)"
        return Target.parse(tcp[0].backend_url), None, note
    cause = "no runtime file (jpserver-*.json) of a live server was found"
    if servers:
        cause += " (only servers on Unix sockets, which Colab cannot use)"
    fix = (
        "start one: `jupyter server` (it prints the URL to paste), or pass the URL: "
        "jupyter colab-bridge doctor 'http://localhost:8888/?token=...'"
    )
    failed = CheckResult(CheckId.SERVER, Status.FAIL, "no running Jupyter server found", cause, fix)
    return None, failed, ""


def server_result(
    target: Target,
    seen: ServerSeen,
    servers: list[RunningServer],
    local: RunningServer | None,
    note: str = "",
    place: Place | None = None,
) -> CheckResult:
    """Jupyter's REST API answers under the URL's base_url (``note`` ends the summary)."""
    answer = seen.answer
    if answer is None:
        if seen.refused:
            return server_down(target, servers, place)
        fix = "check the host and port in the URL, and that the server runs"
        summary = f"no answer from {target.netloc}"
        return CheckResult(CheckId.SERVER, Status.FAIL, summary, seen.error, fix)
    stopped = hub_server_not_running(target, answer)
    if stopped is not None:
        return stopped
    if answer.status != 200 or answer.version is None:
        return not_jupyter_api(target, answer.status, local)
    return server_answers(target, answer.version, note)


def server_answers(target: Target, version: str, note: str = "") -> CheckResult:
    summary = f"Jupyter server {version} answers at {target.netloc}{target.base_url}"
    if not version.startswith("2."):
        summary += " (the bridge needs jupyter_server 2)"
    return CheckResult(CheckId.SERVER, Status.PASS, summary + note)


# -- 3. bridge endpoints ------------------------------------------------------
def explain_not_loaded(
    config: BridgeConfig, imports: bool | None, python: str | None, version: str | None
) -> tuple[str, str]:
    """Why the server answers 404 on the bridge, and what to do."""
    if config.enabled is False:
        by, fix = _disabled_by(config)
        return f"the extension is disabled by {by}", fix
    if imports is False and python:
        return (
            f"the server runs {python}, which cannot import jupyter_colab_bridge",
            f"run `{python} -m pip install jupyter_colab_bridge`, then restart the server",
        )
    if version and not version.startswith("2."):
        return (
            f"the server reports version {version}: not jupyter_server 2, so it does not load "
            "jupyter_server extensions (the classic Notebook 6 server is one such)",
            "start `jupyter server` (or JupyterLab 4 / Notebook 7) from this environment",
        )
    if config.enabled is None:
        return "no Jupyter config enables the extension", f"run `{ENABLE}`, then restart the server"
    return (
        "the server did not load the extension: it was started before the package was "
        "installed or enabled, from another environment, or with options that turn it off",
        "stop the server (Ctrl-C) and start it again with `jupyter server` from this environment",
    )


def endpoints_result(seen: EndpointsSeen, config: BridgeConfig, version: str | None) -> CheckResult:
    """``http_over_websocket/diagnose`` exists (``version``: the server's, for a 404)."""
    path = seen.path
    if seen.status is None:
        return CheckResult(CheckId.ENDPOINTS, Status.FAIL, f"{path}: {seen.error}")
    if seen.status == 404:
        cause, fix = explain_not_loaded(config, seen.imports, seen.python, version)
        summary = f"{path} answers 404: the bridge is not loaded on this server"
        return CheckResult(CheckId.ENDPOINTS, Status.FAIL, summary, cause, fix)
    if seen.status == 403:
        summary = f"{path} exists (it refused Colab's origin: see the origin check)"
        return CheckResult(CheckId.ENDPOINTS, Status.PASS, summary)
    if seen.status != 101:
        return CheckResult(CheckId.ENDPOINTS, Status.FAIL, f"{path} answers HTTP {seen.status}")
    reply = seen.reply
    if reply is None:
        return CheckResult(CheckId.ENDPOINTS, Status.FAIL, f"{path} did not answer: {seen.error}")
    if reply.get("is_outdated_extension"):
        return CheckResult(
            CheckId.ENDPOINTS,
            Status.FAIL,
            f"protocol {reply.get('extension_version')} is older than Colab's {PROTOCOL_VERSION}",
            "an outdated bridge answers",
            "run `pip install -U jupyter_colab_bridge`, then restart the server",
        )
    summary = f"{path} answers (protocol {reply.get('extension_version')})"
    return CheckResult(CheckId.ENDPOINTS, Status.PASS, summary)


# -- 4. the handshake ---------------------------------------------------------
def explain_refused_hub_token(
    target: Target, hub_status: int | None, token_owner: str | None
) -> tuple[str, str]:
    """Cause and fix for a 403 from a JupyterHub user's server.

    ``hub_status`` and ``token_owner`` are what the Hub's ``api/user`` said of
    the token (None when it could not be asked).
    """
    assert target.hub_user is not None
    name = target.hub_user[1]
    fix = (
        f"log in to the Hub as {name}, create a token on {target.hub_url('token')} and "
        f"paste {target.scheme}://{target.netloc}{target.base_url}?token=<that token>"
    )
    if not target.token:
        return "the URL carries no token (?token=...); Colab needs one of the Hub's tokens", fix
    if hub_status == 403:
        return (
            "the Hub does not know this token (mistyped, expired or revoked); on a Hub the "
            "token is a Hub API token of the server's owner, not a server's own token",
            fix,
        )
    if token_owner is not None and token_owner != name:
        return (
            f"the token is {token_owner}'s, but this is {name}'s server: the Hub lets only "
            "the server's owner (and admins with access) in",
            fix,
        )
    if token_owner == name:
        return (
            f"the Hub knows the token as {name}'s, yet {name}'s server refused it: the token "
            "lacks the scope to use the server (access:servers), e.g. it was made with "
            "limited scopes",
            f"create a token with the default scopes on {target.hub_url('token')}",
        )
    return "the Hub's user server refused the token in the URL (HTTP 403)", fix


def explain_refused_handshake(
    target: Target, local: RunningServer | None, token_alone_opens: bool
) -> tuple[str, str]:
    """Cause and fix for a 403 on the Colab-style handshake.

    ``token_alone_opens``: the same handshake without ``Origin`` was accepted,
    so the token is good and the origin is what the server refuses (unless the
    server has no token at all, which is judged first).
    """
    # First: a server without a token lets a script in with no credential at
    # all, so ``token_alone_opens`` would wrongly blame the origin there.
    if local is not None and not local.token:
        return (
            "the server has no token"
            + (
                " (it is protected by a password only)"
                if local.password
                else " (authentication is turned off)"
            )
            + ": Colab's page authenticates with a token, never with a password or a "
            "login cookie",
            "restart the server with a token: `JUPYTER_TOKEN=<a long random string> "
            "jupyter server` or `jupyter server --IdentityProvider.token=<it>` (make one "
            'with `python -c "import secrets; print(secrets.token_urlsafe(32))"`), or set '
            "c.IdentityProvider.token in jupyter_server_config.py; then paste "
            f"{target.scheme}://{target.netloc}{target.base_url}?token=<that token>",
        )
    if token_alone_opens:
        return (
            f"the server refuses the origin {COLAB_ORIGIN} (the token is accepted)",
            "allow Colab's origin: see the origin check below",
        )
    fix = (
        f"paste the whole URL with its token, as `{GET_URL}` or the server's start-up "
        "banner prints it (a generated token changes at every restart)"
    )
    if not target.token:
        return (
            "the URL carries no token (?token=...), so the server answers 403 "
            "(Colab shows 403 on /api/kernelspecs)",
            fix,
        )
    if local is not None and local.token and local.token != target.token:
        return "the token in the URL is not the token of the server on this port", fix
    if local is not None and local.token == target.token:
        return (
            "the server refused the right token: see its log (e.g. 'Blocking request with "
            "non-local Host' means the host name in the URL is not accepted)",
            "use http://localhost:<port>/ or set c.ServerApp.allow_remote_access = True",
        )
    return "the server refused the token in the URL (HTTP 403)", fix


def handshake_result(
    target: Target, local: RunningServer | None, seen: HandshakeSeen
) -> CheckResult:
    """The socket opens as Colab opens it, and a request through it gets kernels."""
    if seen.refused is not None:
        if seen.status != 403:
            return CheckResult(
                CheckId.HANDSHAKE, Status.FAIL, f"the handshake failed: {seen.refused}"
            )
        if seen.hub is not None:
            cause, fix = explain_refused_hub_token(target, *seen.hub)
        else:
            cause, fix = explain_refused_handshake(target, local, seen.alone == 101)
        return CheckResult(CheckId.HANDSHAKE, Status.FAIL, "the handshake got 403", cause, fix)
    if seen.no_reply is not None:
        return CheckResult(
            CheckId.HANDSHAKE,
            Status.FAIL,
            "the socket opened but the request got no reply",
            seen.no_reply or "no reply within 30 s",
            "read the server log; if it names min_version, upgrade jupyter_colab_bridge",
        )
    if seen.reply_status != 200:
        return CheckResult(
            CheckId.HANDSHAKE,
            Status.FAIL,
            f"GET api/kernelspecs through the bridge: {seen.reply_status} {seen.reply_text}",
            "the server refused or failed the request carried by the bridge",
            "read the server log for this request",
        )
    names = sorted(seen.specs.get("kernelspecs") or {})
    if not names:
        return CheckResult(
            CheckId.HANDSHAKE,
            Status.FAIL,
            "GET api/kernelspecs through the bridge: 200, but no kernels",
            "no Jupyter kernel is installed in the server's environment",
            "run `python -m pip install ipykernel && python -m ipykernel install --user`",
        )
    summary = (
        f"from {COLAB_ORIGIN} with the token: GET api/kernelspecs = 200, kernels: "
        f"{', '.join(names)} (default {seen.specs.get('default')})"
    )
    return CheckResult(CheckId.HANDSHAKE, Status.PASS, summary)


# -- 5. the kernel ------------------------------------------------------------
def kernel_not_asked() -> CheckResult:
    """``--no-kernel``: no kernel is started."""
    return CheckResult(CheckId.KERNEL, Status.SKIP, "skipped (--no-kernel)")


def kernel_result(run: KernelRun | None, error: str = "") -> CheckResult:
    """Colab's Python kernel ran ``1+1`` through proxied_ws (``run``), or ``error``."""
    if run is None:
        return CheckResult(
            CheckId.KERNEL,
            Status.FAIL,
            "the kernel check failed",
            error or "timed out",
            "read the server log; try the kernel alone with `jupyter console`",
        )
    if run.result != "2":
        summary = f"1+1 gave {run.result!r}"
        return CheckResult(CheckId.KERNEL, Status.FAIL, summary, "the kernel is broken")
    protocol = run.subprotocol or "the JSON kernel protocol"
    summary = (
        f"kernel {run.kernel_name}: 1+1 = 2 over {protocol}; deleted. "
        "Colab's Python notebooks run on this kernel"
    )
    return CheckResult(CheckId.KERNEL, Status.PASS, summary)


# -- 6. origin ----------------------------------------------------------------
def origin_result(statuses: dict[str, int], config: BridgeConfig) -> CheckResult:
    """Colab's origins, judged by the diagnose socket's answer (101 or 403) to each."""
    listed = ", ".join(config.allowed_origins + [f"re:{p}" for p in config.allowed_origin_patterns])
    refused = [origin for origin, status in statuses.items() if status != 101]
    if not refused:
        accepted = " and ".join(statuses)
        return CheckResult(
            CheckId.ORIGIN, Status.PASS, f"{accepted} are accepted (configured: {listed})"
        )
    answers = ", ".join(f"{statuses[o]} to {o}" for o in refused)
    cause = (
        f"the server answers {answers} (its log says 'refused a WebSocket from origin'); "
        f"the settings read here allow: {listed or 'nothing'}"
    )
    both = ", ".join(f"'{o}'" for o in statuses)
    fix = (
        "keep Colab's origins in the allowlist (they are its default) and restart the server: "
        "remove the ColabBridge.allowed_origins setting, or in jupyter_server_config.py: "
        f"c.ColabBridge.allowed_origins = [{both}]"
    )
    summary = f"{' and '.join(refused)} {'is' if len(refused) == 1 else 'are'} refused"
    status = Status.FAIL if COLAB_ORIGIN in refused else Status.WARN
    return CheckResult(CheckId.ORIGIN, status, summary, cause, fix)


# -- 6b. the resource monitor ---------------------------------------------------
def _gib(n: Any) -> str:
    return f"{float(n) / 2**30:.1f} GiB"


def resources_result(status: int | None, body: bytes, error: str = "") -> CheckResult:
    """What Colab's resource monitor will show, from ``api/colab/resources``' reply.

    ``status`` None: no reply came, for the reason ``error``.
    """
    if status is None:
        summary = f"api/colab/resources did not answer: {error}"
        return CheckResult(CheckId.RESOURCES, Status.WARN, summary)
    if status == 404:
        return CheckResult(
            CheckId.RESOURCES,
            Status.WARN,
            "api/colab/resources answers 404: Colab shows no RAM, disk or GPU figures",
            "the runtime API is off (ColabBridge.runtime_api = False) or the bridge is older",
            "remove c.ColabBridge.runtime_api = False, or upgrade jupyter_colab_bridge",
        )
    prefix = XSSI_PREFIX.encode()
    try:
        if status != 200 or not body.startswith(prefix):
            raise ValueError(f"HTTP {status}")
        figures = json.loads(body[len(prefix) :])
        memory = figures["memory"]
        ram = f"RAM {_gib(memory['freeBytes'])} free of {_gib(memory['totalBytes'])}"
        disks = figures["disks"]
        if disks:
            fs = disks[0]["filesystem"]
            free = int(fs["totalBytes"]) - int(fs["usedBytes"])
            disk = f"disk {_gib(free)} free of {_gib(fs['totalBytes'])}"
        else:
            disk = "no disk figures"
        gpus = [
            f"{g['name']} ({_gib(g['memoryUsedBytes'])} of {_gib(g['memoryTotalBytes'])} used)"
            for g in figures["gpus"]
        ]
    except (ValueError, KeyError, TypeError) as e:
        return CheckResult(
            CheckId.RESOURCES,
            Status.WARN,
            f"api/colab/resources gave no usable figures ({e})",
            "see the server's log",
        )
    gpu_text = "GPUs: " + "; ".join(gpus) if gpus else "no GPU (NVIDIA GPUs need the [gpu] extra)"
    return CheckResult(CheckId.RESOURCES, Status.PASS, f"{ram}; {disk}; {gpu_text}")


def port_proxy_result(status: int | None, body: bytes, error: str = "") -> CheckResult:
    """Whether ``_proxy/<port>/`` is served, from its answer to port 0.

    Port 0 is refused (400) once the request is authenticated, before anything
    is reached: the proxy is there and reaches nothing for the probe.
    """
    if status is None:
        return CheckResult(CheckId.PORT_PROXY, Status.WARN, f"_proxy/0 did not answer: {error}")
    if status == 404:
        return CheckResult(
            CheckId.PORT_PROXY,
            Status.INFO,
            "off: _proxy/<port>/ answers 404 (ColabBridge.port_proxy = False, or an older "
            "bridge); web apps started in a notebook are not reachable through this port",
        )
    try:
        message = str(json.loads(body)["message"])
    except (ValueError, KeyError, TypeError):
        message = ""
    if status == 400 and "65535" in message:
        return CheckResult(
            CheckId.PORT_PROXY,
            Status.PASS,
            "served: a web app on this machine's port N is at _proxy/N/ "
            "(ports: ColabBridge.port_proxy_ports)",
        )
    return CheckResult(
        CheckId.PORT_PROXY,
        Status.WARN,
        f"_proxy/0 answered HTTP {status}, not the proxy's refusal of port 0",
        message or "see the server's log",
    )


# -- 7. host and port ---------------------------------------------------------
def forwarding_check(
    target: Target, local: RunningServer | None, place: Place | None = None
) -> CheckResult:
    """What the browser must reach, and the port-forwarding pitfalls.

    In an SSH session (``place.ssh_forward``) the advice is the laptop's
    ``ssh -N -L`` line, never a wider listening address; the container advice
    is for a container without an SSH session only.
    """
    place = place or Place()
    if target.scheme == "http" and not is_loopback(target.host):
        command = place.ssh_forward or (
            f"ssh -N -L {target.port}:localhost:{target.port} you@{target.host}"
        )
        return CheckResult(
            CheckId.FORWARDING,
            Status.FAIL,
            f"the URL names {target.host}, not localhost",
            f"Colab's page is https; browsers block ws:// to {target.host} from it (mixed "
            "content); only localhost and 127.0.0.1 are exempt",
            f"forward the port to the browser's machine: `{command}`, then paste "
            f"http://localhost:{target.port}{target.base_url}?token=...",
        )
    if place.ssh_forward:
        summary = (
            "this runs in an SSH session: on your laptop, run "
            f"`{place.ssh_forward}`, then paste http://localhost:{target.port}"
            f"{target.base_url}?token=... into Colab there (the server stays on this "
            "machine's localhost, out of its network's reach)"
        )
        return CheckResult(CheckId.FORWARDING, Status.PASS, summary)
    if local is not None and place.container and is_loopback(local.ip or "localhost"):
        return CheckResult(
            CheckId.FORWARDING,
            Status.WARN,
            f"this runs in a container and the server listens on {local.ip or 'localhost'} only",
            "a published port (docker run -p) cannot reach a server that listens on the "
            "container's loopback address",
            "if the browser runs outside the container, start the server with --ip=0.0.0.0 "
            f"and publish the port: `docker run -p 127.0.0.1:{target.port}:{target.port} ...`",
        )
    if local is None:
        summary = (
            f"{target.netloc} reaches a server with no runtime file of this user here "
            "(a forwarded port, a container or another user's server)"
        )
        return CheckResult(CheckId.FORWARDING, Status.PASS, summary)
    summary = (
        f"the browser must reach {target.netloc} on its own machine; if it runs on another "
        f"machine, forward the port there: `ssh -N -L {target.port}:localhost:{target.port} "
        "you@this-machine` and paste the same URL"
    )
    return CheckResult(CheckId.FORWARDING, Status.PASS, summary)


# -- 8. browser notes ---------------------------------------------------------
def browser_notes() -> CheckResult:
    """What the doctor cannot see: the browser's own prompts and settings."""
    return CheckResult(
        CheckId.BROWSER,
        Status.INFO,
        "Chrome 142+ asks whether colab.research.google.com may access your local network: "
        "choose Allow (if you blocked it: the icon left of the address bar > Site settings > "
        "Local network access > Allow, then reload). Firefox: if the connection fails, set "
        "network.websocket.allowInsecureFromHTTPS to true in about:config.",
    )
