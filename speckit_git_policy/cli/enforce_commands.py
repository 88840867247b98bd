"""Enforcement commands (docs/DESIGN.md §7, §9): route, budget tokens|cost, gate.

Exit 0 for allow/pass (a cost warning too), 1 for deny/fail or a stage with no
budget, 2 for bad input.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from speckit_git_policy.cli.common import emit_json, emit_table, json_option, stores_from
from speckit_git_policy.text import printable

if TYPE_CHECKING:
    from speckit_git_policy.enforce.decisions import Decision, GateDecision
    from speckit_git_policy.runs.records import PolicyInForce

policy_option = click.option(
    "--policy",
    "policy",
    metavar="ID|PREFIX|URI|current",
    default=None,
    help="Decide under this snapshot (default: the run's snapshot with --run, else HEAD's policy).",
)
run_option = click.option(
    "--run",
    "run_id",
    metavar="RUN",
    default=None,
    help="Record the decision in this run's event log (decided under the run's snapshot).",
)


def decision_options(command: Callable[..., Any]) -> Callable[..., Any]:
    return policy_option(run_option(json_option(command)))


def _policy(ctx: click.Context, policy: str | None) -> PolicyInForce:
    """The snapshot to decide under; with --run, the run's (a run logs no decision made
    under a policy that did not govern it)."""
    from speckit_git_policy.enforce.in_force import policy_in_force

    repo, stores = stores_from(ctx)
    run_id = ctx.params.get("run_id")
    if run_id is not None:
        from speckit_git_policy.runs.run import Run

        run = ctx.meta["speckit.run"] = Run.open(repo, run_id, stores=stores)
        policy = policy if policy is not None else run.policy_id
    return policy_in_force(repo, stores, policy)


def _finish(ctx: click.Context, decision: Decision, as_json: bool, lines: list[str]) -> None:
    """Record the decision when --run is given, print it, then exit 1 when it is not allowed."""
    document = decision.as_json()
    run = ctx.meta.get("speckit.run")
    if run is not None:
        event = run.decision(decision.as_event())
        document["recorded"] = {key: event[key] for key in ("run_id", "event_id", "seq")}
        lines = [*lines, f"  recorded in run {run.run_id} as event {event['seq']}"]
    if as_json:
        emit_json(document)
    else:
        # Model ids, endpoints and reasons come from the policy: one line each, escaped.
        for line in lines:
            click.echo(printable(line))
        policy = decision.policy
        click.echo(printable(f"  under {policy.policy_uri} (hash {policy.policy_hash[:12]})"))
    if not decision.ok:
        ctx.exit(1)


def _criteria_lines(decision: GateDecision) -> list[str]:
    return [
        f"  {'pass' if c.passed else 'FAIL'}  {c.name}: measured {c.measured} "
        f"{c.comparison} {c.threshold}{'' if c.required else ' (not required)'} — {c.detail}"
        for c in decision.criteria
    ]


@click.command()
@click.argument("role")
@click.option(
    "--reflex-samples",
    type=click.Path(dir_okay=False),
    default=None,
    help="Latency samples (ms) of the reflex model, for its promotion gate.",
)
@click.option(
    "--reflex-success",
    metavar="LOCAL/CLOUD",
    default=None,
    help="Success counts of the reflex model and the cloud reference, e.g. 85/100.",
)
@decision_options
@click.pass_context
def route(
    ctx: click.Context,
    role: str,
    reflex_samples: str | None,
    reflex_success: str | None,
    policy: str | None,
    run_id: str | None,
    as_json: bool,
) -> None:
    """Ordered candidate models for ROLE, and the reflex route when its gate passed."""
    from speckit_git_policy.enforce.rules import gate_reflex_promotion
    from speckit_git_policy.enforce.rules import route as decide_route
    from speckit_git_policy.enforce.samples import load_samples, parse_success

    if (reflex_samples is None) != (reflex_success is None):
        raise click.UsageError("--reflex-samples and --reflex-success go together")
    governing = _policy(ctx, policy)
    gate = None
    if reflex_samples is not None and reflex_success is not None:
        gate = gate_reflex_promotion(
            governing, load_samples(reflex_samples), *parse_success(reflex_success)
        )
    decision = decide_route(governing, role, gate)
    reflex = (
        f"reflex: {decision.reflex_model} at {decision.reflex_endpoint}"
        if decision.reflex_offered
        else f"reflex: not offered ({decision.reflex_reason})"
    )
    _finish(ctx, decision, as_json, [f"{role}: {', '.join(decision.candidates)}", reflex])


@click.group()
def budget() -> None:
    """Token and cost budgets."""


@budget.command()
@click.argument("stage")
@click.argument("tokens", type=int)
@decision_options
@click.pass_context
def tokens(
    ctx: click.Context,
    stage: str,
    tokens: int,
    policy: str | None,
    run_id: str | None,
    as_json: bool,
) -> None:
    """Allow or deny TOKENS for STAGE (at or below the budget is allowed)."""
    from speckit_git_policy.enforce.rules import budget_tokens

    decision = budget_tokens(_policy(ctx, policy), stage, tokens)
    _finish(ctx, decision, as_json, [f"{decision.decision}: {decision.reason}"])


@budget.command()
@click.argument("amount")
@decision_options
@click.pass_context
def cost(
    ctx: click.Context, amount: str, policy: str | None, run_id: str | None, as_json: bool
) -> None:
    """A run's accumulated cost: ok, warn (exit 0) or deny (exit 1)."""
    from speckit_git_policy.enforce.rules import budget_cost
    from speckit_git_policy.enforce.samples import parse_amount

    decision = budget_cost(_policy(ctx, policy), parse_amount(amount))
    _finish(ctx, decision, as_json, [f"{decision.decision}: {decision.reason}"])


@budget.command()
@click.argument("run_id", metavar="RUN")
@json_option
@click.pass_context
def status(ctx: click.Context, run_id: str, as_json: bool) -> None:
    """Tokens used per stage against the budget, and the run's cost against the thresholds,
    from the run's own UsageRecorded events."""
    from speckit_git_policy.enforce.ledger import budget_status

    repo, _stores = stores_from(ctx)
    report = budget_status(repo, run_id)
    if as_json:
        emit_json(report)
        return
    rows = [["stage", "used", "budget", "calls"]]
    for item in report["stages"]:
        budget = item["budget"]
        over = budget is not None and item["used"] > budget
        rows.append(
            [
                item["stage"],
                str(item["used"]),
                "-" if budget is None else str(budget) + (" (over)" if over else ""),
                str(item["calls"]),
            ]
        )
    click.echo(
        f"run {run_id} under policy {report['policy_id']} (hash {report['policy_hash'][:12]})"
    )
    emit_table(rows)
    unknown = report["unpriced_calls"]
    click.echo(
        f"cost {report['cost']:g} (warn at {report['warn_threshold']:g}, hard limit "
        f"{report['hard_limit']:g}): {report['cost_decision']}"
        + (f"; {unknown} call(s) with no known cost" if unknown else "")
    )


@click.command()
@click.argument("name", metavar="reflex_promotion|local_memory_sunset")
@click.option(
    "--samples",
    type=click.Path(dir_okay=False),
    default=None,
    help="Latency samples in ms: the reflex model's, or the local memory's retrieval.",
)
@click.option(
    "--success",
    metavar="LOCAL/CLOUD",
    default=None,
    help="reflex_promotion: success counts, local and cloud reference, e.g. 85/100.",
)
@click.option(
    "--reference-samples",
    type=click.Path(dir_okay=False),
    default=None,
    help="local_memory_sunset: retrieval samples (ms) of the reference memory.",
)
@click.option(
    "--retrieval-parity/--no-retrieval-parity",
    default=None,
    help="local_memory_sunset: state retrieval p95 parity instead of giving samples.",
)
@click.option(
    "--stable-days", type=int, default=None, help="local_memory_sunset: days stable so far."
)
@decision_options
@click.pass_context
def gate(
    ctx: click.Context,
    name: str,
    samples: str | None,
    success: str | None,
    reference_samples: str | None,
    retrieval_parity: bool | None,
    stable_days: int | None,
    policy: str | None,
    run_id: str | None,
    as_json: bool,
) -> None:
    """Evaluate a promotion gate against measured samples."""
    from speckit_git_policy.enforce.rules import (
        check_gate_name,
        gate_local_memory_sunset,
        gate_reflex_promotion,
    )
    from speckit_git_policy.enforce.samples import load_samples, parse_success

    check_gate_name(name)
    governing = _policy(ctx, policy)
    if name == "reflex_promotion":
        if samples is None or success is None:
            raise click.UsageError(
                "reflex_promotion needs --samples FILE and --success LOCAL/CLOUD"
            )
        decision = gate_reflex_promotion(governing, load_samples(samples), *parse_success(success))
    else:
        if stable_days is None:
            raise click.UsageError("local_memory_sunset needs --stable-days N")
        decision = gate_local_memory_sunset(
            governing,
            stable_days,
            retrieval_parity=retrieval_parity,
            local_samples=load_samples(samples) if samples else None,
            reference_samples=load_samples(reference_samples) if reference_samples else None,
        )
    _finish(ctx, decision, as_json, [f"{name}: {decision.decision}", *_criteria_lines(decision)])


COMMANDS = [route, budget, gate]
