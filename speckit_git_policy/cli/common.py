"""Helpers shared by the command modules: the repo from ``-C``, JSON and table output."""

from __future__ import annotations

import json
from typing import Any

import click

from ..gitio import GitRepo
from ..store import Stores

json_option = click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
format_option = click.option(
    "--format", "output_format", type=click.Choice(["auto", "plain", "github"]), default="auto",
    show_default=True, help="Problem format: plain file:line, or GitHub Actions annotations "
    "(auto: github when GITHUB_ACTIONS=true).")


def repo_from(ctx: click.Context) -> GitRepo:
    return GitRepo.discover(ctx.find_root().obj.get("directory"))


def stores_from(ctx: click.Context) -> tuple[GitRepo, Stores]:
    repo = repo_from(ctx)
    return repo, Stores(repo)


def emit_json(document: Any) -> None:
    click.echo(json.dumps(document, indent=2, ensure_ascii=False))


def short(sha: str | None) -> str:
    return sha[:12] if sha else "-"


def emit_table(rows: list[list[str]]) -> None:
    """Left-aligned columns, like git's own listings."""
    if not rows:
        return
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths)] + [row[-1]]
        click.echo("  ".join(cells).rstrip())
