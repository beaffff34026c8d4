"""A local Sphinx extension for the bridge's docs, reading the code at build time.

* ``.. colab-bridge-cli::`` renders ``jupyter colab-bridge --help`` and each
  subcommand's ``--help`` from the parser itself
  (:func:`jupyter_colab_bridge.cli.build_parser`), so the command-line
  reference cannot drift from the code.
* ``.. colab-bridge-settings::`` documents every setting ``ColabBridge``
  itself declares (not those it inherits from ``ExtensionApp``) through
  autodoc-traits' ``autotrait``: type and ``help=`` text come from the trait,
  followed by its default value as Python reads it (autodoc-traits shows a
  list's default as ``List()``).
* A setting's ``help=`` is plain text written for ``jupyter colab-bridge
  settings``, not reStructuredText: its markup characters are escaped, so a
  pattern such as ``https://[a-z0-9-]+\\.colab\\.example\\.com`` keeps its
  backslashes on the page.
* At ``builder-inited`` it checks that every ``ColabBridge`` setting has a
  ``help=`` text; a setting without one is a warning, which ``-W`` turns into a
  failed build.
"""

from __future__ import annotations

import argparse
import os
import re
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)

#: the width argparse wraps help at, whatever the terminal of the build
HELP_COLUMNS = "72"


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # argparse keeps subparsers only here
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _help_text(parser: argparse.ArgumentParser) -> str:
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = HELP_COLUMNS
    try:
        return parser.format_help()
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved


class CliReference(SphinxDirective):
    """The main parser's help, then one section per subcommand with its help."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        from jupyter_colab_bridge.cli import build_parser

        parser = build_parser()
        result: list[nodes.Node] = [nodes.literal_block(text=_help_text(parser), language="text")]
        for name, sub in _subcommands(parser).items():
            section_id = f"cli-{name}"
            section = nodes.section(ids=[section_id], names=[section_id])
            section += nodes.title(text=f"jupyter colab-bridge {name}")
            section += nodes.literal_block(text=_help_text(sub), language="text")
            self.state.document.note_implicit_target(section, section)
            result.append(section)
        return result


class SettingsReference(SphinxDirective):
    """One ``autotrait`` per setting of ``ColabBridge``, generated at build time."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        from jupyter_colab_bridge.app import ColabBridge

        # The page is MyST Markdown, whose parser reads this content; autodoc writes
        # reStructuredText, so each trait goes through MyST's eval-rst.
        lines = StringList()
        for name, trait in ColabBridge.class_own_traits(config=True).items():
            for line in (
                "```{eval-rst}",
                f".. autotrait:: jupyter_colab_bridge.app.ColabBridge.{name}",
                "",
                f"   Default: ``{trait.default()!r}``",
                "```",
                "",
            ):
                lines.append(line, "<ColabBridge settings>")
        container = nodes.container()
        self.state.nested_parse(lines, self.content_offset, container)
        return list(container.children)


#: characters that reStructuredText may read as markup; a backslash before each shows it as is
_RST_MARKUP = re.compile(r"([\\`*_|\[\]<>:])")


def escape_settings_help(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    """Show a ``ColabBridge`` setting's ``help=`` text literally (autodoc-process-docstring)."""
    from traitlets import TraitType

    if isinstance(obj, TraitType) and name.startswith("jupyter_colab_bridge.app.ColabBridge."):
        lines[:] = [_RST_MARKUP.sub(r"\\\1", line) for line in lines]


def check_settings_help(app: Sphinx) -> None:
    """Warn (an error under ``-W``) for each ``ColabBridge`` setting without ``help=``."""
    from jupyter_colab_bridge.app import ColabBridge

    for name, trait in sorted(ColabBridge.class_own_traits(config=True).items()):
        if not (trait.help or "").strip():
            logger.warning("ColabBridge.%s has no help= text for the settings reference", name)


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("colab-bridge-cli", CliReference)
    app.add_directive("colab-bridge-settings", SettingsReference)
    app.connect("autodoc-process-docstring", escape_settings_help)
    app.connect("builder-inited", check_settings_help)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
