"""`schema`: the committed JSON Schema (draft 2020-12), generated from the models with no
edit, valid, printed as committed without pydantic; it accepts the example policy and
rejects every invalid example of test_model and of the rule table, but the few JSON
Schema cannot express (listed with the reason); and it uses only keywords the
hook-path checker interprets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import test_model
import test_policy_rules
import tomllib
from click.testing import CliRunner

from speckit_git_policy.cli import cli
from speckit_git_policy.policy import checker, rules
from speckit_git_policy.policy import schema as schema_module

# Rules JSON Schema cannot state; `validate` (and the pre-commit hook) still refuse them.
NOT_EXPRESSIBLE = {
    "warn above hard": "compares two values (warn_threshold <= hard_limit)",
    "tokens a float": "JSON Schema counts 8000.0 as an integer; TOML does not",
    "cost nan": "NaN has no JSON form, so no schema keyword can refuse it",
    "model_config nan": "NaN has no JSON form, so no schema keyword can refuse it",
}


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    result = CliRunner().invoke(cli, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    return jsonschema.Draft202012Validator(schema)


def test_schema_accepts_the_example_policy(validator: jsonschema.Draft202012Validator) -> None:
    assert list(validator.iter_errors(tomllib.loads(test_model.EXAMPLE))) == []


@pytest.mark.parametrize("rule", test_model.RULES, ids=[r[0] for r in test_model.RULES])
def test_schema_rejects_each_invalid_example(validator: jsonschema.Draft202012Validator, rule: tuple) -> None:
    name, old, new = rule[:3]
    document = tomllib.loads(test_model.edited(old, new))
    errors = list(validator.iter_errors(document))
    if name in NOT_EXPRESSIBLE:
        assert errors == [], f"{name} is now caught by the schema: drop it from NOT_EXPRESSIBLE"
    else:
        assert errors, f"the schema accepts: {name}"


@pytest.mark.parametrize("table", ["routing", "capture", "budgets", "gates"])
def test_schema_requires_the_tables(validator: jsonschema.Draft202012Validator, table: str) -> None:
    document = tomllib.loads(test_model.EXAMPLE)
    del document[table]
    assert list(validator.iter_errors(document))


# ---- the committed file is the models' schema, and what the checker reads ---------------


def test_the_committed_schema_is_what_the_models_generate() -> None:
    assert schema_module.schema_text() == schema_module.render(schema_module.generate()), (
        "model_policy.schema.json is stale: run python -m speckit_git_policy.policy.schema --write")


def test_the_generator_checks_and_writes(tmp_path: Any, monkeypatch: Any) -> None:
    assert schema_module.main(["--check"]) == 0
    target = tmp_path / "model_policy.schema.json"
    target.write_text("{}\n")
    monkeypatch.setattr(schema_module, "SCHEMA_FILE", str(target))
    assert schema_module.main(["--check"]) == 1
    assert schema_module.main(["--write"]) == 0
    assert schema_module.main(["--check"]) == 0
    assert target.read_text() == schema_module.render(schema_module.generate())


def test_schema_prints_the_committed_file() -> None:
    for args in (["schema"], ["schema", "--json"]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0
        assert result.output == schema_module.schema_text()


def test_schema_needs_no_pydantic() -> None:
    code = (
        "import sys\n"
        "sys.modules['pydantic'] = None  # any import of it now fails\n"
        "from speckit_git_policy.cli import main\n"
        "sys.argv = ['git-speckit-policy', 'schema']\n"
        "main()\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout == schema_module.schema_text()


def test_the_schema_file_is_package_data() -> None:
    pyproject = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    data = pyproject["tool"]["setuptools"]["package-data"]["speckit_git_policy"]
    assert "policy/model_policy.schema.json" in data


def _subschemas(node: Any) -> list[dict[str, Any]]:
    """Every schema object inside ``node`` (not the names, defaults or choices it holds)."""
    found = []
    stack = [node]
    while stack:
        item = stack.pop()
        found.append(item)
        for keyword in ("properties", "$defs"):
            stack.extend(item.get(keyword, {}).values())
        for keyword in ("allOf", "anyOf"):
            stack.extend(item.get(keyword, ()))
        for keyword in ("items", "not", "if", "then", "additionalProperties"):
            if isinstance(item.get(keyword), dict):
                stack.append(item[keyword])
    return found


def test_the_checker_interprets_every_keyword_the_models_generate() -> None:
    used = {keyword for node in _subschemas(schema_module.load_schema()) for keyword in node}
    assert used <= checker.KEYWORDS, f"the checker does not know {sorted(used - checker.KEYWORDS)}"


def test_every_optional_key_has_a_default() -> None:
    # The checker fills defaults from the schema, as pydantic does from the models.
    for node in _subschemas(schema_module.load_schema()):
        for name, sub in node.get("properties", {}).items():
            if name not in node.get("required", ()):
                assert "default" in sub, name


def test_the_rules_in_code_name_definitions_of_the_schema() -> None:
    schema = schema_module.load_schema()
    assert set(checker.CODE_CHECKED) | set(checker.CROSS_FIELD) <= set(schema["$defs"])
    assert tuple(schema["properties"]) == rules.POLICY_BLOCKS
    assert tuple(key for key, sub in schema["properties"].items()
                 if sub.get("additionalProperties") == {"$ref": "#/$defs/JsonValue"}) == rules.FREE_FORM_TABLES


# Rules of the rule table JSON Schema cannot state (the checker and the models still do).
NOT_EXPRESSIBLE_TABLE = {
    "cost warn above hard": "compares two values",
    "tokens a float": "JSON Schema counts 8000.0 as an integer; TOML does not",
    "cost nan": "NaN has no JSON form",
    "model_config nan": "NaN has no JSON form",
}


@pytest.mark.parametrize("name,edits,expected", test_policy_rules.CASES, ids=test_policy_rules.IDS)
def test_jsonschema_agrees_with_the_rule_table(validator: jsonschema.Draft202012Validator, name: str,
                                               edits: dict[int, str], expected: list[tuple[str, int]]) -> None:
    errors = list(validator.iter_errors(tomllib.loads(test_policy_rules.document(edits))))
    if name in NOT_EXPRESSIBLE_TABLE and expected:
        assert errors == [], f"{name} is now caught by the schema: drop it from NOT_EXPRESSIBLE_TABLE"
    else:
        assert bool(errors) == bool(expected), (name, [e.message for e in errors])
