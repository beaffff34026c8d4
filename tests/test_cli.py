"""``jupyter colab-bridge url`` and ``doctor`` against real servers in each state.

Three real ``jupyter server`` processes run for the whole module, each with
its runtime files in a temporary directory, as a user would start them:
one healthy (generated token, ``base_url`` ``/jb/``), one with the extension
disabled, one whose allowlist lacks Colab's origin. A wrong token, a missing
token and a server that is down are tried against them; the doctor must name
each cause and exit non-zero, and pass (kernel included) on the healthy one.
``--help`` and ``--version`` import neither jupyter_server nor tornado, and a
closed pipe ends a command quietly.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from jupyter_server.auth import passwd

from jupyter_colab_bridge.cli import main
from jupyter_colab_bridge.doctor.colab_client import Target
from jupyter_colab_bridge.doctor.diagnoses import (
    FAIL,
    PASS,
    SKIP,
    WARN,
    explain_not_loaded,
    forwarding_check,
)
from jupyter_colab_bridge.doctor.observations import Place
from jupyter_colab_bridge.doctor.server_info import (
    BridgeConfig,
    RunningServer,
    backend_url_from_info,
    bridge_config,
    server_from_info,
)
from jupyter_colab_bridge.protocol.origins import COLAB_ORIGIN, COLAB_ORIGINS
from tests.helpers.probes import until_sync
from tests.helpers.servers import free_port

OTHER_ORIGIN = "http://other.example"


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    info: dict[str, Any]
    log: Path

    @property
    def url(self) -> str:
        return backend_url_from_info(self.info)

    @property
    def port(self) -> int:
        return int(self.info["port"])


def _jupyter_env(base: Path) -> dict[str, str]:
    env = {
        "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
        "JUPYTER_CONFIG_DIR": str(base / "config"),
        "JUPYTER_DATA_DIR": str(base / "data"),
        "IPYTHONDIR": str(base / "ipython"),
        "JUPYTER_PLATFORM_DIRS": "1",
    }
    for value in env.values():
        os.makedirs(value, exist_ok=True)
    return env


def _start(base: Path, name: str, *args: str) -> tuple[subprocess.Popen[bytes], Path]:
    log = base / f"{name}.log"
    root = base / "root"
    root.mkdir(exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "jupyter_server",
        "--no-browser",
        "--allow-root",
        f"--port={free_port()}",
        f"--ServerApp.root_dir={root}",
        *args,
    ]
    env = {**os.environ, **_jupyter_env(base)}
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    return proc, log


def _wait_ready(base: Path, proc: subprocess.Popen[bytes], log: Path) -> dict[str, Any]:
    info_file = base / "runtime" / f"jpserver-{proc.pid}.json"
    info: dict[str, Any] = {}

    def ready() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()}")
        try:
            info.update(json.loads(info_file.read_text()))
        except (OSError, ValueError):  # not there yet, or being written
            return False
        return True

    if not until_sync(ready, 60):
        raise RuntimeError(f"server did not start: {log.read_text()}")
    return info


def _wait_for_log(log: Path, text: str) -> str:
    assert until_sync(lambda: text in log.read_text()), (
        f"{text!r} never appeared in the server log:\n{log.read_text()}"
    )
    return log.read_text()


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("colab-bridge-cli")


@pytest.fixture(scope="module")
def servers(base: Path) -> Iterator[dict[str, Server]]:
    """The servers, started in parallel, stopped at the end."""
    started = {
        "good": _start(base, "good", "--ServerApp.base_url=/jb/"),
        "disabled": _start(
            base,
            "disabled",
            "--IdentityProvider.token=token-disabled",
            "--ServerApp.jpserver_extensions=jupyter_colab_bridge=False",
        ),
        "origin": _start(
            base,
            "origin",
            "--IdentityProvider.token=token-origin",
            f"--ColabBridge.allowed_origins={OTHER_ORIGIN}",
        ),
        "password": _start(
            base,
            "password",
            "--IdentityProvider.token=",
            f"--PasswordIdentityProvider.hashed_password={passwd('pw-only')}",
        ),
        "noauth": _start(base, "noauth", "--IdentityProvider.token="),
    }
    try:
        yield {
            name: Server(proc, _wait_ready(base, proc, log), log)
            for name, (proc, log) in started.items()
        }
    finally:
        for proc, _log in started.values():
            proc.terminate()
        for proc, _log in started.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def env(base: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Point this process's Jupyter paths where the servers keep theirs."""
    values = _jupyter_env(base)
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(list(argv))
    return code, capsys.readouterr().out


def run_doctor_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code, out = run_cli(capsys, "doctor", "--json", *argv)
    report = json.loads(out)
    report["by_id"] = {c["id"]: c for c in report["checks"]}
    return code, report


# -- url and the banner -------------------------------------------------------
def test_banner_has_the_url_to_paste_origins_and_doctor(servers: dict[str, Server]) -> None:
    good = servers["good"]
    log = _wait_for_log(good.log, "jupyter colab-bridge doctor")
    lines = [line.strip() for line in log.splitlines()]
    assert good.url == f"http://localhost:{good.port}/jb/?token={good.info['token']}"
    assert good.url in lines
    assert f"Allowed page origins: {', '.join(sorted(COLAB_ORIGINS))}" in lines
    assert "If Colab cannot connect, run: jupyter colab-bridge doctor" in lines

    # A configured token is not printed; the user is told to put theirs in.
    origin_log = _wait_for_log(servers["origin"].log, "jupyter colab-bridge doctor")
    assert "token-origin" not in origin_log
    assert f"http://localhost:{servers['origin'].port}/?token=..." in origin_log
    assert f"Allowed page origins: {OTHER_ORIGIN}" in origin_log


def test_url_lists_each_running_server(
    servers: dict[str, Server], env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run_cli(capsys, "url", "--json")
    assert code == 0
    listed = {entry["url"]: entry for entry in json.loads(out)}
    good = listed[servers["good"].url]
    assert good["bridge"] == "enabled"
    assert good["colab_origin_allowed"] is True
    assert good["allowed_origins"] == list(COLAB_ORIGINS)
    disabled = listed[servers["disabled"].url]
    assert disabled["bridge"].startswith("not loaded")
    origin = listed[servers["origin"].url]
    assert origin["bridge"] == "enabled"
    assert origin["colab_origin_allowed"] is False
    # the server's own options, read with psutil (every system)
    assert origin["allowed_origins"] == [OTHER_ORIGIN]

    code, out = run_cli(capsys, "url")
    assert code == 0
    assert f"  {servers['good'].url}\n" in out
    assert "jupyter colab-bridge doctor" in out


def test_url_without_servers_says_how_to_start_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path))
    code, out = run_cli(capsys, "url")
    assert code == 1
    assert "Start one with: jupyter server" in out


def test_jupyter_subcommand_and_help(servers: dict[str, Server], env: dict[str, str]) -> None:
    jupyter = shutil.which("jupyter", path=os.path.dirname(sys.executable))
    assert jupyter, "the jupyter command is not installed next to this Python"
    full_env = {**os.environ, **env}
    done = subprocess.run(
        [jupyter, "colab-bridge", "url", "--json"],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert servers["good"].url in [entry["url"] for entry in json.loads(done.stdout)]
    for sub in ("url", "doctor"):
        helped = subprocess.run(
            [jupyter, "colab-bridge", sub, "--help"],
            env=full_env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert helped.returncode == 0
        assert "--json" in helped.stdout
    assert "--no-kernel" in helped.stdout


# -- doctor: the healthy server -----------------------------------------------
def test_doctor_passes_on_a_healthy_server_kernel_included(
    servers: dict[str, Server], env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    good = servers["good"]
    code, out = run_cli(capsys, "doctor", good.url)
    assert code == 0, out
    assert "[FAIL]" not in out
    assert "[PASS] Kernel runs 1+1 through proxied_ws: kernel python3: 1+1 = 2 over" in out
    assert "v1.kernel.websocket.jupyter.org" in out  # negotiated through proxied_ws
    # one line with what Colab's resource monitor will show
    assert "[PASS] Resource monitor (api/colab/resources): RAM " in out
    assert "GiB free of" in out and ("GPUs: " in out or "no GPU" in out)
    assert "[PASS] Colab's origins allowed: https://colab.research.google.com and " in out
    # the last line names the warnings, if any (a container here: the forwarding advice)
    last = out.rstrip().splitlines()[-1]
    warned = [line for line in out.splitlines() if line.startswith("[WARN]")]
    if warned:
        assert last.startswith(f"No check failed; {len(warned)} warning")
    else:
        assert last == "All checks passed."
    assert good.info["token"] not in out  # shareable: the token is shortened
    # the kernel the doctor started was deleted again
    log = good.log.read_text()
    assert log.count("Kernel started") == log.count("Kernel shutdown") >= 1


def test_doctor_without_url_checks_the_running_server(
    servers: dict[str, Server],
    env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    good = servers["good"]
    own = Path(env["JUPYTER_RUNTIME_DIR"]) / f"jpserver-{good.proc.pid}.json"
    shutil.copy(own, tmp_path / own.name)
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path))
    code, report = run_doctor_json(capsys, "--no-kernel")
    assert code == 0, report
    assert report["ok"] is True
    statuses = {k: c["status"] for k, c in report["by_id"].items()}
    assert statuses["kernel"] == SKIP
    for check_id in ("install", "server", "endpoints", "handshake", "resources", "origin"):
        assert statuses[check_id] == PASS, report["by_id"][check_id]
    assert statuses["forwarding"] in (PASS, WARN)
    assert report["url"].startswith(f"http://localhost:{good.port}/jb/?token=")


# -- doctor: each failing state -----------------------------------------------
def test_doctor_wrong_token(
    servers: dict[str, Server], env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    good = servers["good"]
    code, report = run_doctor_json(capsys, f"http://localhost:{good.port}/jb/?token=wrong")
    assert code == 1
    handshake = report["by_id"]["handshake"]
    assert handshake["status"] == FAIL
    assert "not the token of the server" in handshake["cause"]
    assert "jupyter colab-bridge url" in handshake["fix"]
    assert report["by_id"]["origin"]["status"] == PASS
    assert report["by_id"]["kernel"]["status"] == SKIP


def test_doctor_missing_token(
    servers: dict[str, Server], env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = run_doctor_json(capsys, f"http://localhost:{servers['good'].port}/jb/")
    assert code == 1
    handshake = report["by_id"]["handshake"]
    assert handshake["status"] == FAIL
    assert "carries no token" in handshake["cause"]


def test_doctor_password_only_server(
    servers: dict[str, Server], env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Colab needs a token: the doctor says so, and how to set one."""
    server = servers["password"]
    assert server.info["token"] == ""
    code, report = run_doctor_json(capsys, "--no-kernel", server.url)
    assert code == 1
    handshake = report["by_id"]["handshake"]
    assert handshake["status"] == FAIL
    assert "no token" in handshake["cause"] and "password" in handshake["cause"]
    assert "--IdentityProvider.token=" in handshake["fix"]
    assert f"http://localhost:{server.port}/?token=<that token>" in handshake["fix"]


def test_doctor_server_without_authentication(
    servers: dict[str, Server], env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """No token and no password: the handshake check names that, not the origin.

    Such a server lets a script in without any credential, so the doctor's
    token-alone handshake opens; that must not read as "the origin is refused".
    """
    server = servers["noauth"]
    assert server.info["token"] == "" and not server.info.get("password")
    code, report = run_doctor_json(capsys, "--no-kernel", server.url)
    assert code == 1
    handshake = report["by_id"]["handshake"]
    assert handshake["status"] == FAIL
    assert "no token" in handshake["cause"]
    assert "origin" not in handshake["cause"]
    assert "JUPYTER_TOKEN" in handshake["fix"]


def test_doctor_extension_disabled(
    servers: dict[str, Server], env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = run_doctor_json(capsys, "--no-kernel", servers["disabled"].url)
    assert code == 1
    endpoints = report["by_id"]["endpoints"]
    assert endpoints["status"] == FAIL
    assert "answers 404" in endpoints["summary"]
    assert "disabled" in endpoints["cause"]
    assert f"command line of process {servers['disabled'].proc.pid}" in endpoints["cause"]
    assert "jpserver_extensions=jupyter_colab_bridge=False" in endpoints["fix"]
    assert report["by_id"]["handshake"]["status"] == SKIP


def test_doctor_origin_not_allowed(
    servers: dict[str, Server], env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = run_doctor_json(capsys, "--no-kernel", servers["origin"].url)
    assert code == 1
    handshake = report["by_id"]["handshake"]
    assert handshake["status"] == FAIL
    assert "refuses the origin" in handshake["cause"]
    assert "token is accepted" in handshake["cause"]
    origin = report["by_id"]["origin"]
    assert origin["status"] == FAIL
    assert (
        f"c.ColabBridge.allowed_origins = ['{COLAB_ORIGIN}', 'https://colab.google.com']"
        in (origin["fix"])
    )
    assert "https://colab.google.com" in origin["summary"]
    assert OTHER_ORIGIN in origin["cause"]
    assert "refused a WebSocket from origin" in servers["origin"].log.read_text()


def test_doctor_server_down(
    servers: dict[str, Server], env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    code, out = run_cli(capsys, "doctor", f"http://localhost:{port}/?token=abc")
    assert code == 1
    assert f"[FAIL] Jupyter server: no server at localhost:{port}" in out
    assert "connection refused" in out
    # the fix points at the servers that do run, without printing their tokens
    assert f"http://localhost:{servers['good'].port}/jb/?token=" in out
    assert servers["good"].info["token"] not in out


def test_doctor_wrong_base_url(
    servers: dict[str, Server], env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    good = servers["good"]
    code, report = run_doctor_json(capsys, f"http://localhost:{good.port}/?token=x")
    assert code == 1
    server = report["by_id"]["server"]
    assert server["status"] == FAIL
    assert "has base_url /jb/" in server["cause"]


# -- pure parts ---------------------------------------------------------------
def _local(ip: str, port: int = 8888) -> RunningServer:
    return server_from_info({"hostname": ip, "port": port, "base_url": "/", "token": "t", "pid": 1})


def test_backend_url_matches_the_banner_rule() -> None:
    info = {"hostname": "0.0.0.0", "port": 9000, "base_url": "/x/", "token": "a b", "secure": True}
    assert backend_url_from_info(info) == "https://localhost:9000/x/?token=a%20b"
    assert (
        backend_url_from_info({"hostname": "::1", "port": 1, "base_url": "/"}) == "http://[::1]:1/"
    )


def test_target_parse_and_mask() -> None:
    target = Target.parse("http://localhost:8888/jb?token=abcdef123")
    assert (target.host, target.port, target.base_url, target.token) == (
        "localhost",
        8888,
        "/jb/",
        "abcdef123",
    )
    assert "abcdef123" not in target.masked_url
    with pytest.raises(ValueError, match="not an http"):
        Target.parse("localhost:8888")


def test_forwarding_verdicts() -> None:
    remote = forwarding_check(Target.parse("http://192.168.1.5:8888/?token=t"), None, Place())
    assert remote.status == FAIL
    assert "mixed" in remote.cause
    assert "ssh -N -L 8888:localhost:8888" in remote.fix
    boxed = forwarding_check(
        Target.parse("http://localhost:8888/"), _local("localhost"), Place(container=True)
    )
    assert boxed.status == WARN
    assert "--ip=0.0.0.0" in boxed.fix
    open_box = forwarding_check(
        Target.parse("http://localhost:8888/"), _local("0.0.0.0"), Place(container=True)
    )
    assert open_box.status == PASS


def test_config_file_that_disables_the_extension_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_dir = tmp_path / "config"
    (config_dir / "jupyter_server_config.d").mkdir(parents=True)
    off = config_dir / "jupyter_server_config.d" / "zz_off.json"
    disable = {"ServerApp": {"jpserver_extensions": {"jupyter_colab_bridge": False}}}
    off.write_text(json.dumps(disable))
    (config_dir / "jupyter_server_config.json").write_text(
        json.dumps({"ColabBridge": {"allowed_origins": [OTHER_ORIGIN, COLAB_ORIGIN]}})
    )
    # JUPYTER_CONFIG_PATH comes first; in a virtualenv, the environment's own
    # config (which enables the extension) outranks JUPYTER_CONFIG_DIR.
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", str(config_dir))
    config = bridge_config()
    assert config.enabled is False
    assert str(off) in config.disabled_by
    assert config.allowed_origins == [OTHER_ORIGIN, COLAB_ORIGIN]


def test_not_loaded_verdicts() -> None:
    enabled = BridgeConfig(enabled=True)
    cause, fix = explain_not_loaded(enabled, False, "/opt/other/bin/python3", "2.14.0")
    assert "/opt/other/bin/python3" in cause
    assert fix.startswith("run `/opt/other/bin/python3 -m pip install jupyter_colab_bridge`")
    cause, fix = explain_not_loaded(enabled, True, "/usr/bin/python3", "6.5.4")
    assert "not jupyter_server 2" in cause
    cause, fix = explain_not_loaded(
        BridgeConfig(enabled=False, disabled_by=["/x.json"]), None, None, "2.1"
    )
    assert "/x.json" in cause
    assert "jupyter server extension enable jupyter_colab_bridge" in fix
    cause, fix = explain_not_loaded(enabled, True, None, "2.14.0")
    assert "started before the package was installed" in cause
    assert "start it again" in fix


def test_settings_lists_every_bridge_setting(capsys: pytest.CaptureFixture[str]) -> None:
    from jupyter_colab_bridge.cli import main
    from jupyter_colab_bridge.settings import BridgeSettings

    assert main(["settings"]) == 0
    out = capsys.readouterr().out
    for name in BridgeSettings.class_own_traits(config=True):
        assert f"c.ColabBridge.{name} = " in out
    assert (
        "c.ColabBridge.allowed_origins = "
        "['https://colab.research.google.com', 'https://colab.google.com']"
    ) in out
    assert "answer_yes" not in out  # only the bridge's own settings


# --------------------------------------------------------------------------------------
# -- The command's start and end: lazy imports, and a reader that goes away (issue 26,
# item 6).
#
# No timing here (``benchmarks/cli_startup.py`` prints the figures): what is
# checked is what a command imports, in a fresh interpreter, and that a closed
# pipe ends the command without a traceback.
# (These tests were tests/test_cli_startup.py.)
# --------------------------------------------------------------------------------------
HEAVY = ("jupyter_server", "tornado", "traitlets", "jupyter_client", "zmq")


def modules_after(*argv: str) -> set[str]:
    """The modules a fresh interpreter holds after ``main(argv)`` returned or exited."""
    code = (
        "import json, sys\n"
        "from jupyter_colab_bridge.cli import main\n"
        "try:\n"
        f"    main({list(argv)!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "sys.stderr.write(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    return set(json.loads(done.stderr))


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["doctor", "--help"]])
def test_help_imports_neither_jupyter_server_nor_tornado(argv: list[str]) -> None:
    loaded = modules_after(*argv)
    assert "jupyter_colab_bridge.cli" in loaded
    heavy = sorted(m for m in loaded if m.split(".")[0] in HEAVY)
    assert heavy == []


@pytest.mark.parametrize("argv", [["settings"], ["settings", "--json"]])
def test_settings_reads_the_traits_without_jupyter_server(argv: list[str]) -> None:
    """``settings`` needs traitlets (the settings are traits), not the server."""
    loaded = modules_after(*argv)
    assert "jupyter_colab_bridge.settings" in loaded and "traitlets" in loaded
    server = sorted(m for m in loaded if m.split(".")[0] in ("jupyter_server", "jupyter_client"))
    assert server == []
    assert "jupyter_colab_bridge.app" not in loaded


@pytest.mark.parametrize("command", ["doctor", "settings"])
def test_a_closed_pipe_ends_quietly(command: str) -> None:
    """``jupyter colab-bridge doctor | head -3`` after head is gone: no traceback."""
    argv = ["settings"]
    if command == "doctor":
        argv = ["doctor", "--no-kernel", f"http://127.0.0.1:{free_port()}/?token=t"]
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line is written
    try:
        done = subprocess.run(
            [sys.executable, "-m", "jupyter_colab_bridge.cli", *argv],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write_end)
    assert done.stderr == ""
    assert done.returncode == 1
