"""Problem reports in the formats CI systems read: plain ``file:line: message``,
GitHub Actions workflow commands (``::error file=…,line=…::…``) and SARIF 2.1.0
(``evidence.sarif``)."""

from __future__ import annotations

import os

PLAIN = "plain"
GITHUB = "github"
SARIF = "sarif"


def resolve_format(requested: str) -> str:
    if requested == "auto":
        return GITHUB if os.environ.get("GITHUB_ACTIONS") == "true" else PLAIN
    return requested


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotation(
    level: str,
    message: str,
    file: str | None = None,
    line: int | None = None,
    title: str | None = None,
) -> str:
    """One workflow command line; ``level`` is error, warning or notice."""
    properties = []
    if file:
        properties.append(f"file={_escape_property(file)}")
    if line:
        properties.append(f"line={line}")
    if title:
        properties.append(f"title={_escape_property(title)}")
    joined = " " + ",".join(properties) if properties else ""
    return f"::{level}{joined}::{_escape_data(message)}"
