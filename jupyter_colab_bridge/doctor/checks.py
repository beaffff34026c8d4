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

from ..backend_url import Target
from ..protocol.handshake import MIN_VERSION_PARAM, PROTOCOL_VERSION
from ..protocol.origins import COLAB_ORIGIN, COLAB_ORIGINS
from ..protocol.paths import BRIDGE_PREFIX
from .colab_client import (
    DIAGNOSE_PATH,
    ApiAnswer,
    BridgeSession,
    ClientError,
    ConnectError,
    api_version,
    diagnose,
    hub_token_owner,
    probe,
)
from .diagnoses import (
    FAIL,
    PASS,
    SKIP,
    WARN,
    CheckResult,
    DoctorReport,
    browser_notes,
    check_install,
    explain_not_loaded,
    explain_refused_handshake,
    explain_refused_hub_token,
    find_local_server,
    forwarding_check,
    hub_server_not_running,
    not_jupyter_api,
    origin_result,
    resources_result,
    server_answers,
    server_down,
    skipped,
)
from .kernel_facts import FACTS_CODE, facts_results, parse_facts
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

_BRIDGE_CHECKS = ("endpoints", "handshake", "kernel", "resources", "origin")


async def check_server(
    target: Target, servers: list[RunningServer], local: RunningServer | None, note: str = ""
) -> tuple[CheckResult, ApiAnswer | None]:
    """Jupyter's REST API answers under the URL's base_url; also what it answered."""
    try:
        answer = await api_version(target)
    except ConnectError as e:
        if e.refused:
            return server_down(target, servers), None
        fix = "check the host and port in the URL, and that the server runs"
        return CheckResult("server", FAIL, f"no answer from {target.netloc}", str(e), fix), None
    stopped = hub_server_not_running(target, answer)
    if stopped is not None:
        return stopped, answer
    if answer.status != 200 or answer.version is None:
        return not_jupyter_api(target, answer.status, local), answer
    return server_answers(target, answer.version, note), answer


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


async def _ask_hub(target: Target) -> tuple[int | None, str | None]:
    """Whose token the URL carries, as the Hub says; (None, None) if it cannot be asked."""
    try:
        return await hub_token_owner(target)
    except ConnectError:
        return None, None


async def check_handshake(
    target: Target, local: RunningServer | None, hub: bool = False
) -> tuple[CheckResult, BridgeSession | None]:
    """Open the bridge as Colab does and GET api/kernelspecs through it.

    ``hub``: a JupyterHub answered for the server (the token is then a Hub
    API token, and a refusal is explained by asking the Hub about it).
    """
    try:
        session = await BridgeSession.open(target)
    except ConnectError as e:
        if e.status != 403:
            return CheckResult("handshake", FAIL, f"the handshake failed: {e}"), None
        try:
            alone = await probe(target, BRIDGE_PREFIX, origin=None, query=target.colab_query())
        except ConnectError:
            alone = 0
        if hub and target.hub_user is not None and alone != 101:
            cause, fix = explain_refused_hub_token(target, *await _ask_hub(target))
        else:
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


async def check_resources(session: BridgeSession) -> CheckResult:
    """What Colab's resource monitor will show: ``api/colab/resources`` through the bridge."""
    try:
        reply = await session.request("GET", "api/colab/resources")
    except (ClientError, asyncio.TimeoutError) as e:
        return CheckResult("resources", WARN, f"api/colab/resources did not answer: {e}")
    return resources_result(reply.status, reply.body)


async def check_kernel(session: BridgeSession, timeout: float) -> list[CheckResult]:
    """Start Colab's Python kernel, run 1+1 through proxied_ws, ask what it has, delete it."""
    try:
        run = await run_code(session, "1+1", timeout, more=(FACTS_CODE,))
    except (ClientError, asyncio.TimeoutError) as e:
        return [
            CheckResult(
                "kernel",
                FAIL,
                "the kernel check failed",
                str(e) or "timed out",
                "read the server log; try the kernel alone with `jupyter console`",
            )
        ]
    if run.result != "2":
        return [CheckResult("kernel", FAIL, f"1+1 gave {run.result!r}", "the kernel is broken")]
    protocol = run.subprotocol or "the JSON kernel protocol"
    summary = (
        f"kernel {run.kernel_name}: 1+1 = 2 over {protocol}; deleted. "
        "Colab's Python notebooks run on this kernel"
    )
    facts = parse_facts(run.more[0]) if run.more else None
    return [CheckResult("kernel", PASS, summary), *facts_results(run.kernel_name, facts)]


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
        server, answer = await check_server(target, servers, local, note)
        report.checks.append(server)
        if server.status == PASS:
            report.checks.extend(
                await _bridge_checks(target, config, local, answer, kernel, timeout)
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
    answer: ApiAnswer | None,
    kernel: bool,
    timeout: float,
) -> list[CheckResult]:
    version = answer.version if answer else None
    endpoints, seen = await check_endpoints(target, config, local, version)
    if endpoints.status == FAIL:
        return [endpoints, *skipped(_BRIDGE_CHECKS[1:], "the bridge is not there")]
    hub = answer is not None and answer.hub_version is not None
    handshake, session = await check_handshake(target, local, hub)
    results = [endpoints, handshake]
    if session is None:
        results.extend(skipped(("kernel", "resources"), "the handshake failed"))
    else:
        if not kernel:
            results.append(CheckResult("kernel", SKIP, "skipped (--no-kernel)"))
        else:
            results.extend(await check_kernel(session, timeout))
        results.append(await check_resources(session))
        session.close()
    statuses = {COLAB_ORIGIN: seen}
    for origin in COLAB_ORIGINS:
        if origin != COLAB_ORIGIN:
            try:
                statuses[origin] = await probe(target, DIAGNOSE_PATH, origin=origin)
            except ConnectError:
                statuses[origin] = 0
    results.append(origin_result(statuses, config))
    return results
