"""The policy's rules as ``load_policy`` reports them (the checker's issues, then the
pydantic model): every rule, each error located to file, exact line, dotted key and
what was expected."""

from __future__ import annotations

import pytest
from conftest import EXAMPLE_POLICY

from speckit_git_policy.errors import PolicyInvalid, PolicyIssue
from speckit_git_policy.policy.model import JSON_SAFE_INT, Policy, load_policy

EXAMPLE = EXAMPLE_POLICY.read_text()
FILE = "model_policy.toml"


def line_of(text: str, fragment: str) -> int:
    """1-based line of the only line that contains ``fragment``."""
    hits = [n for n, line in enumerate(text.splitlines(), start=1) if fragment in line]
    assert len(hits) == 1, (fragment, hits)
    return hits[0]


def edited(old: str, new: str) -> str:
    assert EXAMPLE.count(old) == 1, old
    return EXAMPLE.replace(old, new)


def issues_of(text: str, file: str = FILE) -> list[PolicyIssue]:
    with pytest.raises(PolicyInvalid) as caught:
        load_policy(text.encode(), file)
    return caught.value.issues


def test_example_policy_is_valid() -> None:
    policy = load_policy(EXAMPLE.encode(), FILE)
    assert isinstance(policy, Policy)
    blocks = policy.blocks()
    assert blocks["routing"]["cloud"]["judge"] == ["claude-sonnet-4-20250514"]
    assert blocks["capture"] == {"mode": "prompts_only", "store_embeddings": True}
    assert blocks["model_config"]["stop"] == ["</done>"]
    assert set(blocks) == {"routing", "capture", "budgets", "gates", "model_config", "weights", "prompts"}


# (name, old text, new text, line marker in the new text, dotted key, message fragment)
RULES = [
    ("empty role list", 'judge = ["claude-sonnet-4-20250514"]', "judge = []", "judge = []",
     "routing.cloud.judge", "expected a non-empty array"),
    ("empty model id", 'judge = ["claude-sonnet-4-20250514"]', 'judge = ["a", ""]', 'judge = ["a", ""]',
     "routing.cloud.judge[1]", "expected a model id, got a blank string"),
    ("blank model id", 'judge = ["claude-sonnet-4-20250514"]', 'judge = ["  "]', 'judge = ["  "]',
     "routing.cloud.judge[0]", "expected a model id, got a blank string"),
    ("ideographic-space model id", 'judge = ["claude-sonnet-4-20250514"]', 'judge = ["\\u3000"]',
     'judge = ["\\u3000"]', "routing.cloud.judge[0]", "expected a model id, got a blank string"),
    ("model id with ESC", 'judge = ["claude-sonnet-4-20250514"]', 'judge = ["m\\u001b]0;x\\u0007"]',
     "judge = [", "routing.cloud.judge[0]", "model ids must not contain control characters"),
    ("model id with CSI (C1)", 'judge = ["claude-sonnet-4-20250514"]', 'judge = ["ok", "m\\u009b2J"]',
     "judge = [", "routing.cloud.judge[1]", "model ids must not contain control characters"),
    ("model id with a line separator", 'judge = ["claude-sonnet-4-20250514"]', 'judge = ["a\\u2028b"]',
     "judge = [", "routing.cloud.judge[0]", "model ids must not contain control characters"),
    ("model id with a newline", 'judge = ["claude-sonnet-4-20250514"]', 'judge = ["a\\nforged: ok"]',
     "judge = [", "routing.cloud.judge[0]", "model ids must not contain control characters"),
    ("duplicate model id", 'judge = ["claude-sonnet-4-20250514"]', 'judge = ["m", "x", "m"]', 'judge = ["m"',
     "routing.cloud.judge", "duplicate item 'm'"),
    ("model id not a string", 'judge = ["claude-sonnet-4-20250514"]', "judge = [7]", "judge = [7]",
     "routing.cloud.judge[0]", "expected a string, got 7"),
    ("reflex endpoint missing when enabled",
     'enabled = false\nendpoint = "http://127.0.0.1:3009/v1"\n', "enabled = true\n", "[routing.reflex]",
     "routing.reflex", "endpoint required when enabled = true"),
    ("reflex model missing when enabled",
     'enabled = false\nendpoint = "http://127.0.0.1:3009/v1"\nmodel = "qwen2.5-coder-7b-instruct"\n',
     'enabled = true\nendpoint = "http://127.0.0.1:3009/v1"\n', "[routing.reflex]",
     "routing.reflex", "model required when enabled = true"),
    ("reflex endpoint not http", "http://127.0.0.1:3009/v1", "ftp://127.0.0.1/v1", "ftp://",
     "routing.reflex.endpoint", "expected an http:// or https:// URL"),
    ("reflex endpoint without host", "http://127.0.0.1:3009/v1", "https://", 'endpoint = "https://"',
     "routing.reflex.endpoint", "expected an http:// or https:// URL"),
    ("reflex endpoint with a space for a host", "http://127.0.0.1:3009/v1", "http:// h", 'endpoint = "http:// h"',
     "routing.reflex.endpoint", "expected an http:// or https:// URL"),
    ("reflex model empty", 'model = "qwen2.5-coder-7b-instruct"', 'model = ""', 'model = ""',
     "routing.reflex.model", "expected a model id, got a blank string"),
    ("reflex model with DEL", 'model = "qwen2.5-coder-7b-instruct"', 'model = "q\\u007f"', 'model = "q',
     "routing.reflex.model", "model ids must not contain control characters"),
    ("reflex enabled is an int", "enabled = false", "enabled = 0", "enabled = 0",
     "routing.reflex.enabled", "expected a boolean, got 0"),
    ("capture mode unknown", 'mode = "prompts_only"', 'mode = "everything"', 'mode = "everything"',
     "capture.mode", "expected 'none', 'prompts_only' or 'full_io', got 'everything'"),
    ("capture mode missing", 'mode = "prompts_only"  # none | prompts_only | full_io\n', "", "[capture]",
     "capture.mode", "required key is missing"),
    ("store_embeddings is an int", "store_embeddings = true", "store_embeddings = 1", "store_embeddings = 1",
     "capture.store_embeddings", "expected a boolean, got 1"),
    ("tokens zero", "plan = 8000", "plan = 0", "plan = 0",
     "budgets.tokens.plan", "expected an integer greater than 0, got 0"),
    ("tokens negative", "plan = 8000", "plan = -5", "plan = -5",
     "budgets.tokens.plan", "expected an integer greater than 0, got -5"),
    ("tokens a float", "plan = 8000", "plan = 8000.0", "plan = 8000.0",
     "budgets.tokens.plan", "expected an integer, got 8000.0"),
    ("tokens a string", "plan = 8000", 'plan = "8000"', 'plan = "8000"',
     "budgets.tokens.plan", "expected an integer, got '8000'"),
    ("tokens a bool", "plan = 8000", "plan = true", "plan = true",
     "budgets.tokens.plan", "expected an integer, got true"),
    ("tokens beyond 2^53", "plan = 8000", f"plan = {2**53}", f"plan = {2**53}",
     "budgets.tokens.plan", f"expected an integer of at most {JSON_SAFE_INT}"),
    ("cost negative", "warn_threshold = 5.0", "warn_threshold = -0.5", "warn_threshold = -0.5",
     "budgets.cost.warn_threshold", "expected a number of at least 0, got -0.5"),
    ("cost a bool", "hard_limit = 25.0", "hard_limit = false", "hard_limit = false",
     "budgets.cost.hard_limit", "expected a number, got false"),
    ("cost nan", "hard_limit = 25.0", "hard_limit = nan", "hard_limit = nan",
     "budgets.cost.hard_limit", "expected a finite number, got nan"),
    ("warn above hard", "warn_threshold = 5.0", "warn_threshold = 30", "[budgets.cost]",
     "budgets.cost", "warn_threshold (30.0) must be <= hard_limit (25.0)"),
    ("p95 zero", "p95_latency_ms = 2000", "p95_latency_ms = 0", "p95_latency_ms = 0",
     "gates.reflex_promotion.p95_latency_ms", "expected a number greater than 0, got 0"),
    ("p95 infinite", "p95_latency_ms = 2000", "p95_latency_ms = inf", "p95_latency_ms = inf",
     "gates.reflex_promotion.p95_latency_ms", "expected a finite number, got inf"),
    ("parity above 100", "success_parity_percent = 85", "success_parity_percent = 100.5",
     "success_parity_percent", "gates.reflex_promotion.success_parity_percent",
     "expected a number of at most 100, got 100.5"),
    ("parity below 0", "success_parity_percent = 85", "success_parity_percent = -1",
     "success_parity_percent", "gates.reflex_promotion.success_parity_percent",
     "expected a number of at least 0, got -1"),
    ("stability_days negative", "stability_days = 30", "stability_days = -1", "stability_days",
     "gates.local_memory_sunset.stability_days", "expected an integer of at least 0, got -1"),
    ("stability_days a float", "stability_days = 30", "stability_days = 1.5", "stability_days",
     "gates.local_memory_sunset.stability_days", "expected an integer, got 1.5"),
    ("retrieval parity an int", "retrieval_p95_parity = true", "retrieval_p95_parity = 1",
     "retrieval_p95_parity", "gates.local_memory_sunset.retrieval_p95_parity",
     "expected a boolean, got 1"),
    ("unknown key near a known one", "store_embeddings = true", "store_embedings = true", "store_embedings",
     "capture.store_embedings", "unknown key; did you mean 'store_embeddings'?"),
    ("unknown nested key near a known one", "p95_latency_ms = 2000", "p95_latency = 2000", "p95_latency",
     "gates.reflex_promotion.p95_latency", "unknown key; did you mean 'p95_latency_ms'?"),
    ("unknown table near a known one", "[weights]", "[weight]", "[weight]",
     "weight", "unknown key; did you mean 'weights'?"),
    ("model_config date-time", "temperature = 0.2", "temperature = 1979-05-27T07:32:00Z", "temperature",
     "model_config.temperature", "TOML date/time values cannot be carried in JSON"),
    ("weights local date", "judge_agreement = 0.6", "judge_agreement = 1979-05-27", "judge_agreement",
     "weights.judge_agreement", "TOML date/time values cannot be carried in JSON"),
    ("prompts time in an array", 'judge_system = "You are the judge. Answer PASS or FAIL with one reason."',
     "judge_system = [07:32:00]", "judge_system", "prompts.judge_system[0]",
     "TOML date/time values cannot be carried in JSON"),
    ("model_config int beyond 2^53", "max_output_tokens = 4096", f"max_output_tokens = {2**53}",
     "max_output_tokens", "model_config.max_output_tokens", "cannot be carried exactly in JSON"),
    ("model_config negative int beyond 2^53", "max_output_tokens = 4096",
     f"max_output_tokens = {-(2**53) - 1}", "max_output_tokens", "model_config.max_output_tokens",
     "cannot be carried exactly in JSON"),
    ("model_config nan", "temperature = 0.2", "temperature = nan", "temperature",
     "model_config.temperature", "nan is not a finite number"),
    ("weights -inf", "test_pass_rate = 0.4", "test_pass_rate = -inf", "test_pass_rate",
     "weights.test_pass_rate", "-inf is not a finite number"),
]


@pytest.mark.parametrize("name,old,new,marker,key,message", RULES, ids=[r[0] for r in RULES])
def test_each_rule_is_located(name: str, old: str, new: str, marker: str, key: str, message: str) -> None:
    text = edited(old, new)
    issues = issues_of(text)
    matching = [i for i in issues if i.key == key]
    assert len(matching) == 1, issues
    issue = matching[0]
    assert issue.file == FILE
    assert issue.line == line_of(text, marker)
    assert message in issue.message
    assert issue.render().startswith(f"{FILE}:{issue.line}: {key}: ")


def test_largest_exact_integer_is_accepted() -> None:
    text = edited("max_output_tokens = 4096", f"max_output_tokens = {JSON_SAFE_INT}")
    policy = load_policy(text.encode(), FILE)
    assert policy.blocks()["model_config"]["max_output_tokens"] == JSON_SAFE_INT


@pytest.mark.parametrize("table", ["routing", "capture", "budgets", "gates"])
def test_required_table_missing(table: str) -> None:
    kept = [block for block in EXAMPLE.split("\n[") if not block.startswith(table)]
    text = "\n[".join(kept)
    issues = issues_of(text)
    assert [(i.file, i.line, i.key, i.message) for i in issues] == [
        (FILE, None, table, "required key is missing")
    ]


def test_empty_cloud_routing() -> None:
    text = edited('architect = ["claude-sonnet-4-20250514", "gpt-4o"]\n'
                  'implementer = ["claude-sonnet-4-20250514", "gpt-4o"]\n'
                  'judge = ["claude-sonnet-4-20250514"]\n', "")
    (issue,) = issues_of(text)
    assert (issue.line, issue.key) == (line_of(text, "[routing.cloud]"), "routing.cloud")
    assert issue.message == "expected a non-empty table"


def test_other_roles_and_stages_are_allowed() -> None:
    text = edited("judge = [", 'reviewer = ["m1"]\njudge = [').replace("plan = 8000", "plan = 8000\nreview = 10")
    blocks = load_policy(text.encode(), FILE).blocks()
    assert blocks["routing"]["cloud"]["reviewer"] == ["m1"]
    assert blocks["budgets"]["tokens"]["review"] == 10


def test_every_issue_is_reported_in_line_order() -> None:
    text = edited("plan = 8000", "plan = 0").replace("stability_days = 30", "stability_days = -2")
    text = text.replace('mode = "prompts_only"', 'mode = "x"')
    issues = issues_of(text)
    assert [i.key for i in issues] == [
        "capture.mode", "budgets.tokens.plan", "gates.local_memory_sunset.stability_days"
    ]
    assert [i.line for i in issues] == sorted(i.line or 0 for i in issues)


def test_errors_in_inline_and_dotted_tables_are_located() -> None:
    text = (
        '[routing]\n'
        'cloud = { judge = [], architect = ["a"] }\n'
        '[capture]\n'
        'mode = "none"\n'
        'budgets.tokens.plan = 1\n'
        'budgets.cost = { warn_threshold = 1, hard_limit = 2 }\n'
        '[gates]\n'
        'reflex_promotion.p95_latency_ms = 1\n'
        'reflex_promotion.success_parity_percent = 50\n'
        'local_memory_sunset = { retrieval_p95_parity = true, stability_days = -1 }\n'
    )
    # budgets.* written as dotted keys under [capture] belong to capture: unknown there.
    issues = {i.key: i for i in issues_of(text)}
    assert issues["routing.cloud.judge"].line == 2
    assert issues["capture.budgets"].line == 5
    assert issues["gates.local_memory_sunset.stability_days"].line == 10
    assert issues["budgets"].message == "required key is missing"


def test_malformed_toml_names_its_line() -> None:
    text = edited("plan = 8000", "plan = = 8000")
    (issue,) = issues_of(text)
    assert issue.file == FILE
    assert issue.line == line_of(text, "plan = = 8000")
    assert issue.message.startswith("invalid TOML: ")


def test_duplicate_table_names_its_line() -> None:
    text = EXAMPLE + "\n[capture]\nmode = \"none\"\n"
    (issue,) = issues_of(text)
    assert issue.line == len(EXAMPLE.splitlines()) + 2
    assert "invalid TOML" in issue.message


@pytest.mark.parametrize("data", [b"", b"  \n\n\t\n"])
def test_empty_file(data: bytes) -> None:
    with pytest.raises(PolicyInvalid) as caught:
        load_policy(data, FILE)
    (issue,) = caught.value.issues
    assert (issue.file, issue.line) == (FILE, 1)
    assert "empty" in issue.message


def test_non_utf8_names_the_line() -> None:
    lines = EXAMPLE.encode().splitlines(keepends=True)
    lines.insert(4, b"# caf\xe9\n")
    with pytest.raises(PolicyInvalid) as caught:
        load_policy(b"".join(lines), FILE)
    (issue,) = caught.value.issues
    assert (issue.file, issue.line, issue.message) == (FILE, 5, "is not valid UTF-8")


def test_top_level_scalar_is_unknown() -> None:
    text = "version = 2\n" + EXAMPLE
    (issue,) = issues_of(text)
    assert (issue.line, issue.key, issue.message) == (1, "version", "unknown key")


def test_free_form_tables_are_carried_as_written() -> None:
    text = EXAMPLE + '\n[model_config.nested]\nlist = [1, 2.5, "x", true, {a = 1}]\n'
    blocks = load_policy(text.encode(), FILE).blocks()
    assert blocks["model_config"]["nested"] == {"list": [1, 2.5, "x", True, {"a": 1}]}


# ---- the typed API an agent runner reads a policy through --------------------------------


def test_policy_is_a_frozen_typed_object() -> None:
    import pydantic

    from speckit_git_policy.policy.model import Capture, Cost, Reflex, Routing

    policy = load_policy(EXAMPLE.encode(), FILE)
    assert isinstance(policy.routing, Routing) and isinstance(policy.routing.reflex, Reflex)
    assert isinstance(policy.capture, Capture) and isinstance(policy.budgets.cost, Cost)
    assert policy.routing.cloud["judge"] == ["claude-sonnet-4-20250514"]
    assert policy.capture.mode == "prompts_only"
    assert policy.budgets.cost.hard_limit == 25.0 and isinstance(policy.budgets.cost.hard_limit, float)
    assert policy.gates.local_memory_sunset.stability_days == 30
    assert policy.model_settings["max_output_tokens"] == 4096
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        policy.capture.mode = "full_io"  # type: ignore[misc]
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        policy.routing = policy.routing  # type: ignore[misc]


def test_the_model_refuses_what_the_checker_refuses_when_built_directly() -> None:
    import pydantic

    from speckit_git_policy.policy.model import Reflex

    with pytest.raises(pydantic.ValidationError):
        Reflex(enabled=True, endpoint="http://h")
    with pytest.raises(pydantic.ValidationError):
        Reflex(model="qwen\x1b[2J")
    with pytest.raises(pydantic.ValidationError):
        Reflex(endpoint="ftp://h")
    assert Reflex(enabled=True, endpoint="https://h", model="m").enabled is True
    blocks = load_policy(EXAMPLE.encode(), FILE).blocks()
    with pytest.raises(pydantic.ValidationError):
        Policy.model_validate({**blocks, "model_config": {"when": __import__("datetime").date(2020, 1, 1)}})
    with pytest.raises(pydantic.ValidationError):
        Policy.model_validate({**blocks, "model_settings": {}})  # only the TOML name validates
    assert Policy.model_validate(blocks).blocks() == blocks


def test_defaults_are_not_shared_between_policies() -> None:
    text = "\n".join(line for line in EXAMPLE.splitlines() if not line.startswith(("temperature", "max_output", "stop")))
    text = text.replace("[model_config]\n", "")
    first, second = load_policy(text.encode(), FILE), load_policy(text.encode(), FILE)
    assert first.model_settings == {} and first.model_settings is not second.model_settings
