"""Evidence for auditors (docs/DESIGN.md §8): report, attest."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from speckit_git_policy.cli.common import emit_json, json_option, repo_from
from speckit_git_policy.errors import BadInput


def _path(ctx: click.Context, name: str) -> Path:
    """A file named on the command line; relative to ``-C``'s directory, as git takes it."""
    directory = ctx.find_root().obj.get("directory")
    path = Path(name).expanduser()
    return path if path.is_absolute() or not directory else Path(directory) / path


def _write(text: str, output: Path | None) -> None:
    """To FILE (atomically: a reader never sees half a report), or to stdout."""
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    from speckit_git_policy.fileio import atomic_write

    try:
        atomic_write(output, text.encode("utf-8"))
    except OSError as e:
        raise BadInput(f"cannot write {output}: {e.strerror or e}") from e


@click.command()
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["md", "html", "json"]),
    default=None,
    help="Markdown (GitHub), one self-contained HTML page, or JSON "
    "(default: from --output's extension, else md).",
)
@click.option("--output", "-o", metavar="FILE", help="Write the report to FILE instead of stdout.")
@click.option(
    "--since",
    metavar="DATE",
    help="Only policy commits and runs from DATE (YYYY-MM-DD or ISO 8601).",
)
@click.pass_context
def report(
    ctx: click.Context, output_format: str | None, output: str | None, since: str | None
) -> None:
    """The audit report: policy timeline, runs, decisions, usage and verify's state."""
    from speckit_git_policy.evidence.render import render
    from speckit_git_policy.evidence.report import build_report

    if output_format is None:
        suffix = Path(output).suffix.lower() if output else ""
        output_format = {".html": "html", ".htm": "html", ".json": "json"}.get(suffix, "md")
    target = _path(ctx, output) if output not in (None, "-") else None
    _write(render(build_report(repo_from(ctx), since=since), output_format), target)


@click.command()
@click.argument("run_id", metavar="RUN", required=False)
@click.option("--output", "-o", metavar="FILE", help="Write the signed envelope to FILE.")
@click.option(
    "--verify",
    "verify_file",
    metavar="FILE",
    help="Check a signed envelope: its signature, then every subject against the capsule.",
)
@click.option(
    "--allowed-signers",
    metavar="FILE",
    help="ssh-keygen allowed signers file for --verify (default: gpg.ssh.allowedSignersFile).",
)
@json_option
@click.pass_context
def attest(
    ctx: click.Context,
    run_id: str | None,
    output: str | None,
    verify_file: str | None,
    allowed_signers: str | None,
    as_json: bool,
) -> None:
    """Sign an in-toto statement of RUN (its log and snapshots), or check one with --verify."""
    import json

    from speckit_git_policy.evidence import attest as attestation

    repo = repo_from(ctx)
    if verify_file is not None:
        if run_id is not None:
            raise BadInput("attest --verify FILE takes no RUN: the statement names its run")
        from speckit_git_policy.evidence.sshsig import allowed_signers_file

        try:
            data = _path(ctx, verify_file).read_bytes()
        except OSError as e:
            raise BadInput(f"cannot read {verify_file}: {e.strerror or e}") from e
        check = attestation.verify_envelope(
            repo,
            data,
            allowed_signers_file(
                repo, str(_path(ctx, allowed_signers)) if allowed_signers else None
            ),
            where=verify_file,
        )
        if as_json:
            emit_json(check.as_json())
        else:
            for problem in check.problems:
                click.echo(f"error: {problem}", err=True)
            for note in check.notes:
                click.echo(f"note: {note}", err=True)
            if check.ok:
                click.echo(
                    f"ok: signed by {check.signer} ({check.key}); "
                    f"{len(check.subjects)} subject(s) match the capsule"
                )
        if not check.ok:
            ctx.exit(1)
        return
    if run_id is None:
        raise BadInput("attest needs a RUN to sign (or --verify FILE)")
    envelope = attestation.attest(repo, run_id)
    text = json.dumps(envelope, separators=(",", ":")) + "\n"  # one line: an .intoto.jsonl entry
    if output is None or output == "-":
        _write(text, None)
        return
    _write(text, _path(ctx, output))
    if as_json:
        emit_json(envelope)
    else:
        click.echo(f"signed run {run_id} ({envelope['signatures'][0]['keyid']}): {output}")


COMMANDS = [report, attest]
