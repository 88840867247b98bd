"""The HTML report in a real browser: headless Chromium (Debian's ``chromium``, which
.ci/run installs) renders it; the DOM it built is checked (the timeline, a row per run,
hostile values present as text and inert) and its screenshot must not be blank.

These tests do not skip: without Chromium they fail, saying how to install it."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from evidence_helpers import (
    CHROMIUM,
    HOSTILE_ATTR,
    HOSTILE_MODEL,
    HOSTILE_SUBJECT,
    chromium,
    distinct_colours,
    synthetic_report,
)

from speckit_git_policy.evidence.render import render
from speckit_git_policy.evidence.report import build_report
from speckit_git_policy.git.repo import GitRepo


def test_chromium_is_installed() -> None:
    assert CHROMIUM is not None, "install Chromium: apt-get install -y chromium (.ci/run does)"


class _Dom(HTMLParser):
    """What the browser's serialized DOM holds: elements by tag and class, and text."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def having(self, tag: str, css: str | None = None) -> list[dict[str, str | None]]:
        return [
            attrs
            for name, attrs in self.elements
            if name == tag and (css is None or css in (attrs.get("class") or "").split())
        ]


def _dom(page: Path, profile: Path) -> _Dom:
    dom = _Dom()
    dom.feed(chromium(page, profile, "--dump-dom"))
    return dom


pytest_plugins = ["evidence_fixtures"]  # the audited-repository fixtures, shared by the session


@pytest.fixture
def audited_page(audited: Path, tmp_path: Path) -> Path:
    page = tmp_path / "audit.html"
    page.write_text(render(build_report(GitRepo.discover(audited)), "html"))
    return page


def test_the_browser_builds_the_report_and_runs_nothing(audited_page: Path, tmp_path: Path) -> None:
    dom = _dom(audited_page, tmp_path / "profile")
    tags = {tag for tag, _ in dom.elements}
    # Hostile values from the policy, a commit subject and the run log stayed text:
    # no element was injected, and no handler attribute exists anywhere.
    assert not {"script", "img", "marquee", "iframe"} & tags
    assert not [name for _, attrs in dom.elements for name in attrs if name.startswith("on")]
    text = "".join(dom.text)
    for value in (HOSTILE_MODEL, HOSTILE_ATTR, HOSTILE_SUBJECT):
        assert value in text
    # The timeline: an inline SVG with a mark per policy commit and per run.
    (svg,) = [attrs for tag, attrs in dom.elements if tag == "svg" and "Policy changes" in (attrs.get("aria-label") or "")]
    assert len(dom.having("path", "pm")) == 2
    assert len(dom.having("circle", "rm")) == 1
    assert len(dom.having("circle", "cm")) == 1  # the cost chart: one costed run
    assert len(dom.having("tr", "run-row")) == 1
    assert len(dom.having("tr", "policy-change")) == 2
    # The denial comes first in its run's decisions.
    decisions = dom.having("tr", "decision")
    assert "denied" in (decisions[0].get("class") or "")


def test_the_screenshot_is_not_blank(audited_page: Path, tmp_path: Path) -> None:
    shot = tmp_path / "audit.png"
    chromium(audited_page, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,2000")
    # A blank page is one colour; text, tables, tags and the charts give hundreds.
    assert distinct_colours(shot) > 50


def test_a_report_of_1000_runs_renders(tmp_path: Path) -> None:
    page = tmp_path / "bulk.html"
    text = render(synthetic_report(1000), "html")
    page.write_text(text)
    assert page.stat().st_size < 4 * 1024 * 1024
    dom = _dom(page, tmp_path / "profile")
    assert len(dom.having("tr", "run-row")) == 1000
    assert len(dom.having("section", "run")) == 1000
    assert len(dom.having("circle", "rm")) == 1000
    assert len(dom.having("circle", "cm")) == 1000
    # The page ends as it should: the browser parsed all of it.
    assert dom.having("footer")
    shot = tmp_path / "bulk.png"
    chromium(page, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,2000")
    assert distinct_colours(shot) > 50


def test_the_print_stylesheet_is_there() -> None:
    page = render(synthetic_report(3), "html")
    assert re.search(r"@media print\{", page) and "@page{" in page
