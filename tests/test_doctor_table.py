"""The doctor's table of checks (doctor/checks.py's CHECKS), its enums and its runner.

The runner is driven with the real table whose observers are replaced by
stand-ins that return a chosen status, so the order, the prerequisites and
the skip texts tested are those ``jupyter colab-bridge doctor`` runs with.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from jupyter_colab_bridge.doctor import checks
from jupyter_colab_bridge.doctor.checks import CHECKS, Check, Observed, run_checks, run_doctor
from jupyter_colab_bridge.doctor.diagnoses import (
    CheckId,
    CheckResult,
    DoctorReport,
    Status,
    choose_target,
)
from jupyter_colab_bridge.doctor.kernel_facts import FACTS_CODE
from jupyter_colab_bridge.doctor.server_info import server_from_info

BY_ID = {check.id: check for check in CHECKS}
KERNEL_FACTS = (CheckId.COLAB_PACKAGE, CheckId.DRIVE, CheckId.WIDGETS, CheckId.PACKAGES)


# -- the table -------------------------------------------------------------------
def test_the_table_reports_every_check_once_in_order() -> None:
    reported = [check_id for check in CHECKS for check_id in check.reports]
    assert reported == list(CheckId)
    assert [str(c) for c in reported] == [
        "install",
        "server",
        "endpoints",
        "handshake",
        "kernel",
        "colab_package",
        "drive",
        "widgets",
        "packages",
        "resources",
        "port_proxy",
        "terminal",
        "language_server",
        "origin",
        "forwarding",
        "browser",
    ]


def test_prerequisites_are_todays() -> None:
    needs = {str(check.id): check.needs and str(check.needs) for check in CHECKS}
    assert needs == {
        "install": None,
        "server": None,
        "endpoints": "server",
        "handshake": "endpoints",
        "kernel": "handshake",
        "colab_package": "kernel",
        "resources": "handshake",
        "port_proxy": "handshake",
        "terminal": "handshake",
        "language_server": "handshake",
        "origin": "endpoints",
        "forwarding": "server",
        "browser": None,
    }


def test_a_prerequisite_comes_earlier_and_says_why_others_skip() -> None:
    seen: set[CheckId] = set()
    for check in CHECKS:
        if check.needs is not None:
            assert check.needs in seen, f"{check.id} needs {check.needs}, which runs later"
            if not check.quiet:
                assert BY_ID[check.needs].blocks, f"{check.needs} gives no reason to skip"
        seen.add(check.id)


def test_the_kernel_facts_are_one_quiet_entry_with_their_code() -> None:
    facts = BY_ID[CheckId.COLAB_PACKAGE]
    assert facts.reports == KERNEL_FACTS
    assert facts.needs is CheckId.KERNEL and facts.quiet
    assert facts.kernel_code == FACTS_CODE
    assert [c.kernel_code for c in CHECKS if c.kernel_code] == [FACTS_CODE]


# -- the runner --------------------------------------------------------------------
def _stand_in(statuses: dict[CheckId, Status]) -> list[Check]:
    """The real table; each observer returns its checks with the status chosen (PASS else)."""

    def observer(check: Check) -> Any:
        async def observe(seen: Observed) -> list[CheckResult]:
            return [
                CheckResult(i, statuses.get(check.id, Status.PASS), f"ran {i}")
                for i in check.reports
            ]

        return observe

    return [replace(check, observe=observer(check)) for check in CHECKS]


def _run(statuses: dict[CheckId, Status]) -> list[tuple[str, str, str]]:
    results = asyncio.run(run_checks(Observed(), _stand_in(statuses)))
    return [(str(r.id), str(r.status), r.summary) for r in results]


def test_all_pass_runs_everything() -> None:
    assert _run({}) == [(str(i), "pass", f"ran {i}") for i in CheckId]


def test_no_server_skips_all_but_install_and_browser() -> None:
    got = _run({CheckId.SERVER: Status.FAIL})
    assert got == [
        ("install", "pass", "ran install"),
        ("server", "fail", "ran server"),
        ("endpoints", "skip", "skipped: no server"),
        ("handshake", "skip", "skipped: no server"),
        ("kernel", "skip", "skipped: no server"),
        ("resources", "skip", "skipped: no server"),
        ("port_proxy", "skip", "skipped: no server"),
        ("terminal", "skip", "skipped: no server"),
        ("language_server", "skip", "skipped: no server"),
        ("origin", "skip", "skipped: no server"),
        ("forwarding", "skip", "skipped: no server"),
        ("browser", "pass", "ran browser"),
    ]


def test_no_bridge_skips_what_needs_it_but_checks_forwarding() -> None:
    got = _run({CheckId.ENDPOINTS: Status.FAIL, CheckId.INSTALL: Status.FAIL})
    assert [(i, s) for i, s, _ in got][:3] == [
        ("install", "fail"),
        ("server", "pass"),
        ("endpoints", "fail"),
    ]
    skipped = {i: summary for i, s, summary in got if s == "skip"}
    assert skipped == dict.fromkeys(
        (
            "handshake",
            "kernel",
            "resources",
            "port_proxy",
            "terminal",
            "language_server",
            "origin",
        ),
        "skipped: the bridge is not there",
    )
    assert ("forwarding", "pass", "ran forwarding") in got


def test_a_failed_handshake_skips_kernel_and_resources_not_origin() -> None:
    got = _run({CheckId.HANDSHAKE: Status.FAIL})
    ids = [i for i, _, _ in got]
    assert ("kernel", "skip", "skipped: the handshake failed") in got
    assert ("resources", "skip", "skipped: the handshake failed") in got
    assert ("origin", "pass", "ran origin") in got
    assert not set(ids) & {str(i) for i in KERNEL_FACTS}  # quiet: no line at all


@pytest.mark.parametrize("status", [Status.SKIP, Status.FAIL])
def test_kernel_facts_say_nothing_without_a_kernel(status: Status) -> None:
    got = _run({CheckId.KERNEL: status})
    assert ("kernel", str(status), "ran kernel") in got
    assert not {i for i, _, _ in got} & {str(i) for i in KERNEL_FACTS}
    assert ("resources", "pass", "ran resources") in got


def test_a_warning_or_info_is_no_failure_for_what_follows() -> None:
    got = _run({CheckId.ENDPOINTS: Status.WARN, CheckId.KERNEL: Status.INFO})
    assert [s for _, s, _ in got].count("skip") == 0


def test_the_session_is_closed_when_a_check_raises(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """run_doctor closes the bridge socket the handshake opened, whatever happens after."""

    class Session:
        closed = False

        def close(self) -> None:
            self.closed = True

    session = Session()

    async def opens(seen: Observed) -> list[CheckResult]:
        seen.session = session  # type: ignore[assignment]
        return [CheckResult(CheckId.HANDSHAKE, Status.PASS, "opened")]

    async def breaks(seen: Observed) -> list[CheckResult]:
        raise RuntimeError("a check broke")

    table = [replace(c, observe=opens if c.id is CheckId.HANDSHAKE else breaks) for c in CHECKS]
    monkeypatch.setattr(checks, "CHECKS", tuple(table[3:5]))  # handshake, then kernel
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path))
    with pytest.raises(RuntimeError, match="a check broke"):
        asyncio.run(run_doctor("http://127.0.0.1:9/?token=x"))
    assert session.closed


# -- the enums: output stays what it was with bare strings ----------------------------
def test_statuses_and_ids_print_and_serialize_as_their_values() -> None:
    assert [str(s) for s in Status] == ["pass", "fail", "warn", "skip", "info"]
    assert f"[{Status.FAIL.upper()}] {CheckId.ORIGIN}" == "[FAIL] origin"
    assert f"{Status.WARN:>6}|{CheckId.DRIVE:<6}|" == "  warn|drive |"
    assert Status("skip") is Status.SKIP and CheckId.BROWSER == "browser"
    result = CheckResult(CheckId.ORIGIN, Status.WARN, "s", "c", "f")
    report = DoctorReport("u", [result])
    assert json.dumps(report.as_dict()) == (
        '{"url": "u", "ok": true, "checks": [{"title": "Colab\'s origins allowed", '
        '"id": "origin", "status": "warn", "summary": "s", "cause": "c", "fix": "f"}]}'
    )
    assert not DoctorReport("u", [replace(result, status=Status.FAIL)]).ok


def test_every_check_has_a_title() -> None:
    titles = [c.heading for c in CheckId]
    assert all(titles) and len(set(titles)) == len(titles)
    assert CheckId.KERNEL.heading == "Kernel runs 1+1 through proxied_ws"


# -- the URL given on the command line: bad input ------------------------------------
@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("notaurl", "is not an http(s) URL"),
        ("ftp://localhost:8888/", "is not an http(s) URL"),
        ("http:///?token=x", "is not an http(s) URL"),
        ("http://localhost:99999/", "is not a URL"),
        ("http://[::1/", "is not a URL"),
    ],
)
def test_an_unusable_url_fails_the_server_check(url: str, words: str) -> None:
    target, problem, note = choose_target(url, [])
    assert target is None and note == "" and problem is not None
    assert (problem.id, problem.status, problem.summary) == (
        CheckId.SERVER,
        Status.FAIL,
        "unusable URL",
    )
    assert words in problem.cause
    assert "jupyter colab-bridge doctor 'http://localhost:8888/?token=...'" in problem.fix


def test_without_url_the_first_tcp_server_is_checked() -> None:
    sock = server_from_info({"sock": "/run/j.sock", "port": 0, "token": "a"})
    tcp = [
        server_from_info({"hostname": "", "port": p, "token": "t0k", "pid": p})
        for p in (8888, 8890)
    ]
    target, problem, note = choose_target(None, [sock, *tcp])
    assert problem is None and target is not None
    assert (target.port, target.token) == (8888, "t0k")
    assert note == " (2 servers run; checked the first; pass a URL to check another)"
    target, problem, _ = choose_target(None, [sock])
    assert target is None and problem is not None
    assert problem.summary == "no running Jupyter server found"
    assert "only servers on Unix sockets" in problem.cause
