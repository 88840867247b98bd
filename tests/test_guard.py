"""Call-time enforcement (docs/DESIGN.md §7) with the real openai and anthropic SDKs against
a stub server on 127.0.0.1: allowed calls pass and are recorded, forbidden models and
exhausted budgets are refused before a request leaves the process, streams are metered."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import git, write_policy_sources

anthropic = pytest.importorskip("anthropic")
openai = pytest.importorskip("openai")
httpx = pytest.importorskip("httpx")
httpx2 = pytest.importorskip("httpx2")

import llm_stub  # noqa: E402

from speckit_git_policy.errors import BadInput  # noqa: E402
from speckit_git_policy.guard import (  # noqa: E402
    PolicyTransport,
    PolicyTransport2,
    anthropic_client,
    async_anthropic_client,
    async_openai_client,
    openai_client,
)
from speckit_git_policy.guard.clients import flavour  # noqa: E402
from speckit_git_policy.runs.run import Run, start_run  # noqa: E402

POLICY = """\
[routing.cloud]
architect = ["claude-sonnet-4-20250514", "gpt-4o"]
implementer = ["gpt-4o", "claude-sonnet-4-20250514"]

[routing.reflex]
enabled = true
endpoint = "http://127.0.0.1:3009/v1"
model = "local-coder"

[capture]
mode = "none"

[budgets.tokens]
plan = 100000
implement = 100

[budgets.cost]
warn_threshold = 0.5
hard_limit = 1.0

[gates.reflex_promotion]
p95_latency_ms = 2000
success_parity_percent = 85

[gates.local_memory_sunset]
retrieval_p95_parity = true
stability_days = 30

[pricing]
"gpt-4o" = { input_per_mtok = 2.5, output_per_mtok = 10 }
"claude-sonnet-4-20250514-0001" = { input_per_mtok = 3, output_per_mtok = 15 }
"""
MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
def server() -> Iterator[llm_stub.StubServer]:
    with llm_stub.running() as stub:
        yield stub


@pytest.fixture
def guard_repo(repo: Path) -> Path:
    write_policy_sources(repo, POLICY)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "policy")
    return repo


@pytest.fixture
def run(guard_repo: Path) -> Run:
    started = start_run(guard_repo, "guarded")
    started.stage("plan")
    return started


def usage_events(run: Run) -> list[Any]:
    return [e for e in Run.open(run.repo, run.run_id).events() if e["type"] == "UsageRecorded"]


def decisions(run: Run) -> list[Any]:
    return [e for e in Run.open(run.repo, run.run_id).events() if e["type"].endswith("Decision")]


def oai(run: Run, server: llm_stub.StubServer, **kwargs: Any) -> Any:
    return openai_client(run, base_url=server.url + "/v1", api_key="sk-test", max_retries=2,
                         timeout=20, **kwargs)


def claude(run: Run, server: llm_stub.StubServer, **kwargs: Any) -> Any:
    return anthropic_client(run, base_url=server.url, api_key="sk-ant-test", max_retries=2,
                            timeout=20, **kwargs)


def test_both_current_sdks_are_built_on_httpx2() -> None:
    assert flavour(openai.DefaultHttpxClient) == "httpx2"
    assert flavour(anthropic.DefaultHttpxClient) == "httpx2"
    # ... and anthropic refuses an httpx client, as the issue says; openai converts one.
    with pytest.raises(TypeError, match="httpx2"):
        anthropic.Anthropic(api_key="x", http_client=httpx.Client())


def test_an_allowed_chat_call_passes_and_is_recorded(run: Run, server: llm_stub.StubServer) -> None:
    client = oai(run, server, role="architect", stage="plan")
    reply = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=50)
    assert reply.choices[0].message.content == "ok" and reply.usage.prompt_tokens == 11
    (event,) = usage_events(run)
    assert event["stage"] == "plan" and event["role"] == "architect"
    assert event["api"] == "openai.chat.completions" and event["streamed"] is False
    assert (event["model_requested"], event["model_served"]) == ("gpt-4o", "gpt-4o-0001")
    assert (event["input_tokens"], event["output_tokens"]) == (11, 7)
    assert event["cost"] == pytest.approx((11 * 2.5 + 7 * 10) / 1e6)
    assert event["cost_reason"] == "priced by pricing.gpt-4o"
    assert event["request_id"] == "req-1" and event["complete"] is True
    assert event["usage"]["total_tokens"] == 18
    assert event["policy_id"] == run.policy_id and event["actor"]
    assert server.paths() == ["/v1/chat/completions"]


def test_a_forbidden_model_is_refused_before_a_request_leaves(run: Run, server: llm_stub.StubServer) -> None:
    client = oai(run, server, role="implementer", stage="plan")
    with pytest.raises(openai.PermissionDeniedError) as caught:
        client.chat.completions.create(model="gpt-5-turbo", messages=MESSAGES, max_tokens=5)
    assert server.paths() == []  # nothing reached the server, and the SDK did not retry
    error = caught.value.body
    assert error["rule"] == "routing.cloud.implementer"
    assert error["policy_id"] == run.policy_id and error["policy_hash"] == run.policy_hash
    assert "gpt-5-turbo" in error["message"] and run.policy_id in error["message"]
    (denied,) = decisions(run)
    assert denied["type"] == "RouteDecision" and denied["decision"]["decision"] == "deny"
    assert denied["decision"]["model"] == "gpt-5-turbo" and denied["seq"] == 2
    assert usage_events(run) == []


def test_the_reflex_model_is_allowed_while_reflex_is_enabled(run: Run, server: llm_stub.StubServer) -> None:
    client = oai(run, server, role="implementer", stage="plan")
    client.chat.completions.create(model="local-coder", messages=MESSAGES, max_tokens=5)
    (event,) = usage_events(run)
    assert event["cost"] is None and "no entry for 'local-coder-0001' or 'local-coder'" in event["cost_reason"]


def test_anthropic_messages_allowed_and_refused(run: Run, server: llm_stub.StubServer) -> None:
    client = claude(run, server, role="architect", stage="plan")
    message = client.messages.create(model="claude-sonnet-4-20250514", max_tokens=64, messages=MESSAGES)
    assert message.content[0].text == "ok"
    with pytest.raises(anthropic.PermissionDeniedError) as caught:
        client.messages.create(model="claude-opus-9", max_tokens=64, messages=MESSAGES)
    assert "routing.cloud.architect" in str(caught.value)
    assert server.paths() == ["/v1/messages"]
    (event,) = usage_events(run)
    assert event["api"] == "anthropic.messages" and (event["input_tokens"], event["output_tokens"]) == (17, 9)
    # Priced by the served model's entry, which the policy names here.
    assert event["cost_reason"] == "priced by pricing.claude-sonnet-4-20250514-0001"


def test_an_exhausted_token_budget_is_refused(guard_repo: Path, server: llm_stub.StubServer) -> None:
    run = start_run(guard_repo, "budgeted")
    run.stage("plan")
    run.stage("tasks")
    run.stage("implement")
    client = claude(run, server, role="implementer", stage="implement")
    client.messages.create(model="claude-sonnet-4-20250514", max_tokens=70, messages=MESSAGES)  # 26 used
    client.messages.create(model="claude-sonnet-4-20250514", max_tokens=74, messages=MESSAGES)  # 26 + 74 = 100
    with pytest.raises(anthropic.PermissionDeniedError) as caught:
        client.messages.create(model="claude-sonnet-4-20250514", max_tokens=49, messages=MESSAGES)  # 52 + 49
    assert caught.value.body["error"]["rule"] == "budgets.tokens.implement"
    assert len(server.paths()) == 2
    (denied,) = decisions(run)
    assert denied["decision"]["kind"] == "tokens" and denied["decision"]["decision"] == "deny"
    assert denied["decision"]["tokens"] == 52 + 49 and denied["decision"]["budget"] == 100


def test_a_stage_without_a_budget_is_refused(guard_repo: Path, server: llm_stub.StubServer) -> None:
    run = start_run(guard_repo, "unbudgeted")
    client = oai(run, server, role="architect", stage="specify")
    with pytest.raises(openai.PermissionDeniedError) as caught:
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert caught.value.body["rule"] == "budgets.tokens.specify"  # openai hands on body["error"]
    assert server.paths() == []


def test_the_cost_hard_limit_is_refused_and_the_warning_recorded_once(
    guard_repo: Path, server: llm_stub.StubServer
) -> None:
    (guard_repo / "model_policy.toml").write_text(
        POLICY.replace('"gpt-4o" = { input_per_mtok = 2.5, output_per_mtok = 10 }',
                       '"gpt-4o" = { input_per_mtok = 40000, output_per_mtok = 0 }'))
    git(guard_repo, "commit", "-qam", "expensive")
    run = start_run(guard_repo, "costly")
    run.stage("plan")
    client = oai(run, server, role="architect", stage="plan")
    for _ in range(2):  # 0.44 each: below warn, then at 0.88 (warn)
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=5)
    response = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES, max_tokens=5)
    assert "warn_threshold" in response.headers["x-speckit-policy-warning"]  # 0.88: warned, allowed
    with pytest.raises(openai.PermissionDeniedError) as caught:  # 1.32 >= hard_limit 1.0
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=5)
    assert caught.value.body["rule"] == "budgets.cost.hard_limit"
    kinds = [(e["decision"]["kind"], e["decision"]["decision"]) for e in decisions(run)]
    assert kinds == [("cost", "warn"), ("cost", "deny")]
    assert len(server.paths()) == 3


@pytest.mark.parametrize("asked", [False, True])
def test_a_chat_stream_records_usage_and_hands_on_the_stream_the_caller_asked_for(
    run: Run, server: llm_stub.StubServer, asked: bool
) -> None:
    client = oai(run, server, role="architect", stage="plan")
    extra = {"stream_options": {"include_usage": True}} if asked else {}
    chunks = list(client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True,
                                                 max_tokens=9, **extra))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "ok"
    assert any(not c.choices for c in chunks) is asked  # the usage chunk only when asked for
    (sent,) = server.requests
    assert sent["body"]["stream_options"] == {"include_usage": True}
    (event,) = usage_events(run)
    assert event["streamed"] is True and event["complete"] is True
    assert (event["input_tokens"], event["output_tokens"]) == (11, 7)


def test_an_anthropic_stream_records_usage(run: Run, server: llm_stub.StubServer) -> None:
    client = claude(run, server, role="architect", stage="plan")
    with client.messages.stream(model="claude-sonnet-4-20250514", max_tokens=64, messages=MESSAGES) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "ok" and final.usage.output_tokens == 9
    (event,) = usage_events(run)
    assert event["streamed"] is True and (event["input_tokens"], event["output_tokens"]) == (17, 9)
    assert event["model_served"] == "claude-sonnet-4-20250514-0001"


def test_responses_json_and_stream_are_recorded(run: Run, server: llm_stub.StubServer) -> None:
    client = oai(run, server, role="architect", stage="plan")
    response = client.responses.create(model="gpt-4o", input="hi", max_output_tokens=20)
    assert response.output_text == "ok"
    events = list(client.responses.create(model="gpt-4o", input="hi", max_output_tokens=20, stream=True))
    assert events[-1].type == "response.completed"
    recorded = usage_events(run)
    assert [(e["api"], e["streamed"], e["input_tokens"], e["output_tokens"]) for e in recorded] == [
        ("openai.responses", False, 13, 5), ("openai.responses", True, 13, 5)]


def test_concurrent_calls_from_eight_threads_lose_no_event(run: Run, server: llm_stub.StubServer) -> None:
    client = oai(run, server, role="architect", stage="plan")
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(3):
                client.chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=10)
        except BaseException as e:  # noqa: BLE001 -- reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == [] and not any(t.is_alive() for t in threads)
    events = Run.open(run.repo, run.run_id).events()
    assert [e["seq"] for e in events] == list(range(len(events)))
    assert len([e for e in events if e["type"] == "UsageRecorded"]) == 24 == len(server.requests)


def test_another_processs_usage_counts_against_the_budget(guard_repo: Path, server: llm_stub.StubServer) -> None:
    run = start_run(guard_repo, "shared")
    for stage in ("plan", "tasks", "implement"):
        run.stage(stage)
    other = Run.open(guard_repo, "shared")  # another process's Run
    other.usage({"stage": "implement", "role": "implementer", "api": "anthropic.messages",
                 "model_requested": "x", "model_served": None, "input_tokens": 60, "output_tokens": 30,
                 "cost": None, "cost_reason": "-", "streamed": False, "complete": True,
                 "request_id": None, "usage": {}})
    client = claude(run, server, role="implementer", stage="implement")
    with pytest.raises(anthropic.PermissionDeniedError):
        client.messages.create(model="claude-sonnet-4-20250514", max_tokens=20, messages=MESSAGES)
    client.messages.create(model="claude-sonnet-4-20250514", max_tokens=10, messages=MESSAGES)


def test_the_httpx_transport_serves_httpx_clients(run: Run, server: llm_stub.StubServer) -> None:
    transport = PolicyTransport(run, role="architect", stage="plan")
    assert isinstance(transport, httpx.BaseTransport)
    with httpx.Client(transport=transport, timeout=20) as client:
        refused = client.post(server.url + "/v1/chat/completions", json={"model": "nope", "messages": []})
        assert refused.status_code == 403 and refused.headers["x-should-retry"] == "false"
        allowed = client.post(server.url + "/v1/chat/completions",
                              json={"model": "gpt-4o", "messages": [], "max_tokens": 3})
        assert allowed.json()["usage"]["prompt_tokens"] == 11
        assert client.get(server.url + "/v1/models").status_code == 501  # not a model call: untouched
    # openai still converts a legacy httpx client: the httpx flavour guards it too.
    legacy = openai.OpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0,
                           http_client=httpx.Client(transport=PolicyTransport(run, role="architect", stage="plan")))
    legacy.chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=3)
    assert len(usage_events(run)) == 2
    assert isinstance(PolicyTransport2(run, role="architect", stage="plan"), httpx2.BaseTransport)


def test_async_clients_are_guarded_too(run: Run, server: llm_stub.StubServer) -> None:
    async def main() -> None:
        client = async_openai_client(run, role="architect", stage="plan", base_url=server.url + "/v1",
                                     api_key="x", max_retries=0, timeout=20)
        await client.chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=3)
        stream = await client.chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=3,
                                                      stream=True)
        assert len([chunk async for chunk in stream]) == 3
        with pytest.raises(openai.PermissionDeniedError):
            await client.chat.completions.create(model="nope", messages=MESSAGES, max_tokens=3)
        other = async_anthropic_client(run, role="architect", stage="plan", base_url=server.url,
                                       api_key="x", max_retries=0, timeout=20)
        await other.messages.create(model="gpt-4o", max_tokens=3, messages=MESSAGES)

    asyncio.run(main())
    assert [(e["api"], e["streamed"]) for e in usage_events(run)] == [
        ("openai.chat.completions", False), ("openai.chat.completions", True), ("anthropic.messages", False)]
    assert len(server.requests) == 3


def test_misuse_is_refused_when_the_client_is_built(run: Run) -> None:
    with pytest.raises(BadInput, match="unknown role"):
        openai_client(run, role="reviewer", stage="plan", api_key="x")
    with pytest.raises(BadInput, match="http_client"):
        openai_client(run, role="architect", stage="plan", api_key="x", http_client=object())


def test_budget_status_adds_up_the_ledger(run: Run, server: llm_stub.StubServer) -> None:
    from click.testing import CliRunner

    from speckit_git_policy.cli import cli

    client = oai(run, server, role="architect", stage="plan")
    client.chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=5)
    claude(run, server, role="architect", stage="plan").messages.create(
        model="gpt-4o", max_tokens=5, messages=MESSAGES)
    result = CliRunner().invoke(cli, ["-C", str(run.repo.root), "budget", "status", run.run_id, "--json"])
    assert result.exit_code == 0, result.output
    status = json.loads(result.output)
    plan = next(s for s in status["stages"] if s["stage"] == "plan")
    assert (plan["used"], plan["budget"], plan["calls"]) == (11 + 7 + 17 + 9, 100000, 2)
    assert status["cost"] == pytest.approx(((11 + 17) * 2.5 + (7 + 9) * 10) / 1e6)
    assert (status["warn_threshold"], status["hard_limit"], status["cost_decision"]) == (0.5, 1.0, "ok")
    assert {"run_id", "stages", "cost", "warn_threshold", "hard_limit"} <= set(status)
    plain = CliRunner().invoke(cli, ["-C", str(run.repo.root), "budget", "status", run.run_id])
    assert plain.exit_code == 0 and "plan" in plain.output and "hard limit 1" in plain.output


def test_the_audit_report_reads_the_ledger_the_guard_wrote(run: Run, server: llm_stub.StubServer) -> None:
    """The evidence report's usage columns come from the UsageRecorded fields the guard
    writes (stage, model_requested, model_served, input_tokens, output_tokens, cost): they
    must add up to what budget status says, a served model and an unknown price included."""
    from click.testing import CliRunner

    from speckit_git_policy.cli import cli

    oai(run, server, role="architect", stage="plan").chat.completions.create(
        model="gpt-4o", messages=MESSAGES, max_tokens=5)
    claude(run, server, role="architect", stage="plan").messages.create(
        model="claude-sonnet-4-20250514", max_tokens=5, messages=MESSAGES)
    oai(run, server, role="architect", stage="plan").chat.completions.create(
        model="local-coder", messages=MESSAGES, max_tokens=5)  # the reflex model: no price
    root = str(run.repo.root)
    status = json.loads(CliRunner().invoke(cli, ["-C", root, "budget", "status", run.run_id, "--json"]).output)
    result = CliRunner().invoke(cli, ["-C", root, "report", "--format", "json"])
    assert result.exit_code == 0, result.output
    report = next(r for r in json.loads(result.output)["runs"] if r["run_id"] == run.run_id)
    usage = report["usage"]
    recorded = usage_events(run)
    assert usage["calls"] == len(recorded) == 3
    assert usage["input_tokens"] == sum(e["input_tokens"] for e in recorded)
    assert usage["output_tokens"] == sum(e["output_tokens"] for e in recorded)
    plan = next(s for s in status["stages"] if s["stage"] == "plan")
    assert [(s["stage"], s["tokens"], s["budget"]) for s in usage["stages"]] == [
        ("plan", plan["used"], plan["budget"])]
    assert usage["cost"] == pytest.approx(status["cost"])
    assert usage["unpriced_calls"] == sum(e["cost"] is None for e in recorded) == 1
    models = {(m["model_requested"], m["model_served"]) for m in usage["models"]}
    assert models == {(e["model_requested"], e["model_served"]) for e in recorded}
