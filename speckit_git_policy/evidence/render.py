"""The audit report as Markdown, HTML or JSON, through Jinja2 templates
(``templates/report/``).

Every value in the report comes from the policy, the capsule or git, which other
people and other clones write, so every value is escaped on output by default:

* HTML: Jinja2's autoescape; the page also carries a Content-Security-Policy that
  allows no script, no fetch and only its own stylesheet (by hash), so that even a
  template mistake could not make a hostile model id run or load anything;
* Markdown: each value is escaped for a GitHub table cell (``|``, backticks, emphasis,
  link brackets, HTML, ``@`` mentions), by the environment's ``finalize`` hook, so a
  template cannot forget it;
* both: control characters and bidirectional overrides become visible escapes
  (``\\x1b``, ``\\u202e``), so a value can neither drive a terminal nor disguise
  itself.
"""

from __future__ import annotations

import base64
import hashlib
import json
from functools import cache
from typing import TYPE_CHECKING, Any

from speckit_git_policy.evidence.report import AuditReport, as_json
from speckit_git_policy.text import printable

if TYPE_CHECKING:
    import jinja2

TEMPLATE_PACKAGE = "speckit_git_policy"
TEMPLATE_DIR = "templates/report"


def visible(text: str) -> str:
    """``text`` with every invisible or control character written as an escape: the
    command line's own escaping (``text.printable``), so that a report and a terminal
    show a hostile value the same way."""
    return printable(text)


class Raw(str):
    """Markdown the template built itself (already escaped): ``finalize`` lets it through."""


# Backslash first, so that the escapes added after it are not escaped again.
_MARKDOWN_ESCAPES = [
    ("\\", "\\\\"),
    ("&", "&amp;"),
    ("<", "&lt;"),
    (">", "&gt;"),
    ("|", "\\|"),
    ("`", "\\`"),
    ("*", "\\*"),
    ("_", "\\_"),
    ("~", "\\~"),
    ("[", "\\["),
    ("]", "\\]"),
    ("@", "&#64;"),
]


def markdown_text(value: object) -> str:
    """A value as text for a GitHub Markdown table cell or heading: inert, on one line."""
    text = visible(str(value))
    for old, new in _MARKDOWN_ESCAPES:
        text = text.replace(old, new)
    return text


def _finalize_markdown(value: object) -> object:
    if isinstance(value, Raw):
        return value
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return value
    return markdown_text(value)


def _finalize_html(value: object) -> object:
    if value is None:
        return "–"
    if isinstance(value, str):
        from markupsafe import Markup

        # Markup the template built (macros, escaped joins) is already safe text.
        return value if isinstance(value, Markup) else visible(value)
    return value


# ---- filters ------------------------------------------------------------------------
def _when(text: str | None) -> str | None:
    """A timestamp to the second, as a reader scans it (the full value is in the JSON)."""
    if not text:
        return None
    if len(text) >= 19 and text[10] == "T":
        rest = text[19:]
        zone = "Z" if rest.endswith("Z") else rest.lstrip(".0123456789")
        return f"{text[:10]} {text[11:19]}{zone}"
    return text


def _short(text: str | None, length: int = 12) -> str | None:
    return text[:length] if text else None


def _money(value: float | None) -> str:
    return "unknown" if value is None else f"{value:,.4f}"


def _number(value: int | None) -> str:
    return "–" if value is None else f"{value:,}"


@cache
def _environment(kind: str) -> jinja2.Environment:
    import jinja2

    loader = jinja2.PackageLoader(TEMPLATE_PACKAGE, TEMPLATE_DIR)
    options: dict[str, Any] = {
        "loader": loader,
        "undefined": jinja2.StrictUndefined,
        "trim_blocks": True,
        "lstrip_blocks": True,
        "keep_trailing_newline": True,
    }
    if kind == "html":
        environment = jinja2.Environment(autoescape=True, finalize=_finalize_html, **options)
    else:
        environment = jinja2.Environment(autoescape=False, finalize=_finalize_markdown, **options)
        environment.filters["md"] = lambda value: Raw(markdown_text(value))
        environment.filters["safe_md"] = Raw  # markup the template itself wrote
    environment.filters.update(when=_when, short=_short, money=_money, num=_number)
    return environment


def stylesheet() -> str:
    """The report's CSS (inlined in the page)."""
    from importlib.resources import files

    return (files(TEMPLATE_PACKAGE) / TEMPLATE_DIR / "report.css").read_text(encoding="utf-8")


def render(report: AuditReport, output_format: str) -> str:
    """The report as ``md``, ``html`` (one self-contained page) or ``json``."""
    if output_format == "json":
        # ASCII: a C1 control or a bidirectional override in a value stays an escape.
        return json.dumps(as_json(report), indent=2, ensure_ascii=True) + "\n"
    from speckit_git_policy.evidence.chart import cost_chart, timeline

    context: dict[str, Any] = {
        "report": report,
        "timeline": timeline(report),
        "cost": cost_chart(report),
    }
    if output_format == "html":
        css = stylesheet()
        digest = base64.b64encode(hashlib.sha256(css.encode("utf-8")).digest()).decode()
        context.update(css=css, css_hash=f"sha256-{digest}")
        return _environment("html").get_template("report.html.j2").render(context)
    if output_format == "md":
        return _environment("md").get_template("report.md.j2").render(context)
    raise ValueError(f"unknown report format {output_format!r}")
