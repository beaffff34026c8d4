"""``jupyter colab-bridge``: the URL to paste into Colab, a doctor, and the settings.

Installed as the ``jupyter-colab-bridge`` console script, so Jupyter's
``jupyter`` command runs it as ``jupyter colab-bridge``.

Each command imports what it needs when it runs, so ``--help`` and
``--version`` import neither jupyter_server nor tornado (a tenth of a second
instead of two; ``benchmarks/cli_startup.py`` prints the figure). A reader
that goes away (``jupyter colab-bridge doctor | head -3``) ends the command
quietly.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import re
import sys
import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from .doctor.diagnoses import DoctorReport
    from .doctor.observations import RunningServer

_WIDTH = 100


# -- url ------------------------------------------------------------------------
async def bridge_state(server: RunningServer) -> tuple[str, bool | None]:
    """How the bridge answers on ``server``: a word, and whether Colab's origin may use it."""
    from .backend_url import Target
    from .doctor.colab_client import DIAGNOSE_PATH, ConnectError, probe
    from .protocol.paths import BRIDGE_PREFIX

    if server.sock:
        return "unix socket (Colab needs a TCP port)", None
    target = Target.parse(server.backend_url)
    try:
        status = await probe(target, DIAGNOSE_PATH)
        if status == 403:
            # The same server without Origin, authenticated by the auth URL (diagnose
            # itself never checks credentials): it opens if only the origin is refused.
            alone = await probe(target, BRIDGE_PREFIX, origin=None, query=target.colab_query())
            return ("enabled" if alone == 101 else "answers 403"), False
    except ConnectError as e:
        return f"not answering ({e})", None
    if status == 404:
        return "not loaded (404 on http_over_websocket)", None
    return ("enabled", True) if status == 101 else (f"answers HTTP {status}", None)


def allowlist_as_the_banner_shows_it(origins: list[str], patterns: list[str]) -> list[str]:
    """The allowed origins in the banner's order (:meth:`OriginPolicy.describe`)."""
    from .protocol.origins import OriginConfigError, OriginPolicy

    try:
        return list(OriginPolicy(origins, patterns).describe())
    except OriginConfigError:  # the settings error is printed on its own line
        return sorted(origins) + [f"re:{p}" for p in patterns]


async def describe_servers(servers: list[RunningServer]) -> list[dict[str, Any]]:
    """What ``url`` prints for each running server."""
    from .backend_url import no_token_lines, paste_url, ssh_forward_hint
    from .doctor.server_info import bridge_config
    from .protocol.kernel_map import colab_python_kernel

    described = []
    for server in servers:
        state, colab_ok = await bridge_state(server)
        config = bridge_config(server.pid)
        ssh = ssh_forward_hint(os.environ, server.port, listen_ip=server.ip)
        described.append(
            {
                "url": server.backend_url,
                "colab_can_use_url": bool(server.token),
                "why_not": [] if server.token else list(no_token_lines(server.password)),
                "bridge": state,
                "colab_origin_allowed": colab_ok,
                "allowed_origins": config.allowed_origins,
                "allowed_origin_patterns": config.allowed_origin_patterns,
                "colab_python_kernel": colab_python_kernel(config.kernel_map),
                "ssh_forward": ssh,
                "ssh_paste_url": ssh
                and paste_url(
                    server.scheme == "https",
                    "localhost",
                    server.port,
                    server.base_url,
                    server.token,
                ),
                "settings_read_from": config.sources,
                "settings_error": config.error,
                "root_dir": server.root_dir,
                "pid": server.pid,
                "version": server.version,
            }
        )
    return described


def print_servers(described: list[dict[str, Any]]) -> None:
    from .protocol.origins import COLAB_ORIGIN

    if not described:
        print("No running Jupyter server found. Start one with: jupyter server")
        return
    print("Running Jupyter servers; paste a URL into Colab (Connect > Connect to a local runtime):")
    for entry in described:
        origins = allowlist_as_the_banner_shows_it(
            entry["allowed_origins"], entry["allowed_origin_patterns"]
        )
        colab = {True: "yes", False: "NO", None: "unknown"}[entry["colab_origin_allowed"]]
        if entry["colab_can_use_url"]:
            print(f"\n  {entry['url']}")
        else:
            print(f"\n  {entry['url']}  (not for Colab: no token)")
            for line in entry["why_not"]:
                print(f"    {line}")
        print(f"    bridge: {entry['bridge']}; {COLAB_ORIGIN} allowed: {colab}")
        print(f"    allowed origins: {', '.join(origins) or '(none)'}")
        print(f"    Colab's Python notebooks run on kernel: {entry['colab_python_kernel']}")
        if entry["ssh_forward"] and entry["colab_can_use_url"]:
            print("    in an SSH session: Colab reaches a plain-HTTP server only on localhost;")
            print(f"    on your laptop run: {entry['ssh_forward']}")
            print(f"    then paste there: {entry['ssh_paste_url']}")
        if entry["settings_error"]:
            print(f"    settings: {entry['settings_error']}")
        print(f"    root: {entry['root_dir']} (pid {entry['pid']})")
    print("\nIf Colab cannot connect, run: jupyter colab-bridge doctor")


def cmd_url(args: argparse.Namespace) -> int:
    import asyncio

    from .doctor.server_info import running_servers

    described = asyncio.run(describe_servers(running_servers()))
    if args.json:
        print(json.dumps(described, indent=2))
    else:
        print_servers(described)
    return 0 if described else 1


# -- doctor ---------------------------------------------------------------------
def report_summary(report: DoctorReport) -> str:
    """The doctor's last line: what failed and what warned, or that all passed."""
    from .doctor.diagnoses import Status

    failed = [c.title for c in report.checks if c.status == Status.FAIL]
    warned = [c.title for c in report.checks if c.status == Status.WARN]
    parts = []
    if failed:
        parts.append(f"{len(failed)} failed: {', '.join(failed)}")
    if warned:
        noun = "warning" if len(warned) == 1 else "warnings"
        parts.append(f"{len(warned)} {noun}: {', '.join(warned)}")
    if not parts:
        return "All checks passed."
    if not failed:
        parts.insert(0, "No check failed")
    return "; ".join(parts) + "."


def fill(text: str, initial_indent: str = "", subsequent_indent: str = "") -> str:
    """``text`` wrapped at the page width, a command in backticks kept on one line to copy."""
    kept = re.sub(r"`[^`]*`", lambda m: m.group(0).replace(" ", "\0"), text)
    wrapped = textwrap.fill(
        kept,
        _WIDTH,
        initial_indent=initial_indent,
        subsequent_indent=subsequent_indent,
        break_long_words=False,
        break_on_hyphens=False,
    )
    return wrapped.replace("\0", " ")


def print_report(report: DoctorReport) -> None:
    from .doctor.diagnoses import Status

    print(f"jupyter colab-bridge doctor {__version__}: {report.url or '(no server)'}")
    for check in report.checks:
        print(fill(f"[{check.status.upper()}] {check.title}: {check.summary}", "", " " * 7))
        for label, text in (("cause", check.cause), ("fix", check.fix)):
            if text and check.status in (Status.FAIL, Status.WARN):
                start = f"       {label}: "
                print(fill(text, start, " " * len(start)))
    print(report_summary(report))


def cmd_doctor(args: argparse.Namespace) -> int:
    import asyncio

    from .doctor.checks import run_doctor

    report = asyncio.run(run_doctor(args.url, kernel=not args.no_kernel, timeout=args.timeout))
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print_report(report)
    return 0 if report.ok else 1


# -- settings -------------------------------------------------------------------
def cmd_settings(args: argparse.Namespace) -> int:
    from .settings import BridgeSettings  # traitlets only: not jupyter_server

    own = BridgeSettings.class_own_traits(config=True)
    if args.json:
        print(
            json.dumps(
                {n: {"default": t.default(), "help": t.help} for n, t in own.items()}, indent=2
            )
        )
        return 0
    for name, trait in sorted(own.items()):
        print(f"c.ColabBridge.{name} = {trait.default()!r}")
        print(
            textwrap.fill(trait.help, _WIDTH, initial_indent="    # ", subsequent_indent="    # ")
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jupyter colab-bridge",
        description="Connect Google Colab to a Jupyter server on this machine.",
    )
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", metavar="{url,doctor,settings}")
    commands.required = True
    url = commands.add_parser(
        "url",
        help="print the backend URL to paste into Colab for each running server",
        description=(
            "For each running Jupyter server of this user: the backend URL to paste into "
            "Colab (token included), whether the bridge answers there and the allowed "
            "origins. Exit status 1 when no server runs."
        ),
    )
    url.add_argument("--json", action="store_true", help="print JSON for scripts")
    url.set_defaults(func=cmd_url)
    doctor = commands.add_parser(
        "doctor",
        help="check, step by step, why Colab can or cannot connect",
        description=(
            "Connect to the server the way Colab's page does and check each step: package "
            "and extension, server, bridge endpoints, handshake with the token, a kernel "
            "running 1+1, the origin, port forwarding; on failure print the cause and the "
            "fix. Exit status 0 only when no check fails (warnings are named at the end)."
        ),
    )
    doctor.add_argument(
        "url",
        nargs="?",
        help="the backend URL pasted into Colab (default: the first running server's)",
    )
    doctor.add_argument("--no-kernel", action="store_true", help="skip starting a kernel")
    doctor.add_argument(
        "--timeout", type=float, default=60.0, help="seconds for the kernel check (default 60)"
    )
    doctor.add_argument("--json", action="store_true", help="print JSON for scripts")
    doctor.set_defaults(func=cmd_doctor)
    settings = commands.add_parser(
        "settings",
        help="list every ColabBridge setting with its default",
        description=(
            "Every ColabBridge setting with its default and help, as lines for "
            "jupyter_server_config.py (jupyter server --help-all lists only the server's "
            "own classes, not those of its extensions)."
        ),
    )
    settings.add_argument("--json", action="store_true", help="print JSON for scripts")
    settings.set_defaults(func=cmd_settings)
    return parser


def _quiet_after_closed_pipe() -> int:
    """The reader of stdout went away: print nothing more, not even at exit.

    Python flushes stdout once more at exit, which would raise again; stdout
    is pointed at the null device instead (the standard library's advice for
    SIGPIPE). The exit status is 1, as the output was cut short.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``jupyter-colab-bridge``; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        status = int(args.func(args))
        sys.stdout.flush()
    except BrokenPipeError:
        return _quiet_after_closed_pipe()
    except OSError as e:
        # Windows reports a pipe whose reader is gone as EINVAL
        if sys.platform == "win32" and e.errno == errno.EINVAL:
            return _quiet_after_closed_pipe()
        raise
    return status


if __name__ == "__main__":
    sys.exit(main())
