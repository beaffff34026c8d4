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
    # docs/_ext/bridge_docs.py: the committed settings and CLI references must match the
    # code (regenerate: python docs/_ext/bridge_docs.py --write), every setting has help=
    "bridge_docs",
]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
suppress_warnings: list[str] = []
# straight quotes, as typed: docutils' smart quotes also drop backslashes from prose, which
# the settings reference needs ('\.' in a pattern)
# Settings' help texts hold commands to copy (--ColabBridge.x='["a"]'): no en dashes
# for "--", no curly quotes
smartquotes = False

html_theme = "pydata_sphinx_theme"
html_title = f"jupyter_colab_bridge {release}"
html_static_path = ["_static"]
# long setting names wrap in "On this page"; code blocks wrap instead of clipping
html_css_files = ["bridge.css"]
html_theme_options = {
    "github_url": "https://github.com/jupyter-colab-bridge/jupyter_colab_bridge",
    "navigation_with_keys": False,
    "show_toc_level": 2,
    # every section in the top bar, no "More" menu
    "header_links_before_dropdown": 6,
}
# pages without a section of their own get no (empty) section sidebar
html_sidebars = {"get-started": [], "troubleshooting": []}
html_last_updated_fmt = None
