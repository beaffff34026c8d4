"""``jupyter colab-bridge doctor``: why Colab cannot connect, and the fix.

The checks run in the order a connection from Colab's page goes through
them: package and extension, server, bridge endpoints, the handshake with the
token and a request through it, a kernel running ``1+1``, the origin, the
host and port, browser notes. Each observes the server the way Colab's page
does (:mod:`.colab_client`) and hands what it saw to a plain function of
:mod:`.diagnoses` for the verdict; a check whose premise failed is skipped.
"""

from __future__ import annotations

import asyncio

from ..protocol.handshake import MIN_VERSION_PARAM, PROTOCOL_VERSION
from ..protocol.origins import COLAB_ORIGIN
from ..protocol.paths import BRIDGE_PREFIX
from .colab_client import (
    DIAGNOSE_PATH,
    BridgeSession,
    ClientError,
    ConnectError,
    Target,
    api_version,
    diagnose,
    probe,
)
from .diagnoses import (
    FAIL,
    PASS,
    SKIP,
    CheckResult,
    DoctorReport,
    browser_notes,
    check_install,
    explain_not_loaded,
    explain_refused_handshake,
    find_local_server,
    forwarding_check,
    not_jupyter_api,
    origin_result,
    server_answers,
    server_down,
    skipped,
)
from .kernel_run import run_code
from .server_info import (
    BridgeConfig,
    RunningServer,
    bridge_config,
    in_container,
    python_imports_bridge,
    running_servers,
    server_python,
)

_BRIDGE_CHECKS = ("endpoints", "handshake", "kernel", "origin")


async def check_server(
    target: Target, servers: list[RunningServer], local: RunningServer | None, note: str = ""
) -> tuple[CheckResult, str | None]:
    """Jupyter's REST API answers under the URL's base_url; also its version."""
    try:
        status, version = await api_version(target)
    except ConnectError as e:
        if e.refused:
            return server_down(target, servers), None
        fix = "check the host and port in the URL, and that the server runs"
        return CheckResult("server", FAIL, f"no answer from {target.netloc}", str(e), fix), None
    if status != 200 or version is None:
        return not_jupyter_api(target, status, local), None
    return server_answers(target, version, note), version


async def check_endpoints(
    target: Target, config: BridgeConfig, local: RunningServer | None, version: str | None
) -> tuple[CheckResult, int]:
    """``http_over_websocket/diagnose`` exists; also the status Colab's origin got."""
    path = f"{target.base_url}{DIAGNOSE_PATH}"
    try:
        status = await probe(target, DIAGNOSE_PATH, query={MIN_VERSION_PARAM: PROTOCOL_VERSION})
    except ConnectError as e:
        return CheckResult("endpoints", FAIL, f"{path}: {e}"), 0
    if status == 404:
        python = server_python(local.pid) if local and config.enabled is not False else None
        imports = python_imports_bridge(python) if python else None
        cause, fix = explain_not_loaded(config, imports, python, version)
        summary = f"{path} answers 404: the bridge is not loaded on this server"
        return CheckResult("endpoints", FAIL, summary, cause, fix), status
    if status == 403:
        summary = f"{path} exists (it refused Colab's origin: see the origin check)"
        return CheckResult("endpoints", PASS, summary), status
    if status != 101:
        return CheckResult("endpoints", FAIL, f"{path} answers HTTP {status}"), status
    try:
        reply = await diagnose(target)
    except (ClientError, asyncio.TimeoutError, ValueError) as e:
        return CheckResult("endpoints", FAIL, f"{path} did not answer: {e}"), status
    if reply.get("is_outdated_extension"):
        result = CheckResult(
            "endpoints",
            FAIL,
            f"protocol {reply.get('extension_version')} is older than Colab's {PROTOCOL_VERSION}",
            "an outdated bridge answers",
            "run `pip install -U jupyter_colab_bridge`, then restart the server",
        )
        return result, status
    summary = f"{path} answers (protocol {reply.get('extension_version')})"
    return CheckResult("endpoints", PASS, summary), status


async def check_handshake(
    target: Target, local: RunningServer | None
) -> tuple[CheckResult, BridgeSession | None]:
    """Open the bridge as Colab does and GET api/kernelspecs through it."""
    try:
        session = await BridgeSession.open(target)
    except ConnectError as e:
        if e.status != 403:
            return CheckResult("handshake", FAIL, f"the handshake failed: {e}"), None
        try:
            alone = await probe(target, BRIDGE_PREFIX, origin=None, query=target.colab_query())
        except ConnectError:
            alone = 0
        cause, fix = explain_refused_handshake(target, local, alone == 101)
        return CheckResult("handshake", FAIL, "the handshake got 403", cause, fix), None
    failure = None
    try:
        reply = await session.request("GET", "api/kernelspecs")
    except (ClientError, asyncio.TimeoutError) as e:
        failure = CheckResult(
            "handshake",
            FAIL,
            "the socket opened but the request got no reply",
            str(e) or "no reply within 30 s",
            "read the server log; if it names min_version, upgrade jupyter_colab_bridge",
        )
    else:
        specs = reply.json() if reply.status == 200 else {}
        names = sorted(specs.get("kernelspecs") or {})
        if reply.status != 200:
            failure = CheckResult(
                "handshake",
                FAIL,
                f"GET api/kernelspecs through the bridge: {reply.status} {reply.status_text}",
                "the server refused or failed the request carried by the bridge",
                "read the server log for this request",
            )
        elif not names:
            failure = CheckResult(
                "handshake",
                FAIL,
                "GET api/kernelspecs through the bridge: 200, but no kernels",
                "no Jupyter kernel is installed in the server's environment",
                "run `python -m pip install ipykernel && python -m ipykernel install --user`",
            )
    if failure is not None:
        session.close()
        return failure, None
    summary = (
        f"from {COLAB_ORIGIN} with the token: GET api/kernelspecs = 200, kernels: "
        f"{', '.join(names)} (default {specs.get('default')})"
    )
    return CheckResult("handshake", PASS, summary), session


async def check_kernel(session: BridgeSession, timeout: float) -> CheckResult:
    """Start a kernel, run 1+1 through proxied_ws, delete it."""
    try:
        run = await run_code(session, "1+1", timeout)
    except (ClientError, asyncio.TimeoutError) as e:
        return CheckResult(
            "kernel",
            FAIL,
            "the kernel check failed",
            str(e) or "timed out",
            "read the server log; try the kernel alone with `jupyter console`",
        )
    if run.result != "2":
        return CheckResult("kernel", FAIL, f"1+1 gave {run.result!r}", "the kernel is broken")
    protocol = run.subprotocol or "the JSON kernel protocol"
    summary = f"kernel {run.kernel_name}: 1+1 = 2 over {protocol}; deleted"
    return CheckResult("kernel", PASS, summary)


def _choose_target(
    url: str | None, servers: list[RunningServer]
) -> tuple[Target | None, CheckResult | None, str]:
    """The URL to check, or the failed server check; plus a note for the summary."""
    if url:
        try:
            return Target.parse(url), None, ""
        except ValueError as e:
            fix = "jupyter colab-bridge doctor 'http://localhost:8888/?token=...'"
            return None, CheckResult("server", FAIL, "unusable URL", str(e), fix), ""
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
    return None, CheckResult("server", FAIL, "no running Jupyter server found", cause, fix), ""


async def run_doctor(url: str | None, kernel: bool = True, timeout: float = 60.0) -> DoctorReport:
    """Run every check against ``url`` (or the first running server), in order."""
    servers = running_servers()
    target, problem, note = _choose_target(url, servers)
    local = find_local_server(target, servers) if target else None
    config = bridge_config(local.pid if local else None)
    report = DoctorReport(url=target.masked_url if target else url)
    report.checks.append(check_install(config))
    if target is None:
        assert problem is not None
        report.checks.append(problem)
        report.checks.extend(skipped((*_BRIDGE_CHECKS, "forwarding"), "no server"))
    else:
        server, version = await check_server(target, servers, local, note)
        report.checks.append(server)
        if server.status == PASS:
            report.checks.extend(
                await _bridge_checks(target, config, local, version, kernel, timeout)
            )
            report.checks.append(forwarding_check(target, local, in_container()))
        else:
            report.checks.extend(skipped((*_BRIDGE_CHECKS, "forwarding"), "no server"))
    report.checks.append(browser_notes())
    return report


async def _bridge_checks(
    target: Target,
    config: BridgeConfig,
    local: RunningServer | None,
    version: str | None,
    kernel: bool,
    timeout: float,
) -> list[CheckResult]:
    endpoints, seen = await check_endpoints(target, config, local, version)
    if endpoints.status == FAIL:
        return [endpoints, *skipped(_BRIDGE_CHECKS[1:], "the bridge is not there")]
    handshake, session = await check_handshake(target, local)
    results = [endpoints, handshake]
    if session is None:
        results.extend(skipped(("kernel",), "the handshake failed"))
    elif not kernel:
        results.append(CheckResult("kernel", SKIP, "skipped (--no-kernel)"))
    else:
        results.append(await check_kernel(session, timeout))
    if session is not None:
        session.close()
    results.append(origin_result(seen, config))
    return results
