"""The doctor's verdicts on Colab's other surfaces: ``colab/tty`` and ``colab/lsp``.

Pure, like :mod:`.diagnoses`: each function turns a :class:`.observations.SurfaceSeen`
into a :class:`.diagnoses.CheckResult`.
"""

from __future__ import annotations

from ..protocol.language_server import INSTALL_ONE
from ..protocol.paths import LANGUAGE_SERVER_PATH, TERMINAL_PATH
from .diagnoses import CheckId, CheckResult, Status
from .observations import SurfaceSeen


def terminal_result(seen: SurfaceSeen) -> CheckResult:
    """``colab/tty``: served (a plain GET with the token reaches the handler), or why not."""
    if seen.error is not None:
        return CheckResult(CheckId.TERMINAL, Status.WARN, f"{TERMINAL_PATH}: {seen.error}")
    if seen.status == 400:
        return CheckResult(
            CheckId.TERMINAL,
            Status.PASS,
            f"{TERMINAL_PATH} is served: one shell per server (terminal 'colab' in "
            "api/terminals), guarded by the token",
        )
    if seen.status == 404:
        return CheckResult(
            CheckId.TERMINAL,
            Status.INFO,
            f"{TERMINAL_PATH} is off: Colab's terminal is not available on this runtime",
            "ColabBridge.terminal = False, ServerApp.terminals_enabled = False, or terminado "
            "is missing (Windows needs pywinpty)",
            "remove the setting that turns it off, if you want Colab's terminal",
        )
    return CheckResult(
        CheckId.TERMINAL,
        Status.WARN,
        f"{TERMINAL_PATH} answered HTTP {seen.status}",
        "see the server's log for the refusal",
    )


def language_server_result(seen: SurfaceSeen) -> CheckResult:
    """``colab/lsp``: a language server answered ``initialize``, or why not."""
    if seen.answer is not None:
        return CheckResult(
            CheckId.LANGUAGE_SERVER,
            Status.PASS,
            f"{LANGUAGE_SERVER_PATH}: {seen.answer} answered initialize (a process per socket)",
        )
    if seen.status == 404:
        return CheckResult(
            CheckId.LANGUAGE_SERVER,
            Status.INFO,
            f"{LANGUAGE_SERVER_PATH} is off (ColabBridge.language_server = False)",
        )
    if seen.closed is not None:
        return CheckResult(
            CheckId.LANGUAGE_SERVER,
            Status.INFO,
            f"{LANGUAGE_SERVER_PATH} has no language server: code completion from the "
            "runtime is not available",
            seen.closed,
            INSTALL_ONE + ", then restart the server",
        )
    why = seen.error or f"HTTP {seen.status}"
    return CheckResult(
        CheckId.LANGUAGE_SERVER,
        Status.WARN,
        f"{LANGUAGE_SERVER_PATH} did not answer initialize: {why}",
        "see the server's log",
    )
