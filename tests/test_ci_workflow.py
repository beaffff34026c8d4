"""The hosted CI workflow (.github/workflows/tests.yml): valid, and on the systems it claims.

The schema check is offline: check-jsonschema ships GitHub's workflow schema
(``--builtin-schema vendor.github-workflows``); scripts/run-tests runs it too.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
PYPROJECT = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
CHECK = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows"]


def workflow() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / ".github" / "workflows" / "tests.yml").read_text("utf-8"))
    assert isinstance(data, dict)
    return data


def test_workflows_match_githubs_schema() -> None:
    assert WORKFLOWS, "no workflow under .github/workflows"
    done = subprocess.run(
        [*CHECK, *(str(p) for p in WORKFLOWS)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_broken_workflow_is_caught(tmp_path: Path) -> None:
    """The check itself: a job with a misspelt key fails it."""
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    stepz: []\n")
    done = subprocess.run(
        [*CHECK, str(broken)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0


def test_three_systems_lowest_and_newest_python() -> None:
    (job,) = workflow()["jobs"].values()
    matrix = job["strategy"]["matrix"]
    systems = {os_name.split("-")[0] for os_name in matrix["os"]}
    assert systems == {"ubuntu", "macos", "windows"}
    match = re.search(r'requires-python = ">=(\d+\.\d+)"', PYPROJECT)
    assert match is not None
    classifiers = re.findall(r'"Programming Language :: Python :: (3\.\d+)"', PYPROJECT)
    newest = max(classifiers, key=lambda v: tuple(int(x) for x in v.split(".")))
    assert set(matrix["python"]) == {match.group(1), newest}


@pytest.mark.parametrize("needle", ["scripts/run-tests --quick", "not browser and not hub"])
def test_ci_runs_the_readmes_quick_command_in_bash(needle: str) -> None:
    (job,) = workflow()["jobs"].values()
    assert job["defaults"]["run"]["shell"] == "bash"  # Windows too: run-tests is bash
    assert any(needle in step.get("run", "") for step in job["steps"])
