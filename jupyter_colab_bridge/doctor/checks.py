"""``jupyter colab-bridge doctor``: why Colab cannot connect, and the fix.

:data:`CHECKS` is the doctor: one ordered table, in the order a connection
from Colab's page meets each step (package and extension, server, bridge
endpoints, the handshake with the token and a request through it, a kernel
running ``1+1`` and what a notebook finds in it, the resource monitor, the
origin, the host and port, browser notes). Each entry names the check it
needs; when that one did not pass, the entry is skipped with the reason the
first unmet check gives (``skipped: no server``), or says nothing if it is
quiet. An entry's function only observes: it looks at the server the way
Colab's page does (:mod:`.colab_client`), notes what it saw in
:class:`Observed` for the entries after it, and hands it to its verdict
function in :mod:`.diagnoses`. A new check is a :class:`.diagnoses.CheckId`
with its verdict function, and one entry here.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field, replace
from typing import Callable

from ..backend_url import Target, ssh_forward_hint
from ..protocol.handshake import MIN_VERSION_PARAM, PROTOCOL_VERSION
from ..protocol.origins import COLAB_ORIGIN, COLAB_ORIGINS
from ..protocol.paths import BRIDGE_PREFIX, TERMINAL_PATH
from .colab_client import (
    DIAGNOSE_PATH,
    BridgeSession,
    ClientError,
    ConnectError,
    api_version,
    diagnose,
    handler_status,
    hub_token_owner,
    lsp_initialize,
    probe,
)
from .diagnoses import (
    CheckId,
    CheckResult,
    DoctorReport,
    Status,
    browser_notes,
    check_install,
    choose_target,
    endpoints_result,
    find_local_server,
    forwarding_check,
    handshake_result,
    kernel_not_asked,
    kernel_result,
    origin_result,
    port_proxy_result,
    resources_result,
    server_result,
    skipped,
)
from .kernel_facts import FACTS_CODE, facts_results, parse_facts
from .kernel_run import run_code
from .observations import (
    ApiAnswer,
    BridgeConfig,
    EndpointsSeen,
    HandshakeSeen,
    KernelRun,
    Place,
    RunningServer,
    ServerSeen,
    SurfaceSeen,
)
from .server_info import (
    bridge_config,
    in_container,
    python_imports_bridge,
    running_servers,
    server_python,
)
from .surfaces import language_server_result, terminal_result


@dataclass
class Observed:
    """What one doctor run knows so far: its inputs, and what earlier checks saw."""

    target: Target | None = None
    problem: CheckResult | None = None  # why there is no target
    note: str = ""  # ends the server check's summary
    servers: list[RunningServer] = field(default_factory=list)
    local: RunningServer | None = None  # the running server the target names
    config: BridgeConfig = field(default_factory=BridgeConfig)
    kernel: bool = True  # start a kernel (not --no-kernel)
    timeout: float = 60.0  # seconds for the kernel check
    answer: ApiAnswer | None = None  # GET {base_url}api
    endpoints_status: int = 0  # what the diagnose socket answered Colab's origin
    session: BridgeSession | None = None  # the bridge socket the handshake opened
    kernel_run: KernelRun | None = None
    kernel_answers: dict[str, str] = field(default_factory=dict)  # kernel_code -> result
    place: Place = field(default_factory=Place)  # a container, an SSH session

    @property
    def where(self) -> Target:
        """The target; every check that needs the server check has one."""
        assert self.target is not None, "needs the server check"
        return self.target

    @property
    def bridge(self) -> BridgeSession:
        """The open bridge socket; every check that needs the handshake has one."""
        assert self.session is not None, "needs the handshake check"
        return self.session


Observe = Callable[[Observed], Awaitable[list[CheckResult]]]


@dataclass(frozen=True)
class Check:
    """One entry of :data:`CHECKS`."""

    reports: tuple[CheckId, ...]  # the results it may give; the first is its own id
    observe: Observe
    needs: CheckId | None = None  # runs only when this earlier check passed
    blocks: str = ""  # why the checks that need this one are skipped when it did not pass
    quiet: bool = False  # when `needs` did not pass: no result at all, not even a skip
    kernel_code: str = ""  # code the kernel check also runs; result in Observed.kernel_answers

    @property
    def id(self) -> CheckId:
        return self.reports[0]


# -- what each check observes -------------------------------------------------
async def _install(seen: Observed) -> list[CheckResult]:
    return [check_install(seen.config)]


async def _server(seen: Observed) -> list[CheckResult]:
    if seen.target is None:
        assert seen.problem is not None
        return [seen.problem]
    try:
        seen.answer = await api_version(seen.target)
        server = ServerSeen(seen.answer)
    except ConnectError as e:
        server = ServerSeen(error=str(e), refused=e.refused)
    return [server_result(seen.target, server, seen.servers, seen.local, seen.note, seen.place)]


async def _endpoints(seen: Observed) -> list[CheckResult]:
    target, config = seen.where, seen.config
    version = seen.answer.version if seen.answer else None
    looked = EndpointsSeen(f"{target.base_url}{DIAGNOSE_PATH}")
    try:
        status = await probe(target, DIAGNOSE_PATH, query={MIN_VERSION_PARAM: PROTOCOL_VERSION})
    except ConnectError as e:
        return [endpoints_result(replace(looked, error=str(e)), config, version)]
    seen.endpoints_status = status
    looked = replace(looked, status=status)
    if status == 404:
        local = seen.local
        python = server_python(local.pid) if local and config.enabled is not False else None
        imports = python_imports_bridge(python) if python else None
        looked = replace(looked, python=python, imports=imports)
    elif status == 101:
        try:
            looked = replace(looked, reply=await diagnose(target))
        except (ClientError, asyncio.TimeoutError, ValueError) as e:
            looked = replace(looked, error=str(e))
    return [endpoints_result(looked, config, version)]


async def _handshake(seen: Observed) -> list[CheckResult]:
    """Open the bridge as Colab does and GET api/kernelspecs through it."""
    target = seen.where
    try:
        seen.session = await BridgeSession.open(target)
    except ConnectError as e:
        return [handshake_result(target, seen.local, await _refusal(seen, e))]
    try:
        reply = await seen.session.request("GET", "api/kernelspecs")
    except (ClientError, asyncio.TimeoutError) as e:
        looked = HandshakeSeen(no_reply=str(e))
    else:
        specs = reply.json() if reply.status == 200 else {}
        looked = HandshakeSeen(reply_status=reply.status, reply_text=reply.status_text, specs=specs)
    result = handshake_result(target, seen.local, looked)
    if result.status == Status.FAIL:
        seen.session.close()
        seen.session = None
    return [result]


async def _refusal(seen: Observed, error: ConnectError) -> HandshakeSeen:
    """A refused handshake: for a 403, whether the token alone opens it, or what a Hub says."""
    looked = HandshakeSeen(refused=str(error), status=error.status)
    if error.status != 403:
        return looked
    target = seen.where
    try:
        alone = await probe(target, BRIDGE_PREFIX, origin=None, query=target.colab_query())
    except ConnectError:
        alone = 0
    looked = replace(looked, alone=alone)
    on_hub = seen.answer is not None and seen.answer.hub_version is not None
    if on_hub and target.hub_user is not None and alone != 101:
        try:
            looked = replace(looked, hub=await hub_token_owner(target))
        except ConnectError:
            looked = replace(looked, hub=(None, None))
    return looked


async def _kernel(seen: Observed) -> list[CheckResult]:
    """Start Colab's Python kernel, run 1+1 (and the table's kernel code), delete it."""
    if not seen.kernel:
        return [kernel_not_asked()]
    more = tuple(check.kernel_code for check in CHECKS if check.kernel_code)
    try:
        run = await run_code(seen.bridge, "1+1", seen.timeout, more=more)
    except (ClientError, asyncio.TimeoutError) as e:
        return [kernel_result(None, str(e))]
    seen.kernel_run = run
    seen.kernel_answers = dict(zip(more, run.more))
    return [kernel_result(run)]


async def _kernel_facts(seen: Observed) -> list[CheckResult]:
    assert seen.kernel_run is not None
    facts = parse_facts(seen.kernel_answers.get(FACTS_CODE, ""))
    return facts_results(seen.kernel_run.kernel_name, facts)


async def _resources(seen: Observed) -> list[CheckResult]:
    """What Colab's resource monitor will show: ``api/colab/resources`` through the bridge."""
    try:
        reply = await seen.bridge.request("GET", "api/colab/resources")
    except (ClientError, asyncio.TimeoutError) as e:
        return [resources_result(None, b"", str(e))]
    return [resources_result(reply.status, reply.body)]


async def _port_proxy(seen: Observed) -> list[CheckResult]:
    """Whether ``_proxy/<port>/`` is served: port 0 through the bridge, which reaches nothing."""
    try:
        reply = await seen.bridge.request("GET", "_proxy/0")
    except (ClientError, asyncio.TimeoutError) as e:
        return [port_proxy_result(None, b"", str(e))]
    return [port_proxy_result(reply.status, reply.body)]


async def _terminal(seen: Observed) -> list[CheckResult]:
    """``colab/tty`` as Colab's page with the token, by a plain GET: no shell is started."""
    try:
        return [terminal_result(SurfaceSeen(await handler_status(seen.where, TERMINAL_PATH)))]
    except ConnectError as e:
        return [terminal_result(SurfaceSeen(error=str(e)))]


async def _language_server(seen: Observed) -> list[CheckResult]:
    """``colab/lsp``: a language server answers ``initialize`` (its process ends after)."""
    try:
        return [language_server_result(await lsp_initialize(seen.where, seen.timeout))]
    except ConnectError as e:
        return [language_server_result(SurfaceSeen(error=str(e)))]


async def _origin(seen: Observed) -> list[CheckResult]:
    """The diagnose socket's answer to each of Colab's origins."""
    statuses = {COLAB_ORIGIN: seen.endpoints_status}
    for origin in COLAB_ORIGINS:
        if origin != COLAB_ORIGIN:
            try:
                statuses[origin] = await probe(seen.where, DIAGNOSE_PATH, origin=origin)
            except ConnectError:
                statuses[origin] = 0
    return [origin_result(statuses, seen.config)]


async def _forwarding(seen: Observed) -> list[CheckResult]:
    return [forwarding_check(seen.where, seen.local, seen.place)]


async def _browser(seen: Observed) -> list[CheckResult]:
    return [browser_notes()]


#: The kernel's INFO lines: what a Colab notebook finds in its kernel.
KERNEL_FACTS = (CheckId.COLAB_PACKAGE, CheckId.DRIVE, CheckId.WIDGETS, CheckId.PACKAGES)

#: The doctor's checks, in the order they run and are reported.
CHECKS: tuple[Check, ...] = (
    Check((CheckId.INSTALL,), _install),
    Check((CheckId.SERVER,), _server, blocks="no server"),
    Check((CheckId.ENDPOINTS,), _endpoints, needs=CheckId.SERVER, blocks="the bridge is not there"),
    Check((CheckId.HANDSHAKE,), _handshake, needs=CheckId.ENDPOINTS, blocks="the handshake failed"),
    Check((CheckId.KERNEL,), _kernel, needs=CheckId.HANDSHAKE),
    Check(KERNEL_FACTS, _kernel_facts, needs=CheckId.KERNEL, quiet=True, kernel_code=FACTS_CODE),
    Check((CheckId.RESOURCES,), _resources, needs=CheckId.HANDSHAKE),
    Check((CheckId.PORT_PROXY,), _port_proxy, needs=CheckId.HANDSHAKE),
    Check((CheckId.TERMINAL,), _terminal, needs=CheckId.HANDSHAKE),
    Check((CheckId.LANGUAGE_SERVER,), _language_server, needs=CheckId.HANDSHAKE),
    Check((CheckId.ORIGIN,), _origin, needs=CheckId.ENDPOINTS),
    Check((CheckId.FORWARDING,), _forwarding, needs=CheckId.SERVER),
    Check((CheckId.BROWSER,), _browser),
)


async def run_checks(seen: Observed, checks: Sequence[Check] | None = None) -> list[CheckResult]:
    """Run ``checks`` (all of :data:`CHECKS`) in order, skipping those whose prerequisite failed."""
    results: list[CheckResult] = []
    unmet: dict[CheckId, str] = {}  # a check that did not pass -> why those needing it skip
    for check in CHECKS if checks is None else checks:
        why = unmet.get(check.needs) if check.needs is not None else None
        if why is not None:
            unmet[check.id] = why
            if not check.quiet:
                results.extend(skipped(check.reports, why))
            continue
        found = await check.observe(seen)
        results.extend(found)
        if not found or found[0].status in (Status.FAIL, Status.SKIP):
            unmet[check.id] = check.blocks
    return results


async def check_kernel(session: BridgeSession, timeout: float) -> list[CheckResult]:
    """The kernel check and those that need it, on an open bridge ``session`` (left open)."""
    needing = [c for c in CHECKS if CheckId.KERNEL in (c.id, c.needs)]
    return await run_checks(Observed(session=session, timeout=timeout), needing)


def where_the_doctor_runs(target: Target | None, local: RunningServer | None) -> Place:
    """A container, and in an SSH session the laptop's forward to the checked server's port."""
    port = target.port if target else None
    ssh = ssh_forward_hint(os.environ, port, listen_ip=local.ip if local else None)
    return Place(container=in_container(), ssh_forward=ssh)


async def run_doctor(url: str | None, kernel: bool = True, timeout: float = 60.0) -> DoctorReport:
    """Run every check against ``url`` (or the first running server), in order."""
    servers = running_servers()
    target, problem, note = choose_target(url, servers)
    local = find_local_server(target, servers) if target else None
    seen = Observed(
        target=target,
        problem=problem,
        note=note,
        servers=servers,
        local=local,
        config=bridge_config(local.pid if local else None),
        kernel=kernel,
        timeout=timeout,
        place=where_the_doctor_runs(target, local),
    )
    report = DoctorReport(url=target.masked_url if target else url)
    try:
        report.checks.extend(await run_checks(seen))
    finally:
        if seen.session is not None:
            seen.session.close()
    return report
