"""The generated parts of the docs: the settings and command-line references.

Both references are Markdown committed in ``docs/reference/`` (so they read on the
repository host as on the site), between markers that this module rewrites:

* ``settings.md``: every setting of ``ColabBridge``'s own (those of
  :class:`jupyter_colab_bridge.settings.BridgeSettings`, not those it inherits
  from ``ExtensionApp``), with its type, default and ``help=`` text;
* ``cli.md``: ``jupyter colab-bridge`` and each subcommand, from the command's
  own parser (``build_parser``): usage, description and one row per argument.

Regenerate both after changing a setting or the command line (one command)::

    python docs/_ext/bridge_docs.py --write

``--check`` only reports what is stale (exit status 1). As a Sphinx extension
(``docs/conf.py``) it checks at ``builder-inited`` that both pages are fresh and
that every setting has a ``help=`` text; either finding is a warning, which
``-W`` turns into a failed build. ``tests/test_docs.py`` runs the same check.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parent.parent
SETTINGS_PAGE = DOCS / "reference" / "settings.md"
CLI_PAGE = DOCS / "reference" / "cli.md"
WRITE_COMMAND = "python docs/_ext/bridge_docs.py --write"

#: characters Markdown (CommonMark, MyST, the repository host) may read as markup; a
#: backslash before each shows it as is, so a pattern keeps its backslashes on the page
_MARKDOWN_MARKUP = re.compile(r"([\\`*_\[\]<>|{}#~$])")


def _escape(text: str) -> str:
    return _MARKDOWN_MARKUP.sub(r"\\\1", text)


def _code(text: str) -> str:
    """``text`` as inline code, whatever backticks it holds."""
    fence = "``" if "`" in text else "`"
    pad = " " if fence == "``" else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _help_markdown(text: str) -> str:
    """A setting's help: prose escaped, its closing ``Example: c.ColabBridge...`` as code."""
    prose, sep, example = text.partition(" Example: ")
    if not sep:
        return _escape(text)
    code = example.split(" (")[0].rstrip(".")
    return f"{_escape(prose)} Example: {_code(code)}{_escape(example[len(code) :])}"


def _checkout_on_path() -> None:
    """Import the package from this checkout, not an older install (as docs/conf.py does)."""
    root = str(DOCS.parent)
    if root not in sys.path:
        sys.path.insert(0, root)


def settings_markdown() -> str:
    """One section per ``ColabBridge`` setting: name, type, default, help."""
    _checkout_on_path()
    from jupyter_colab_bridge.settings import BridgeSettings

    parts: list[str] = []
    for name, trait in sorted(BridgeSettings.class_own_traits(config=True).items()):
        # the heading is the bare name, which fits "On this page" at laptop widths
        parts.append(f"### `{name}`\n")
        parts.append(
            f"`c.ColabBridge.{name}`, type `{type(trait).__name__}`. "
            f"Default: {_code(repr(trait.default()))}\n"
        )
        parts.append(_help_markdown(" ".join((trait.help or "").split())) + "\n")
    return "\n".join(parts)


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # argparse lists its subcommands only here
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _arguments(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [
        a
        for a in parser._actions
        if a.help != argparse.SUPPRESS and not isinstance(a, argparse._SubParsersAction)
    ]


def _argument_name(action: argparse.Action) -> str:
    if not action.option_strings:
        return str(action.metavar or action.dest)
    takes_value = action.nargs != 0
    metavar = f" {action.metavar or action.dest.upper()}" if takes_value else ""
    return ", ".join(action.option_strings) + metavar


def _usage(prog: str, parser: argparse.ArgumentParser) -> str:
    """A usage line in one fixed form (argparse's own wraps and varies with Python)."""
    words = [prog]
    # as argparse orders them: options, then positional arguments
    for action in sorted(_arguments(parser), key=lambda a: not a.option_strings):
        if action.option_strings:
            metavar = f" {action.metavar or action.dest.upper()}" if action.nargs != 0 else ""
            words.append(f"[{action.option_strings[0]}{metavar}]")
        else:
            name = str(action.metavar or action.dest)
            words.append(f"[{name}]" if action.nargs == "?" else name)
    subcommands = _subcommands(parser)
    if subcommands:
        words.append("{" + ",".join(subcommands) + "} ...")
    return "usage: " + " ".join(words)


def _help(action: argparse.Action) -> str:
    text = action.help or ""
    if "%(" in text:
        text = text % {**vars(action), "prog": ""}
    return " ".join(text.split())


def _argument_table(parser: argparse.ArgumentParser) -> list[str]:
    rows = ["| argument | what it does |", "|---|---|"]
    for action in _arguments(parser):
        rows.append(f"| {_code(_argument_name(action))} | {_escape(_help(action))} |")
    return rows


def cli_markdown() -> str:
    """The main command and its arguments, then one section per subcommand."""
    _checkout_on_path()
    from jupyter_colab_bridge.cli import build_parser

    parser = build_parser()
    prog = "jupyter colab-bridge"
    lines = [f"## `{prog}`", "", _escape(parser.description or ""), ""]
    lines += ["```text", _usage(prog, parser), "```", ""]
    subcommands = _subcommands(parser)
    links = ", ".join(f"[`{name}`](#jupyter-colab-bridge-{name})" for name in subcommands)
    lines += [f"Subcommands: {links}.", ""]
    lines += [*_argument_table(parser), ""]
    for name, sub in subcommands.items():
        lines += [f"## `{prog} {name}`", "", _escape(sub.description or ""), ""]
        lines += ["```text", _usage(f"{prog} {name}", sub), "```", ""]
        lines += [*_argument_table(sub), ""]
    return "\n".join(lines).rstrip("\n") + "\n"


#: page -> (block name, generator)
GENERATED = {SETTINGS_PAGE: ("settings", settings_markdown), CLI_PAGE: ("cli", cli_markdown)}


def _markers(block: str) -> tuple[str, str]:
    return (
        f"<!-- generated by {WRITE_COMMAND} ({block}); edit the code, not this list -->",
        f"<!-- end {block} -->",
    )


def fill(page: str, block: str, text: str) -> str:
    """``page`` with the text between ``block``'s markers replaced by ``text``."""
    start, end = _markers(block)
    if page.count(start) != 1 or page.count(end) != 1 or page.index(start) > page.index(end):
        raise ValueError(f"the page needs one pair of markers:\n{start}\n{end}")
    head, rest = page.split(start)
    _, tail = rest.split(end)
    return f"{head}{start}\n\n{text.strip()}\n\n{end}{tail}"


def stale_pages() -> list[Path]:
    """The generated pages whose committed text differs from what the code gives now."""
    stale = []
    for page, (block, generate) in GENERATED.items():
        text = page.read_text(encoding="utf-8")
        if fill(text, block, generate()) != text:
            stale.append(page)
    return stale


def write_pages() -> list[Path]:
    """Rewrite the stale generated pages; returns those rewritten."""
    written = []
    for page, (block, generate) in GENERATED.items():
        text = page.read_text(encoding="utf-8")
        new = fill(text, block, generate())
        if new != text:
            page.write_text(new, encoding="utf-8")
            written.append(page)
    return written


def settings_without_help() -> list[str]:
    _checkout_on_path()
    from jupyter_colab_bridge.settings import BridgeSettings

    return [
        name
        for name, trait in sorted(BridgeSettings.class_own_traits(config=True).items())
        if not (trait.help or "").strip()
    ]


def check_settings_help(app: Any) -> None:
    """Warn (an error under ``-W``) for each ``ColabBridge`` setting without ``help=``."""
    from sphinx.util import logging

    logger = logging.getLogger(__name__)
    for name in settings_without_help():
        logger.warning("ColabBridge.%s has no help= text for the settings reference", name)


def check_fresh(app: Any) -> None:
    """Warn (an error under ``-W``) for each generated page the code no longer matches."""
    from sphinx.util import logging

    logger = logging.getLogger(__name__)
    for page in stale_pages():
        logger.warning(
            "%s no longer matches the code; run: %s", page.relative_to(DOCS.parent), WRITE_COMMAND
        )


def setup(app: Any) -> dict[str, Any]:
    app.connect("builder-inited", check_settings_help)
    app.connect("builder-inited", check_fresh)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python docs/_ext/bridge_docs.py",
        description="Regenerate (--write) or check (--check) the generated reference pages.",
    )
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="rewrite the stale pages")
    mode.add_argument("--check", action="store_true", help="exit 1 when a page is stale")
    args = parser.parse_args(argv)
    root = DOCS.parent
    if args.write:
        for page in write_pages():
            print(f"rewrote {page.relative_to(root)}")
        return 0
    stale = stale_pages()
    for page in stale:
        print(f"{page.relative_to(root)} is stale; run: {WRITE_COMMAND}")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
