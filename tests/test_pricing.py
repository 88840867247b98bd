"""The optional [pricing] table: its rules (both interpreters), and the hash of a policy
without it, which must not change because the table exists."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from speckit_git_policy.canonical import canonical_bytes
from speckit_git_policy.errors import PolicyInvalid
from speckit_git_policy.policy.checker import check_document, dotted_key, parse_toml
from speckit_git_policy.policy.model import Policy, error_loc
from speckit_git_policy.policy.sources import SourcePaths, Sources
from speckit_git_policy.snapshot import compile_sources, load_document

BASE = """\
[routing.cloud]
architect = ["m-a"]
[capture]
mode = "none"
[budgets.tokens]
plan = 10
[budgets.cost]
warn_threshold = 1.0
hard_limit = 2.0
[gates.reflex_promotion]
p95_latency_ms = 100
success_parity_percent = 90
[gates.local_memory_sunset]
retrieval_p95_parity = false
stability_days = 1
"""
# The hash this exact policy had before [pricing] existed (computed on the code before it).
HASH_BEFORE_PRICING = "3cfe2e7d55f640b5ec0db9f9ad05e28dc2e6016e4ab29711a4bcc31f50cc849a"
PATHS = SourcePaths("model_policy.toml", "docs/MODEL-POLICY.md")


def compiled(toml_text: str) -> Any:
    return compile_sources(Sources(PATHS, {"model_policy.toml": toml_text.encode(),
                                           "docs/MODEL-POLICY.md": b"# why\nBecause.\n"}, "worktree"))


def verdicts(text: str) -> tuple[tuple[set[str], Any], tuple[set[str], Any]]:
    document, lines = parse_toml(text.encode(), "model_policy.toml")
    try:
        model: tuple[set[str], Any] = (set(), Policy.model_validate(document).blocks())
    except ValidationError as e:
        model = ({dotted_key(error_loc(err)) for err in e.errors()}, None)
    try:
        plain: tuple[set[str], Any] = (set(), check_document(document, lines, "model_policy.toml"))
    except PolicyInvalid as e:
        plain = ({issue.key for issue in e.issues}, None)
    return model, plain


def test_a_policy_without_pricing_keeps_its_hash() -> None:
    result = compiled(BASE)
    assert result.validated and "pricing" not in result.content
    assert result.hash == HASH_BEFORE_PRICING


def test_an_empty_pricing_table_prices_nothing_and_stays_out_of_the_content() -> None:
    result = compiled(BASE + "[pricing]\n")
    assert result.validated and "pricing" not in result.content


def test_pricing_goes_into_the_content_and_the_hash() -> None:
    priced = compiled(BASE + '[pricing]\n"m-a" = { input_per_mtok = 3, output_per_mtok = 15.5 }\n')
    assert priced.validated
    assert priced.content["pricing"] == {"m-a": {"input_per_mtok": 3.0, "output_per_mtok": 15.5}}
    document = {**priced.content, "policy_id": "1c8f6d52-3f5e-4c8e-9d57-1a2b3c4d5e6f",
                "hash": priced.hash, "created_at": "2026-01-01T00:00:00.000000Z"}
    assert load_document(canonical_bytes(document), "x")["pricing"] == priced.content["pricing"]
    tampered = {**document, "pricing": {"m-a": {"input_per_mtok": 0.0, "output_per_mtok": 0.0}}}
    with pytest.raises(Exception, match="hash mismatch"):
        load_document(canonical_bytes(tampered), "x")


@pytest.mark.parametrize("table,keys", [
    ('"gpt-4o" = { input_per_mtok = 2.5, output_per_mtok = 10 }', set()),
    ('"local" = { input_per_mtok = 0, output_per_mtok = 0 }', set()),
    ('"m" = { input_per_mtok = -1, output_per_mtok = 1 }', {"pricing.m.input_per_mtok"}),
    ('"m" = { input_per_mtok = 1 }', {"pricing.m.output_per_mtok"}),
    ('"m" = { input_per_mtok = 1, output_per_mtok = 1, currency = "EUR" }', {"pricing.m.currency"}),
    ('"m" = { input_per_mtok = "1", output_per_mtok = 1 }', {"pricing.m.input_per_mtok"}),
    ('"m" = { input_per_mtok = nan, output_per_mtok = 1 }', {"pricing.m.input_per_mtok"}),
    ('"m" = 3', {"pricing.m"}),
    ('"" = { input_per_mtok = 1, output_per_mtok = 1 }', {"pricing."}),
    ('" " = { input_per_mtok = 1, output_per_mtok = 1 }', {"pricing. "}),
    ('"a\\u001bb" = { input_per_mtok = 1, output_per_mtok = 1 }', {"pricing.a\x1bb"}),
])
def test_pricing_rules_are_the_same_for_the_models_and_the_checker(table: str, keys: set[str]) -> None:
    model, plain = verdicts(BASE + "[pricing]\n" + table + "\n")
    assert model[0] == plain[0] == keys
    if not keys:
        assert json.dumps(model[1], sort_keys=True) == json.dumps(plain[1], sort_keys=True)
        assert all(isinstance(v, float) for price in plain[1]["pricing"].values() for v in price.values())


def test_the_checker_names_the_file_line_and_key_of_a_bad_price() -> None:
    text = BASE + '[pricing]\n"m" = { input_per_mtok = -1, output_per_mtok = 1 }\n'
    document, lines = parse_toml(text.encode(), "model_policy.toml")
    with pytest.raises(PolicyInvalid) as caught:
        check_document(document, lines, "model_policy.toml")
    (issue,) = caught.value.issues
    assert (issue.line, issue.key) == (text.count("\n"), "pricing.m.input_per_mtok")
    assert "at least 0" in issue.message


def test_policy_keys_name_pricing_only_when_the_snapshot_has_it() -> None:
    from speckit_git_policy.snapshot import policy_keys

    assert not any(key.startswith("pricing") for key in policy_keys(compiled(BASE).content))
    priced = compiled(BASE + '[pricing]\n"m-a" = { input_per_mtok = 1, output_per_mtok = 2 }\n')
    assert policy_keys(priced.content)["pricing.m-a.output_per_mtok"] == 2.0
