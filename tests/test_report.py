"""report: the audit report's data (evidence/report.py), its Markdown and HTML
(evidence/render.py, templates/report/) and the CLI command."""

from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import git
from evidence_helpers import (
    HOSTILE_ATTR,
    HOSTILE_MODEL,
    HOSTILE_SUBJECT,
    synthetic_events,
    synthetic_report,
)

from speckit_git_policy.cli import cli
from speckit_git_policy.errors import BadInput
from speckit_git_policy.evidence.render import markdown_text, render, visible
from speckit_git_policy.evidence.report import build_report, parse_since, run_report
from speckit_git_policy.git.repo import GitRepo

pytest_plugins = ["evidence_fixtures"]  # the audited-repository fixtures, shared by the session


# ---- the data -----------------------------------------------------------------------------
def test_run_report_reads_boundaries_decisions_and_usage() -> None:
    documents = {
        "p": {"budgets": {"tokens": {"plan": 100}, "cost": {"warn_threshold": 1, "hard_limit": 2}}}
    }
    ref = {"policy_id": "p", "policy_uri": "mv2://default/policy/p", "policy_hash": "h"}
    events: list[Any] = [
        {"event_id": "a", "seq": 0, "timestamp": "2030-01-01T00:00:00.000000Z",
         "type": "PolicySnapshotRef", **ref},
        {"event_id": "b", "seq": 1, "timestamp": "2030-01-01T00:00:01.000000Z",
         "type": "StageTransition", "from": None, "to": "plan", **ref},
        {"event_id": "c", "seq": 2, "timestamp": "2030-01-01T00:00:02.000000Z",
         "type": "BudgetDecision", "decision": {"kind": "tokens", "decision": "allow", "ok": True}, **ref},
        {"event_id": "d", "seq": 3, "timestamp": "2030-01-01T00:00:03.000000Z",
         "type": "RouteDecision", "decision": {"role": "judge", "decision": "deny", "ok": False}, **ref},
        # Usage as the ledger records it, and as a future or foreign writer might.
        {"event_id": "e", "seq": 4, "timestamp": "2030-01-01T00:00:04.000000Z",
         "type": "UsageRecorded", "model_requested": "m", "model_served": "m-2",
         "input_tokens": 70, "output_tokens": 40, "cost": 1.5, **ref},
        {"event_id": "f", "seq": 5, "timestamp": "2030-01-01T00:00:05.000000Z",
         "type": "UsageRecorded", "usage": {"input_tokens": 5, "output_tokens": True}, "cost": None, **ref},
        {"event_id": "g", "seq": 6, "timestamp": "2030-01-01T00:00:06.000000Z",
         "type": "UsageRecorded", "input_tokens": "many", "cost": "free", **ref},
    ]
    record = run_report("r", "mv2://default/runs/r", events, documents.get)
    assert [b.kind for b in record.boundaries] == ["start", "stage"]
    # Denials first, then in the order they were made.
    assert [d.seq for d in record.decisions] == [3, 2]
    assert record.decisions[0].denied and record.denials == 1
    usage = record.usage
    assert usage is not None
    assert (usage.calls, usage.input_tokens, usage.output_tokens) == (3, 75, 40)
    assert usage.cost == 1.5 and usage.unpriced_calls == 2  # unknown costs are not zero
    assert usage.unknown_usage_calls == 2  # and unknown token counts are said so
    (plan,) = usage.stages
    assert (plan.stage, plan.tokens, plan.budget, plan.over_budget) == ("plan", 115, 100, True)
    assert (record.warn_threshold, record.hard_limit, record.cost_status) == (1.0, 2.0, "warn")


def test_a_long_run_lists_its_denials_and_counts_the_rest() -> None:
    record = run_report("r", "u", synthetic_events(50), lambda _: None)
    assert len(record.decisions) == 41
    assert [d.verdict for d in record.listed_decisions] == ["deny"]
    groups = {(g.type, g.verdict): g.count for g in record.decision_groups}
    assert groups == {("BudgetDecision", "allow"): 39, ("BudgetDecision", "deny"): 1,
                      ("RouteDecision", "allow"): 1}
    assert record.unlisted_checkpoints == 20
    assert all(b.kind != "checkpoint" for b in record.listed_boundaries)
    page = render(synthetic_report(51), "md")
    assert "Decisions by kind:" in page and "20 checkpoint(s) at which the policy" in page


def test_a_run_without_usage_events_has_no_usage() -> None:
    record = run_report("r", "u", synthetic_events(3)[:2], lambda _: None)
    assert record.usage is None and record.cost_status == "unknown"


def test_build_report_over_a_real_repository(audited: Path) -> None:
    report = build_report(GitRepo.discover(audited))
    assert [c.subject for c in report.policy_changes] == [HOSTILE_SUBJECT, "Add model policy"]
    assert report.policy_changes[0].changed == ("budgets.tokens.tasks", "source_digests.model_policy.toml")
    assert all(c.validated for c in report.policy_changes)
    (run,) = report.runs
    assert run.run_id == "audit-1" and run.events == 8
    assert [(b.kind, b.name) for b in run.boundaries] == [
        ("start", None), ("stage", "plan"), ("stage", "tasks"), ("checkpoint", f"reviewed {HOSTILE_MODEL}")]
    tasks = run.boundaries[2]
    assert tasks.policy_changed and tasks.replaced_policy_id == run.boundaries[1].policy_id
    assert len(run.policies) == 2
    assert run.decisions[0].verdict == "deny"
    assert run.usage is not None and run.usage.cost == 0.75 and run.usage.unpriced_calls == 1
    by_stage = {s.stage: s for s in run.usage.stages}
    assert by_stage["plan"].budget == 8000
    assert by_stage["tasks"].budget == 5000  # the budget of the snapshot the stage began under
    assert by_stage["tasks"].over_budget
    assert report.verify.ok and report.verify.checked == 2


def test_since_filters_commits_and_runs(audited: Path) -> None:
    repo = GitRepo.discover(audited)
    assert build_report(repo, since="2000-01-01").runs
    later = build_report(repo, since="2999-01-01T00:00:00Z")
    assert later.runs == () and later.policy_changes == ()
    with pytest.raises(BadInput, match="not a date"):
        parse_since("last tuesday")


# ---- escaping -----------------------------------------------------------------------------
def test_markdown_escapes_what_github_would_interpret() -> None:
    text = markdown_text("a|b `c` *d* _e_ [f](g) <h> & @i ~j~ \\k\x1b[31m\u202e")
    assert text == ("a\\|b \\`c\\` \\*d\\* \\_e\\_ \\[f\\](g) &lt;h&gt; &amp; &#64;i \\~j\\~ "
                    "\\\\k\\\\x1b\\[31m\\\\u202e")
    assert "\n" not in markdown_text("one\ntwo")


def test_visible_escapes_controls_and_bidi_overrides() -> None:
    assert visible("ok") == "ok"
    assert visible("a\x1b[2Jb\x85c\u202ed\n") == "a\\x1b[2Jb\\x85c\\u202ed\\n"


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend(attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_escapes_every_hostile_value_and_fetches_nothing(audited: Path) -> None:
    page = render(build_report(GitRepo.discover(audited)), "html")
    parser = _Elements()
    parser.feed(page)
    assert "script" not in parser.tags and "img" not in parser.tags
    assert not [name for name, _ in parser.attrs if name.startswith("on")]
    text = "".join(parser.text)
    for value in (HOSTILE_MODEL, HOSTILE_ATTR, HOSTILE_SUBJECT):
        assert value in text  # present, as text
    # Self-contained: no external reference of any kind, a CSP that forbids them.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", page)
    assert "@import" not in page and "url(" not in page
    assert "default-src 'none'" in page and "<link" not in page


def test_markdown_report_keeps_hostile_values_inert(audited: Path) -> None:
    text = render(build_report(GitRepo.discover(audited)), "md")
    assert HOSTILE_MODEL not in text and "<img" not in text and "<marquee>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "\\| \\`tick\\` \\*star\\* \\[link\\](http://x) &#64;team" in text
    # Every table row keeps its column count: no value broke a cell.
    for block in re.findall(r"(?:^\|.*\|\n)+", text, re.M):
        rows = block.splitlines()
        counts = {len(re.findall(r"(?<!\\)\|", row)) for row in rows}
        assert len(counts) == 1, rows


def test_json_report_is_the_data(audited: Path) -> None:
    data = json.loads(render(build_report(GitRepo.discover(audited)), "json"))
    assert data["runs"][0]["run_id"] == "audit-1"
    assert data["runs"][0]["denials"] == 1
    assert data["verify"]["ok"] is True


# ---- at scale -----------------------------------------------------------------------------
def test_a_report_of_1000_runs_stays_small() -> None:
    report = synthetic_report(1000)
    assert len(report.runs) == 1000 and report.denials == 143 + 20
    page = render(report, "html")
    markdown = render(report, "md")
    assert len(page.encode()) < 4 * 1024 * 1024, len(page)
    assert len(markdown.encode()) < 4 * 1024 * 1024, len(markdown)
    assert page.count('<tr class="run-row') == 1000
    assert page.count('class="rm ') == 1000  # one mark per run on the timeline


# ---- the command --------------------------------------------------------------------------
def test_report_command_writes_each_format(audited: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "audit.html"
    result = runner.invoke(cli, ["-C", str(audited), "report", "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("<!DOCTYPE html>")
    result = runner.invoke(cli, ["-C", str(audited), "report"])
    assert result.exit_code == 0 and result.output.startswith("# Model policy audit report")
    result = runner.invoke(cli, ["-C", str(audited), "report", "--format", "json", "--since", "2000-01-01"])
    assert json.loads(result.output)["since"] == "2000-01-01T00:00:00+00:00"
    result = runner.invoke(cli, ["-C", str(audited), "report", "--since", "yesterday-ish"])
    assert result.exit_code == 2 and "not a date" in result.output
    relative = runner.invoke(cli, ["-C", str(audited), "report", "-o", "r.md"])
    assert relative.exit_code == 0 and (audited / "r.md").is_file()  # relative to -C, as git does


def test_report_of_a_repository_without_runs(policy_repo: Path) -> None:
    git(policy_repo, "status")
    result = CliRunner().invoke(cli, ["-C", str(policy_repo), "report", "--format", "html"])
    assert result.exit_code == 0, result.output
    assert "No run in this period." in html.unescape(result.output)


def test_no_format_carries_a_raw_control_or_bidi_character() -> None:
    events = synthetic_events(1)
    events[3]["decision"]["reason"] = "ok\u202e\x85\x1b[2J"  # the route decision's reason
    report = synthetic_report(0)
    sneaky = run_report("run-x", "mv2://default/runs/run-x", events, lambda _: None)  # type: ignore[arg-type]
    import dataclasses

    report = dataclasses.replace(report, runs=(sneaky,))
    for output_format in ("md", "html", "json"):
        text = render(report, output_format)
        assert not {"\u202e", "\x85", "\x1b"} & set(text), output_format
