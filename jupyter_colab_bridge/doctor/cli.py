"""``jupyter colab-bridge``: the URL to paste into Colab, and a doctor.

Installed as the ``jupyter-colab-bridge`` console script, so Jupyter's
``jupyter`` command runs it as ``jupyter colab-bridge``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import textwrap
from collections.abc import Sequence
from typing import Any

from .. import __version__
from ..backend_url import Target, paste_url, ssh_forward_hint
from ..protocol.kernel_map import colab_python_kernel
from ..protocol.origins import COLAB_ORIGIN
from ..protocol.paths import BRIDGE_PREFIX
from .checks import run_doctor
from .colab_client import DIAGNOSE_PATH, ConnectError, probe
from .diagnoses import DoctorReport, Status
from .observations import RunningServer
from .server_info import bridge_config, running_servers

_WIDTH = 100


async def bridge_state(server: RunningServer) -> tuple[str, bool | None]:
    """How the bridge answers on ``server``: a word, and whether Colab's origin may use it."""
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


async def describe_servers(servers: list[RunningServer]) -> list[dict[str, Any]]:
    """What ``url`` prints for each running server."""
    described = []
    for server in servers:
        state, colab_ok = await bridge_state(server)
        config = bridge_config(server.pid)
        ssh = ssh_forward_hint(os.environ, server.port, listen_ip=server.ip)
        described.append(
            {
                "url": server.backend_url,
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
    if not described:
        print("No running Jupyter server found. Start one with: jupyter server")
        return
    print("Paste into Colab (Connect > Connect to a local runtime > Backend URL):")
    for entry in described:
        origins = entry["allowed_origins"] + [f"re:{p}" for p in entry["allowed_origin_patterns"]]
        colab = {True: "yes", False: "NO", None: "unknown"}[entry["colab_origin_allowed"]]
        print(f"\n  {entry['url']}")
        print(f"    bridge: {entry['bridge']}; {COLAB_ORIGIN} allowed: {colab}")
        print(f"    allowed origins: {', '.join(origins) or '(none)'}")
        print(f"    Colab's Python notebooks run on kernel: {entry['colab_python_kernel']}")
        if entry["ssh_forward"]:
            print("    in an SSH session: Colab reaches a plain-HTTP server only on localhost;")
            print(f"    on your laptop run: {entry['ssh_forward']}")
            print(f"    then paste there: {entry['ssh_paste_url']}")
        if entry["settings_error"]:
            print(f"    settings: {entry['settings_error']}")
        print(f"    root: {entry['root_dir']} (pid {entry['pid']})")
    print("\nIf Colab cannot connect, run: jupyter colab-bridge doctor")


def print_report(report: DoctorReport) -> None:
    print(f"jupyter colab-bridge doctor {__version__}: {report.url or '(no server)'}")
    for check in report.checks:
        line = f"[{check.status.upper()}] {check.title}: {check.summary}"
        print(textwrap.fill(line, _WIDTH, subsequent_indent=" " * 7))
        for label, text in (("cause", check.cause), ("fix", check.fix)):
            if text and check.status in (Status.FAIL, Status.WARN):
                start = f"       {label}: "
                indent = " " * len(start)
                print(textwrap.fill(text, _WIDTH, initial_indent=start, subsequent_indent=indent))
    failed = [c.title for c in report.checks if c.status == Status.FAIL]
    print("All checks passed." if not failed else f"{len(failed)} failed: {', '.join(failed)}")


def cmd_url(args: argparse.Namespace) -> int:
    described = asyncio.run(describe_servers(running_servers()))
    if args.json:
        print(json.dumps(described, indent=2))
    else:
        print_servers(described)
    return 0 if described else 1


def cmd_doctor(args: argparse.Namespace) -> int:
    report = asyncio.run(run_doctor(args.url, kernel=not args.no_kernel, timeout=args.timeout))
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print_report(report)
    return 0 if report.ok else 1


def cmd_settings(args: argparse.Namespace) -> int:
    from ..app import ColabBridge

    own = ColabBridge.class_own_traits(config=True)
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
            "fix. Exit status 0 only when every check passes."
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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``jupyter-colab-bridge``; returns the exit status."""
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
