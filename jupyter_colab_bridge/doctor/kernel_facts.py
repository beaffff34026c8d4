"""What a Colab notebook can expect of the kernel it gets: the doctor's INFO lines.

The doctor runs :data:`FACTS_CODE` in the kernel Colab's Python notebooks get
(``ColabBridge.kernel_map`` applied) and turns its answer into INFO lines,
never failures. Each line states only what Colab's public code and
documentation show, and names where:

* colabtools (github.com/googlecolab/colabtools, Apache-2.0):
  ``google/colab/_message.py`` (``colab_request``/``colab_reply``, used by
  ``output.eval_js``, ``files.upload``, ``userdata``), ``files.py``
  (``files.download`` through a ``download_<id>`` comm), ``drive.py``
  (``drive.mount`` refuses off Colab's machines and points to PyDrive2),
  ``output/_widgets.py`` (``enable_custom_widget_manager``);
* Colab's "Local runtimes" page (research.google.com/colaboratory/local-runtimes.html).
"""

from __future__ import annotations

import ast
import json
from typing import Any

from .diagnoses import CheckId, CheckResult, Status

#: Packages whose versions a notebook usually depends on.
MAIN_PACKAGES = ("numpy", "pandas", "torch", "tensorflow", "jax")

#: An expression-ending cell whose result is a JSON string of facts.
FACTS_CODE = """
def _colab_bridge_facts():
    import importlib, json, sys
    import importlib.metadata as md
    facts = {"python": sys.version.split()[0], "executable": sys.executable, "packages": {}}
    try:
        importlib.import_module("google.colab")
        facts["google_colab"] = None
    except Exception as e:
        facts["google_colab"] = f"{type(e).__name__}: {e}"[:300]
    for name in ("ipywidgets",) + __PACKAGES__:
        try:
            facts["packages"][name] = md.version(name)
        except Exception:
            pass
    return json.dumps(facts)
_colab_bridge_facts()
""".replace("__PACKAGES__", repr(MAIN_PACKAGES))

COLABTOOLS = "colabtools google/colab"


def parse_facts(result: str) -> dict[str, Any] | None:
    """The facts from the cell's ``text/plain`` result (a str's repr), or None."""
    try:
        facts = json.loads(ast.literal_eval(result))
    except (ValueError, SyntaxError, TypeError):
        return None
    return facts if isinstance(facts, dict) else None


def facts_results(kernel: str, facts: dict[str, Any] | None) -> list[CheckResult]:
    """The INFO lines for the kernel named ``kernel``."""
    if facts is None:
        return [
            CheckResult(
                CheckId.COLAB_PACKAGE, Status.INFO, f"could not ask kernel {kernel} what it has"
            )
        ]
    packages: dict[str, str] = facts.get("packages") or {}
    return [
        _colab_package(kernel, facts.get("google_colab")),
        CheckResult(
            CheckId.DRIVE,
            Status.INFO,
            "drive.mount works only on Colab's own machines, whatever is installed here: "
            f"{COLABTOOLS}/drive.py refuses elsewhere and points to PyDrive2. On your own "
            "machine, Google Drive for desktop syncs Drive to a local folder a notebook can "
            "read as files.",
        ),
        _widgets(packages.get("ipywidgets")),
        _packages(kernel, facts, packages),
    ]


def _colab_package(kernel: str, error: str | None) -> CheckResult:
    needs = (
        "files.upload, files.download, output.eval_js, userdata and "
        "output.enable_custom_widget_manager need it "
        f"({COLABTOOLS}/_message.py, files.py, output/_widgets.py)"
    )
    if error is None:
        return CheckResult(
            CheckId.COLAB_PACKAGE, Status.INFO, f"google.colab imports in kernel {kernel}; {needs}"
        )
    return CheckResult(
        CheckId.COLAB_PACKAGE,
        Status.INFO,
        f"google.colab does not import in kernel {kernel} ({error}); {needs}, so a notebook "
        "that calls them stops with that error here, while it works on Colab's own runtime. "
        "The google-colab release on PyPI dates from 2018; Colab's local-runtime Docker image "
        "(Colab's Local runtimes page) has the package.",
    )


def _widgets(version: str | None) -> CheckResult:
    if version is None:
        return CheckResult(
            CheckId.WIDGETS,
            Status.INFO,
            "ipywidgets is not installed in this kernel: no widgets to show",
        )
    major = version.split(".")[0]
    if major == "7":
        meaning = "Colab's page renders ipywidgets 7 itself"
    elif major.isdigit() and int(major) >= 8:
        meaning = (
            f"ipywidgets {major} needs Colab's custom widget manager, which "
            "google.colab.output.enable_custom_widget_manager() turns on "
            f"({COLABTOOLS}/output/_widgets.py), and so needs google.colab in this kernel"
        )
    else:
        meaning = "Colab's page renders ipywidgets 7, and 8 with its custom widget manager"
    return CheckResult(CheckId.WIDGETS, Status.INFO, f"ipywidgets {version}: {meaning}")


def _packages(kernel: str, facts: dict[str, Any], packages: dict[str, str]) -> CheckResult:
    found = [f"{n} {packages[n]}" for n in MAIN_PACKAGES if n in packages]
    absent = [n for n in MAIN_PACKAGES if n not in packages]
    summary = f"kernel {kernel}: Python {facts.get('python')} ({facts.get('executable')})"
    if found:
        summary += f"; {', '.join(found)}"
    if absent:
        summary += f"; not installed: {', '.join(absent)}"
    return CheckResult(CheckId.PACKAGES, Status.INFO, summary)
