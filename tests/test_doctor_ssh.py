"""The doctor where it runs: an SSH session, a container, neither.

In an SSH session (``SSH_CONNECTION`` set, as sshd sets it) the doctor's
advice is the laptop's ``ssh -N -L`` line, the one the banner and ``url``
print; never a wider listening address (``--ip=0.0.0.0``) or ``docker run``,
which would expose the server on the machine's network. The container advice
is for a container without an SSH session only. The last line names the
warnings when there are any.
"""

from __future__ import annotations

from typing import Any

import pytest

from jupyter_colab_bridge.backend_url import Target, ssh_forward_hint
from jupyter_colab_bridge.cli import print_report, report_summary
from jupyter_colab_bridge.doctor import checks
from jupyter_colab_bridge.doctor.checks import run_doctor, where_the_doctor_runs
from jupyter_colab_bridge.doctor.diagnoses import (
    CheckId,
    CheckResult,
    DoctorReport,
    Status,
    forwarding_check,
    server_down,
)
from jupyter_colab_bridge.doctor.observations import Place
from jupyter_colab_bridge.doctor.server_info import server_from_info

SSH = "203.0.113.7 52144 198.51.100.20 22"
FORWARD = "ssh -N -L 8888:localhost:8888 ada@198.51.100.20"
UNSAFE = ("0.0.0.0", "docker")


def _local(ip: str, port: int = 8888) -> Any:
    return server_from_info({"hostname": ip, "port": port, "base_url": "/", "token": "t", "pid": 1})


def _text(result: CheckResult) -> str:
    return " ".join(filter(None, (result.summary, result.cause, result.fix)))


@pytest.mark.parametrize("container", [True, False])
def test_forwarding_in_ssh_gives_the_forward_and_no_container_advice(container: bool) -> None:
    place = Place(container=container, ssh_forward=FORWARD)
    result = forwarding_check(Target.parse("http://localhost:8888/"), _local("localhost"), place)
    assert result.status == Status.PASS
    assert FORWARD in result.summary
    assert "http://localhost:8888/?token=..." in result.summary
    assert not any(word in _text(result) for word in UNSAFE)


def test_forwarding_in_a_container_without_ssh_keeps_its_advice() -> None:
    result = forwarding_check(
        Target.parse("http://localhost:8888/"), _local("127.0.0.1"), Place(container=True)
    )
    assert result.status == Status.WARN
    assert "--ip=0.0.0.0" in result.fix and "docker run -p 127.0.0.1:8888:8888" in result.fix


def test_a_remote_url_in_ssh_names_this_sessions_forward() -> None:
    place = Place(container=True, ssh_forward=FORWARD)
    result = forwarding_check(Target.parse("http://198.51.100.20:8888/?token=t"), None, place)
    assert result.status == Status.FAIL
    assert f"`{FORWARD}`" in result.fix
    assert not any(word in _text(result) for word in UNSAFE)


@pytest.mark.parametrize(
    ("place", "expected", "absent"),
    [
        (Place(container=True, ssh_forward=FORWARD), FORWARD, UNSAFE),
        (Place(container=True), "docker run -p", ()),
        (Place(), "start the server: `jupyter server`", UNSAFE),
    ],
)
def test_server_down_advice_depends_on_the_place(
    place: Place, expected: str, absent: tuple[str, ...]
) -> None:
    result = server_down(Target.parse("http://localhost:8888/?token=t"), [], place)
    assert result.status == Status.FAIL
    assert expected in result.fix
    assert not any(word in result.fix for word in absent)


def test_where_the_doctor_runs_reads_the_session(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSH_CONNECTION", SSH)
    monkeypatch.setenv("USER", "ada")
    monkeypatch.setenv("LOGNAME", "ada")
    place = where_the_doctor_runs(Target.parse("http://localhost:8888/"), None)
    assert place.ssh_forward == FORWARD
    monkeypatch.delenv("SSH_CONNECTION")
    assert where_the_doctor_runs(Target.parse("http://localhost:8888/"), None).ssh_forward is None
    assert where_the_doctor_runs(None, None).ssh_forward is None  # no URL to forward


@pytest.mark.parametrize(
    ("statuses", "summary"),
    [
        ([Status.PASS, Status.INFO], "All checks passed."),
        (
            [Status.PASS, Status.WARN],
            "No check failed; 1 warning: Host and port seen by the browser.",
        ),
        (
            [Status.FAIL, Status.WARN, Status.WARN],
            "1 failed: Jupyter server; 2 warnings: Host and port seen by the browser, "
            "Host and port seen by the browser.",
        ),
    ],
)
def test_the_summary_names_warnings(statuses: list[Status], summary: str) -> None:
    ids = {Status.FAIL: CheckId.SERVER, Status.WARN: CheckId.FORWARDING}
    report = DoctorReport(
        "http://localhost:8888/",
        [CheckResult(ids.get(s, CheckId.BROWSER), s, "x") for s in statuses],
    )
    assert report_summary(report) == summary


async def test_the_doctor_in_an_ssh_session(
    http_server: Any,
    jp_http_port: int,
    jp_base_url: str,
    token: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A real server checked from inside a (container's) SSH session: the forward, no WARN."""
    monkeypatch.setenv("SSH_CONNECTION", SSH)
    monkeypatch.setenv("USER", "ada")
    monkeypatch.setenv("LOGNAME", "ada")
    monkeypatch.setattr(checks, "in_container", lambda: True)
    url = f"http://127.0.0.1:{jp_http_port}{jp_base_url}?token={token}"
    report = await run_doctor(url, kernel=False)
    print_report(report)
    out = capsys.readouterr().out
    forward = ssh_forward_hint({"SSH_CONNECTION": SSH}, jp_http_port, "ada")
    assert forward is not None and f"`{forward}`" in out  # on one line, to copy
    assert not any(word in out for word in UNSAFE)
    statuses = {str(c.id): c.status for c in report.checks}
    assert statuses["forwarding"] == Status.PASS
    assert "[WARN]" not in out
    assert out.rstrip().splitlines()[-1] == report_summary(report)
