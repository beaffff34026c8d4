"""Packaging: ``python -m build``, ``twine check``, and a wheel that enables itself.

The sdist and the wheel are built from this checkout into a temporary
directory (the wheel from the sdist, as ``build`` does by default, so a file
missing from the sdist shows up), then the wheel is installed into a fresh
virtualenv: the config file that enables the extension must land in its
``etc/jupyter`` and ``jupyter server extension list`` must show it enabled
and OK. Installing pulls jupyter_server and friends from the package index.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
CONFIG_FILE = "etc/jupyter/jupyter_server_config.d/jupyter_colab_bridge.json"


def _source_version() -> str:
    """The one version source, read as text (not the installed package)."""
    text = (ROOT / "jupyter_colab_bridge" / "_version.py").read_text()
    match = re.search(r'^__version__ = "([^"]+)"$', text, re.M)
    assert match, '_version.py must hold __version__ = "..."'
    return match.group(1)


VERSION = _source_version()


def run(command: list[str], env: dict[str, str] | None = None, timeout: float = 600) -> str:
    """Run ``command``; return its stdout and stderr together, failing with them on error."""
    done = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=timeout, stdin=subprocess.DEVNULL
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{command} exited {done.returncode}:\n{output[-4000:]}"
    return output


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("build", reason="needs the build package (test extra)")
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)])
    return out


@pytest.fixture(scope="module")
def wheel(dist: Path) -> Path:
    (found,) = dist.glob("*.whl")
    return found


@pytest.fixture(scope="module")
def sdist(dist: Path) -> Path:
    (found,) = dist.glob("*.tar.gz")
    return found


def test_version_has_one_source(wheel: Path, sdist: Path) -> None:
    assert wheel.name == f"jupyter_colab_bridge-{VERSION}-py3-none-any.whl"
    assert sdist.name == f"jupyter_colab_bridge-{VERSION}.tar.gz"
    with zipfile.ZipFile(wheel) as z:
        metadata = z.read(f"jupyter_colab_bridge-{VERSION}.dist-info/METADATA").decode()
    assert f"\nVersion: {VERSION}\n" in metadata
    assert re.search(r"^Requires-Dist: jupyter[-_]server.*>=2\.13", metadata, re.M | re.I)


def test_twine_check(wheel: Path, sdist: Path) -> None:
    pytest.importorskip("twine", reason="needs twine (test extra)")
    output = run([sys.executable, "-m", "twine", "check", "--strict", str(wheel), str(sdist)])
    assert output.count("PASSED") == 2, output


def test_wheel_and_sdist_contents(wheel: Path, sdist: Path) -> None:
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
    data = f"jupyter_colab_bridge-{VERSION}.data/data/"
    assert data + CONFIG_FILE in names
    assert "jupyter_colab_bridge/py.typed" in names
    assert f"jupyter_colab_bridge-{VERSION}.dist-info/licenses/LICENSE" in names
    assert not any(n.startswith("tests/") for n in names)
    with tarfile.open(sdist) as t:
        members = {m.name.split("/", 1)[1] for m in t.getmembers() if "/" in m.name}
    for needed in (
        "LICENSE",
        "CHANGELOG.md",
        "README.md",
        "pyproject.toml",
        "jupyter-config/jupyter_server_config.d/jupyter_colab_bridge.json",
        "jupyter_colab_bridge/_version.py",
        "tests/conftest.py",
    ):
        assert needed in members, needed


def test_wheel_installs_enabled(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)])
    python = venv / "bin" / "python"
    run([str(python), "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
    run([str(python), "-m", "pip", "install", "--quiet", str(wheel)])

    config = venv / CONFIG_FILE
    assert config.is_file()
    assert json.loads(config.read_text()) == {
        "ServerApp": {"jpserver_extensions": {"jupyter_colab_bridge": True}}
    }

    own = ("JUPYTER", "PYTHON", "VIRTUAL_ENV")
    env = {k: v for k, v in os.environ.items() if not k.startswith(own)}
    env.update(
        JUPYTER_CONFIG_DIR=str(tmp_path / "user-config"),
        JUPYTER_PLATFORM_DIRS="1",
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
    )
    listing = run([str(venv / "bin" / "jupyter"), "server", "extension", "list"], env=env)
    listing = re.sub(r"\x1b\[[0-9;]*m", "", listing)  # its colours
    assert re.search(r"jupyter_colab_bridge\s+enabled", listing), listing
    assert re.search(rf"jupyter_colab_bridge\s+{re.escape(VERSION)}\s+OK", listing), listing
    assert str(venv / "etc" / "jupyter") in listing, "enabled by the venv's own config dir"

    version = run([str(venv / "bin" / "jupyter"), "colab-bridge", "--version"], env=env)
    assert VERSION in version
