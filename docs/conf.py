"""Sphinx configuration of the jupyter_colab_bridge docs (MyST Markdown, pydata-sphinx-theme).

Builds without network: no intersphinx. ``sphinx-build -W --keep-going -n docs docs/_build/html``
is what ``scripts/run-tests`` runs.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(HERE.parent))  # the package from this checkout, not an older install

from jupyter_colab_bridge import __version__  # noqa: E402

project = "jupyter_colab_bridge"
author = "jupyter_colab_bridge developers"
copyright = "jupyter_colab_bridge developers"
version = release = __version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "autodoc_traits",
    "bridge_docs",  # docs/_ext/bridge_docs.py: the CLI reference and the settings check
]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
suppress_warnings: list[str] = []
# Settings' help texts hold commands to copy (--ColabBridge.x='["a"]'): no en dashes
# for "--", no curly quotes
smartquotes = False

html_theme = "pydata_sphinx_theme"
html_title = f"jupyter_colab_bridge {release}"
html_static_path = ["_static"]
html_theme_options = {
    "github_url": "https://github.com/jupyter-colab-bridge/jupyter_colab_bridge",
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_last_updated_fmt = None
