"""``validate`` and ``verify`` findings as SARIF 2.1.0 (docs/DESIGN.md §8), the format
code-scanning tools read (GitHub's ``upload-sarif``, GitLab, IDE viewers).

One rule per kind of finding, with a stable id; each result points at a file and,
when the finding has one, a line. A ``verify`` finding that belongs to no file of the
work tree (an event that names a missing snapshot, a commit never captured) is located
at the policy file, which is what it is about, with the capsule URI as its logical
location. Every result carries a partial fingerprint of its rule, place and message,
so the same finding keeps the same alert from run to run.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from speckit_git_policy import __version__

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    from speckit_git_policy.errors import PolicyIssue
    from speckit_git_policy.policy.sources import SourcePaths
    from speckit_git_policy.queries.verify import Report

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
TOOL_NAME = "speckit-git-policy"
INFORMATION_URI = "https://pypi.org/project/speckit-git-policy/"
SRCROOT = "%SRCROOT%"
FINGERPRINT = "speckitFinding/v1"


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    short: str
    full: str
    level: str  # error | warning | note


RULES = {
    rule.id: rule
    for rule in (
        Rule(
            "doc-lint",
            "RationaleDocument",
            "The policy's rationale document is missing or empty.",
            "docs/MODEL-POLICY.md (or speckit.docFile) must exist and explain the policy.",
            "error",
        ),
        Rule(
            "policy-lint",
            "PolicyRules",
            "model_policy.toml does not follow the policy's rules.",
            "The TOML must parse and match the policy schema: known tables and keys, "
            "types, ranges, and warn_threshold <= hard_limit.",
            "error",
        ),
        Rule(
            "snapshot-corrupt",
            "SnapshotCorrupt",
            "A stored snapshot does not match its content hash.",
            "A copy of a snapshot (in .speckit/policies/ or the capsule) fails its hash, "
            "cannot be parsed, or holds another policy_id.",
            "error",
        ),
        Rule(
            "snapshot-parity",
            "SnapshotParity",
            "The two copies of a snapshot differ, or one is missing.",
            "Every snapshot is stored byte-identical in .speckit/policies/ and in the capsule; "
            "verify --repair restores a copy from the other after its hash checks out.",
            "error",
        ),
        Rule(
            "snapshot-unvalidated",
            "SnapshotUnvalidated",
            "A snapshot's policy did not pass validation.",
            "The policy was committed without the pre-commit check (--no-verify, a merge, "
            "a pick) and fails the policy lint.",
            "warning",
        ),
        Rule(
            "binding-missing",
            "BindingNotInCapsule",
            "A commit's binding is recorded in .speckit/ only.",
            "A binding made while speckit.capsule was false is missing from the capsule; "
            "verify --repair carries it over.",
            "error",
        ),
        Rule(
            "event-reference",
            "EventReference",
            "A run event names a snapshot that is missing or does not verify.",
            "Every event's policy_uri must name a stored snapshot whose hash is the event's "
            "policy_hash.",
            "error",
        ),
        Rule(
            "missed-capture",
            "MissedCapture",
            "A commit changed the policy but has no snapshot.",
            "The post-commit hook did not capture it (not installed, or failed); "
            "git speckit-policy capture --commit SHA makes it up.",
            "error",
        ),
    )
}
VALIDATE_RULES = ("doc-lint", "policy-lint")
_VERIFY_RULES = {
    "corrupt": "snapshot-corrupt",
    "parity": "snapshot-parity",
    "unvalidated": "snapshot-unvalidated",
    "binding": "binding-missing",
    "event": "event-reference",
    "missed_capture": "missed-capture",
}


@dataclass(frozen=True)
class Finding:
    rule_id: str
    level: str
    message: str
    file: str
    line: int | None = None
    logical: str | None = None  # a capsule URI
    key: str | None = None


def _rule_for(rule_id: str) -> Rule:
    """A known rule, or one made for a kind of verify finding this module does not know."""
    return RULES.get(rule_id) or Rule(
        rule_id,
        "".join(part.capitalize() for part in rule_id.replace("_", "-").split("-")),
        f"verify: {rule_id}",
        f"A problem verify reports as {rule_id!r}.",
        "error",
    )


def issue_findings(issues: Iterable[PolicyIssue], paths: SourcePaths) -> list[Finding]:
    """``validate``'s issues: doc lint on the rationale document, policy lint on the TOML."""
    return [
        Finding(
            "doc-lint" if issue.file == paths.doc else "policy-lint",
            "error",
            issue.message,
            issue.file,
            issue.line,
            key=issue.key or None,
        )
        for issue in issues
    ]


VERIFY_RULES = tuple(_VERIFY_RULES.values())


def verify_findings(report: Report, paths: SourcePaths) -> list[Finding]:
    """``verify``'s problems that are still there (a repaired copy is no finding)."""
    findings = []
    for problem in report.problems:
        if problem.repaired:
            continue
        rule_id = _VERIFY_RULES.get(problem.kind, problem.kind.replace("_", "-"))
        level = "error" if problem.severity == "error" else "warning"
        findings.append(
            Finding(
                rule_id, level, problem.message, problem.path or paths.policy, None, problem.uri
            )
        )
    return findings


def _result(finding: Finding, index: dict[str, int]) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": {"uri": finding.file, "uriBaseId": SRCROOT}}
    if finding.line is not None and finding.line >= 1:
        physical["region"] = {"startLine": finding.line}
    location: dict[str, Any] = {"physicalLocation": physical}
    if finding.logical:
        location["logicalLocations"] = [{"fullyQualifiedName": finding.logical, "kind": "resource"}]
    text = finding.message if not finding.key else f"{finding.key}: {finding.message}"
    fingerprint = hashlib.sha256(
        "\0".join(
            [
                finding.rule_id,
                finding.file,
                finding.key or "",
                finding.logical or "",
                finding.message,
            ]
        ).encode()
    ).hexdigest()
    result: dict[str, Any] = {
        "ruleId": finding.rule_id,
        "ruleIndex": index[finding.rule_id],
        "level": finding.level,
        "message": {"text": text},
        "locations": [location],
        "partialFingerprints": {FINGERPRINT: fingerprint},
    }
    if finding.key:
        result["properties"] = {"key": finding.key}
    return result


def sarif_log(
    findings: list[Finding], root: Path | None = None, rule_ids: Iterable[str] = ()
) -> dict[str, Any]:
    """One SARIF log with one run of this tool: the rules ``rule_ids`` and those the
    findings name; ``root``: the work tree the paths are relative to."""
    used = list(dict.fromkeys([*rule_ids, *(finding.rule_id for finding in findings)]))
    rules = [_rule_for(rule_id) for rule_id in used]
    index = {rule.id: position for position, rule in enumerate(rules)}
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": TOOL_NAME,
                "version": __version__,
                "semanticVersion": __version__,
                "informationUri": INFORMATION_URI,
                "rules": [
                    {
                        "id": rule.id,
                        "name": rule.name,
                        "shortDescription": {"text": rule.short},
                        "fullDescription": {"text": rule.full},
                        "defaultConfiguration": {"level": rule.level},
                    }
                    for rule in rules
                ],
            }
        },
        "invocations": [{"executionSuccessful": True}],
        "results": [_result(finding, index) for finding in findings],
        "columnKind": "unicodeCodePoints",
    }
    if root is not None:
        run["originalUriBaseIds"] = {SRCROOT: {"uri": root.resolve().as_uri() + "/"}}
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}
