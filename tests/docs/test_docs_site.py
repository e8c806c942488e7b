"""The documentation site builds with no warning, its links and the README's resolve, and the
project has one version (the library's ``__version__``) everywhere it is shown."""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from tools.wheel import version, wheel_path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
#: Markdown links and images: [text](target) / ![alt](target); reference-style is not used.
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)


def links(path: Path) -> list[str]:
    """The relative link targets of a Markdown file (code blocks and inline code skipped)."""
    text = FENCE.sub("", path.read_text())
    text = re.sub(r"`[^`\n]*`", "", text)
    found = []
    for target in LINK.findall(text):
        if urlsplit(target).scheme or target.startswith(("#", "mailto:")):
            continue
        found.append(target)
    return found


def anchors(path: Path) -> set[str]:
    """The heading anchors of a Markdown file, as MkDocs' toc makes them."""
    names = set()
    for heading in re.findall(r"^#{1,6} (.+)$", FENCE.sub("", path.read_text()), re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).strip().replace(" ", "-")
        names.add(slug)
    return names


@pytest.fixture(scope="module")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site built as ``make docs`` builds it (``--strict``), into a temporary folder."""
    site = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNING" not in done.stderr, done.stderr
    return site


def test_site_builds_strict_with_every_page(built_site: Path):
    """mkdocs --strict builds every page of the nav, the reference included, with no warning."""
    for page in ("getting-started", "embed", "identity-provider", "custom-backends", "testing"):
        assert (built_site / page / "index.html").is_file()
    for page in ("behaviour", "security", "server", "benchmarks", "contributing", "changelog"):
        assert (built_site / page / "index.html").is_file()
    python = (built_site / "reference" / "python" / "index.html").read_text()
    for name in ("setup_async", "AuthFetch", "SessionExpiredError", "check_values", "Event"):
        assert name in python
    plugin = (built_site / "reference" / "pytest-plugin" / "index.html").read_text()
    assert "authfetch_server_factory" in plugin
    assert (
        "window.authfetch" in (built_site / "reference" / "javascript" / "index.html").read_text()
    )


def test_site_shows_the_one_version(built_site: Path):
    """The site's name and the pages that name the wheel carry the library's version."""
    home = (built_site / "index.html").read_text()
    assert f"authfetch {version()}" in home
    start = (built_site / "getting-started" / "index.html").read_text()
    assert f"authfetch-{version()}-py3-none-any.whl" in start
    assert "{{ version }}" not in start


@pytest.mark.parametrize(
    "document",
    [
        "README.md",
        "CHANGELOG.md",
        *sorted(p.relative_to(ROOT).as_posix() for p in DOCS.rglob("*.md")),
    ],
)
def test_relative_links_resolve(document: str):
    """Every relative link of the README, the changelog and docs/ names a file (and heading)."""
    path = ROOT / document
    broken = []
    for target in links(path):
        file_part, _, fragment = unquote(target).partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        exists = resolved.exists()
        if exists and fragment and resolved.suffix == ".md":
            exists = fragment in anchors(resolved)
        if not exists:
            broken.append(target)
    assert broken == []


def test_one_version_for_library_plugin_wheel_and_changelog():
    """The plugin, the wheel, the changelog and the pyprojects all take the library's version."""
    import authfetch

    assert authfetch.__version__ == version()
    assert importlib.metadata.version("pytest-authfetch") == version()
    wheel = wheel_path()
    assert wheel.is_file(), "make setup builds the wheel"
    with zipfile.ZipFile(wheel) as archive:
        metadata = archive.read(f"authfetch-{version()}.dist-info/METADATA").decode()
    assert f"\nVersion: {version()}\n" in metadata
    changelog = (ROOT / "CHANGELOG.md").read_text()
    releases = re.findall(r"^## \[(\d[^\]]*)\]", changelog, re.MULTILINE)
    assert releases and releases[0] == version()
    pyprojects = [ROOT / "py" / "authfetch" / "pyproject.toml"]
    pyprojects.append(ROOT / "py" / "pytest-authfetch" / "pyproject.toml")
    for pyproject in pyprojects:
        project = tomllib.loads(pyproject.read_text())["project"]
        assert "version" not in project and project["dynamic"] == ["version"]


def test_readme_is_short_and_links_into_the_site():
    """The README stays an entry point: at most about 200 lines, with links into docs/."""
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    targets = links(ROOT / "README.md")
    assert "docs/screenshots/demo.png" in targets
    assert sum(target.startswith("docs/") and target.endswith(".md") for target in targets) >= 8
