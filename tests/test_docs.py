"""The docs site (docs/): it builds with warnings as errors and holds what the code holds.

``scripts/run-tests`` builds the site with ``sphinx-build -W --keep-going -n`` and
passes its folder in ``DOCS_HTML``; run alone, the fixture builds it itself into a
temporary folder, the same way. Either way a missing site fails these tests (the
``docs`` extra is needed: ``pip install -e ".[docs]"``); the version matrix, whose
virtualenvs lack that extra, leaves them out by their ``docs`` marker.
"""

from __future__ import annotations

import html
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from jupyter_colab_bridge.cli import build_parser
from jupyter_colab_bridge.settings import BridgeSettings

pytestmark = pytest.mark.docs

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
SETTINGS = BridgeSettings.class_own_traits(config=True)

#: every page the docs must have (issue 18), as built HTML files
PAGES = [
    "index",
    "how-to/index",
    "reference/index",
    "explanation/index",
    "get-started",
    "how-to/ssh",
    "how-to/docker",
    "how-to/jupyterhub",
    "how-to/gateway",
    "how-to/https",
    "how-to/base-url",
    "how-to/kernel",
    "how-to/turn-off",
    "troubleshooting",
    "reference/settings",
    "reference/cli",
    "reference/http",
    "reference/versions",
    "protocol",
    "explanation/how-it-works",
    "explanation/security",
    "explanation/performance",
    "contributing",
    "changelog",
    "project/index",
    "project/release",
    "project/security-history",
    "project/performance-history",
]
CHARTS = ["measures.svg", "body-size.svg", "in-flight.svg", "browser.svg"]


class _Page(HTMLParser):
    """The ids, link targets, image sources and text of one built page."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.hrefs: list[str] = []
        self.images: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(str(a["id"]))
        if tag == "a" and a.get("href"):
            self.hrefs.append(str(a["href"]))
        if tag in ("img", "object") and (a.get("src") or a.get("data")):
            self.images.append(str(a.get("src") or a.get("data")))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _plain(text: str) -> str:
    """Text as Sphinx shows it, compared without its typography and line breaks."""
    for fancy, plain in (("\u2019", "'"), ("\u2018", "'"), ("\u201c", '"'), ("\u201d", '"')):
        text = text.replace(fancy, plain)
    return " ".join(html.unescape(text).split())


def _read(site: Path, page: str) -> _Page:
    path = site / f"{page}.html"
    assert path.is_file(), f"the built site has no {page}.html"
    parsed = _Page()
    parsed.feed(path.read_text(encoding="utf-8"))
    return parsed


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    built = os.environ.get("DOCS_HTML")
    if built:
        path = Path(built)
        assert (path / "index.html").is_file(), f"DOCS_HTML={built} holds no built site"
        yield path
        return
    out = tmp_path_factory.mktemp("docs-html")
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-n", "-q", str(DOCS), str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, (
        "sphinx-build -W failed (is the docs extra installed? pip install -e '.[docs]'):\n"
        + result.stdout
        + result.stderr
    )
    yield out


def test_every_page_is_built(site: Path) -> None:
    missing = [p for p in PAGES if not (site / f"{p}.html").is_file()]
    assert missing == []


def test_index_links_every_page(site: Path) -> None:
    hrefs = {h.split("#")[0] for h in _read(site, "index").hrefs}
    assert [p for p in PAGES[1:] if f"{p}.html" not in hrefs and not p.endswith("/index")] == []


def _bridge_docs() -> Any:
    """docs/_ext/bridge_docs.py, which writes and checks the generated references."""
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        import bridge_docs
    finally:
        sys.path.remove(str(DOCS / "_ext"))
    return bridge_docs


def test_generated_references_match_the_code() -> None:
    """docs/reference/settings.md and cli.md are committed; the code's text is theirs."""
    bridge_docs = _bridge_docs()
    stale = [str(p.relative_to(ROOT)) for p in bridge_docs.stale_pages()]
    assert stale == [], f"regenerate them: {bridge_docs.WRITE_COMMAND}"


def test_a_stale_reference_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bridge_docs = _bridge_docs()
    page = tmp_path / "settings.md"
    text = bridge_docs.SETTINGS_PAGE.read_text(encoding="utf-8")
    page.write_text(text.replace("### `direct_mode`", "### `old_name`"))
    monkeypatch.setattr(
        bridge_docs, "GENERATED", {page: ("settings", bridge_docs.settings_markdown)}
    )
    assert bridge_docs.stale_pages() == [page]
    assert bridge_docs.write_pages() == [page]
    assert page.read_text(encoding="utf-8") == text
    with pytest.raises(ValueError, match="one pair of markers"):
        bridge_docs.fill("no markers", "settings", "x")


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_settings_reference_lists_every_setting(site: Path, name: str) -> None:
    page = _read(site, "reference/settings")
    assert name in page.ids  # the heading's anchor, as on the repository host
    text = _plain("".join(page.text))
    trait = SETTINGS[name]
    assert _plain(trait.help) in text
    assert f"Default: {trait.default()!r}" in text


def test_cli_reference_is_the_parsers_help(site: Path) -> None:
    text = _plain("".join(_read(site, "reference/cli").text))
    parser = build_parser()
    subcommands = next(
        a.choices for a in parser._actions if hasattr(a, "choices") and isinstance(a.choices, dict)
    )
    assert set(subcommands) == {"url", "doctor", "settings"}
    for name, sub in subcommands.items():
        assert f"usage: jupyter colab-bridge {name}" in text
        assert _plain(sub.description) in text
        for action in sub._actions:
            if action.help:
                assert _plain(action.help) in text, (name, action.help)


def test_performance_page_shows_every_chart(site: Path) -> None:
    page = _read(site, "explanation/performance")
    shown = {Path(src).name for src in page.images}
    assert [c for c in CHARTS if c not in shown] == []
    for chart in CHARTS:
        assert (DOCS / "_static" / "charts" / chart).is_file()
    # the exact numbers beside the charts: the tables benchmarks/charts.py writes
    text = _plain("".join(page.text))
    assert "bridge req/s" in text and "body size" in text


def test_protocol_page_keeps_the_section_numbers(site: Path) -> None:
    text = _plain("".join(_read(site, "protocol").text))
    for number in range(1, 9):
        assert re.search(rf"\b{number}\. ", text), number


def test_a_setting_without_help_fails_the_build(caplog: pytest.LogCaptureFixture) -> None:
    """The docs extension's check, on a setting whose help text is empty."""
    bridge_docs = _bridge_docs()
    trait = SETTINGS["direct_mode"]
    saved = trait.help
    trait.help = ""
    try:
        with caplog.at_level(logging.WARNING):
            bridge_docs.check_settings_help(None)
    finally:
        trait.help = saved
    assert "ColabBridge.direct_mode has no help= text" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        bridge_docs.check_settings_help(None)
    assert "has no help" not in caplog.text


def test_readme_links_resolve_and_reach_every_how_to() -> None:
    """The README is the landing page: its links into docs/ exist, every how-to one click away."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = set(re.findall(r"\]\(((?:docs/|CHANGELOG|LICENSE)[^)#\s]*)", readme))
    assert [
        t for t in sorted(targets) if not (ROOT / t).is_file() and not (ROOT / t).is_dir()
    ] == []
    how_tos = {f"docs/how-to/{p.name}" for p in (DOCS / "how-to").glob("*.md") if p.stem != "index"}
    assert how_tos and how_tos <= targets
    assert len(readme.splitlines()) <= 120, "the README is a short landing page"


def test_readme_starts_with_the_whole_set_up() -> None:
    """Its first commands install from a clone and run the server, then run the tests."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```bash\n(.*?)```", readme, re.S)
    install, tests = blocks[0].strip(), blocks[1].strip()
    assert "\n" not in install, "one command"
    assert install.startswith("git clone ") and "pip install ." in install
    assert install.endswith("&& jupyter server")
    assert tests == "scripts/run-tests"
    assert "scripts/run-tests --quick" in readme
    assert "Where the README's sections went" not in readme
    # not on PyPI yet: no instruction to install it from there, only what a release will do
    assert "pip install jupyter_colab_bridge &&" not in readme


def test_the_intro_is_written_once() -> None:
    """The README holds the intro; the docs' landing page includes it, Get started does not."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    intro = readme.split("<!-- intro: docs/index.md includes this paragraph -->")[1]
    intro = intro.split("<!-- end intro -->")[0]
    first_words = " ".join(intro.split()[:8])
    assert first_words.startswith("Use **Google Colab**")
    for page in ("index.md", "get-started.md"):
        assert first_words not in " ".join((DOCS / page).read_text(encoding="utf-8").split())
    assert "{include} ../README.md" in (DOCS / "index.md").read_text(encoding="utf-8")


def test_performance_tables_match_the_benchmark_results() -> None:
    """The numbers beside the charts are those of benchmarks/*.json (benchmarks/charts.py)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from bridge_bench import charts
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    results = json.loads((ROOT / "benchmarks" / "results.json").read_text())
    browser = json.loads((ROOT / "benchmarks" / "results-browser.json").read_text())
    page = (DOCS / "explanation" / "performance.md").read_text(encoding="utf-8")
    blocks = charts.tables(results, browser)
    assert charts.fill(page, blocks) == page, "run benchmarks/charts.py"
    for text in blocks.values():
        assert text in page
    with pytest.raises(ValueError, match="no marker for: measures"):
        charts.fill(page.replace("<!-- end measures -->", ""), blocks)
