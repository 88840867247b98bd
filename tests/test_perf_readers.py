"""The bulk readers (git/batch.py, store/capsule/bulk.py), the lazy CLI, and the
scale fixture of bench/: same answers as the object-at-a-time code, fewer imports."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from conftest import REPO_ROOT, git

from speckit_git_policy.cli import COMMAND_TABLE, LazyCommands, cli
from speckit_git_policy.git.batch import ObjectReader, parse_tree
from speckit_git_policy.git.repo import GitRepo
from speckit_git_policy.queries.snapshots import list_snapshots
from speckit_git_policy.store import Stores
from speckit_git_policy.store.capsule.bulk import PolicyTree

sys.path.insert(0, str(REPO_ROOT / "bench"))


# ---- git/batch.py ----------------------------------------------------------------------
def test_object_reader_streams_many_objects_in_order(policy_repo: Path) -> None:
    blobs = [git(policy_repo, "hash-object", "-w", "--stdin").strip() for _ in range(1)]
    many = []
    for n in range(1200):  # more than one chunk of requests
        result = subprocess.run(
            ["git", "hash-object", "-w", "--stdin"],
            cwd=policy_repo,
            input=f"blob {n}\n".encode(),
            capture_output=True,
            check=True,
        )
        many.append(result.stdout.decode().strip())
    tree = git(policy_repo, "rev-parse", "HEAD^{tree}").strip()
    with ObjectReader(GitRepo.discover(policy_repo).common_dir) as reader:
        found = reader.read([*many, "0" * 40, tree, "HEAD:model_policy.toml"])
        assert [info.data for info in found[:1200] if info] == [
            f"blob {n}\n".encode() for n in range(1200)
        ]
        assert found[1200] is None
        assert found[1201] is not None and found[1201].kind == "tree"
        names = [name for _mode, name, _oid in parse_tree(found[1201].data or b"")]
        assert names == sorted(git(policy_repo, "ls-tree", "--name-only", "HEAD").split())
        assert (
            found[1202] is not None
            and found[1202].data == (policy_repo / "model_policy.toml").read_bytes()
        )
        # A blob over the limit comes back with its size, unread.
        limited = reader.read([many[0], "HEAD:model_policy.toml"], max_size=20)
        assert limited[0] is not None and limited[0].data == b"blob 0\n"
        assert limited[1] is not None and limited[1].data is None and limited[1].size > 20
        infos = reader.info([many[5], "nope"])
        assert infos[0] is not None and infos[0].size == len(b"blob 5\n") and infos[1] is None
        # In one pass of --batch: the big one read past and dropped, the answers after it right.
        bounded = reader.read_bounded(["HEAD:model_policy.toml", *many, "nope", tree], 20)
        assert bounded[0] is not None and bounded[0].data is None and bounded[0].size > 20
        assert [info.data for info in bounded[1:1201] if info] == [f"blob {n}\n".encode() for n in range(1200)]
        assert bounded[1201] is None and bounded[1202] is not None and bounded[1202].kind == "tree"
        assert reader.read_bounded([many[7]], 20)[0].data == b"blob 7\n"  # type: ignore[union-attr]
    assert blobs


# ---- list, current, all_bindings: the bulk path gives the same answers --------------------
def _capsule_answers(root: Path) -> tuple[list[str], dict[str, object]]:
    stores = Stores(GitRepo.discover(root))
    capsule = stores.capsule
    assert capsule is not None
    return capsule.snapshot_ids(), capsule.all_bindings()  # the object-at-a-time reader


def test_bulk_policy_tree_agrees_with_the_capsule(policy_repo: Path) -> None:
    from speckit_git_policy.capture import capture

    repo = GitRepo.discover(policy_repo)
    for n in range(3):
        text = (policy_repo / "model_policy.toml").read_text()
        (policy_repo / "model_policy.toml").write_text(
            text.replace("warn_threshold = ", f"warn_threshold = {n}", 1) if n else text
        )
        git(policy_repo, "commit", "-qam", f"c{n}", "--allow-empty")
        capture(repo)
    ids, bindings = _capsule_answers(policy_repo)
    with PolicyTree(repo, "default") as tree:
        assert tree.snapshot_ids() == ids
        assert tree.all_bindings() == bindings
        stores = Stores(repo)
        for policy_id in ids:
            content_hash = stores.load(policy_id)["hash"]
            assert tree.ids_for_hash(content_hash) == stores.capsule.ids_for_hash(content_hash)  # type: ignore[union-attr]


def _cli_json(root: Path, *args: str) -> object:
    result = CliRunner().invoke(cli, ["-C", str(root), *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_list_and_current_from_the_capsule_alone(policy_repo: Path, tmp_path: Path) -> None:
    """A clone that has only the capsule lists the same snapshots."""
    from speckit_git_policy.capture import capture

    capture(GitRepo.discover(policy_repo))
    listed = _cli_json(policy_repo, "list", "--json")
    current = _cli_json(policy_repo, "current", "--json")
    shutil.rmtree(policy_repo / ".speckit")
    assert _cli_json(policy_repo, "list", "--json") == listed
    assert _cli_json(policy_repo, "current", "--json") == current
    git(policy_repo, "config", "speckit.capsule", "false")
    assert _cli_json(policy_repo, "list", "--json") == []


def test_list_skips_a_snapshot_that_does_not_parse(policy_repo: Path) -> None:
    from speckit_git_policy.capture import capture

    capture(GitRepo.discover(policy_repo))
    stores = Stores(GitRepo.discover(policy_repo))
    rows = list_snapshots(stores)
    assert len(rows) == 1
    path = stores.fs.path_for(rows[0]["policy_id"])
    path.write_bytes(b'{"a": 1, "a": 2}')  # the FS copy is read first, as before
    assert list_snapshots(Stores(GitRepo.discover(policy_repo))) == []


# ---- the lazy CLI ----------------------------------------------------------------------
def _real_commands() -> dict[str, click.Command]:
    import importlib

    found = {}
    for name, (module, attribute, _summary) in COMMAND_TABLE.items():
        command = getattr(importlib.import_module(f"speckit_git_policy.cli.{module}"), attribute)
        found[name] = command
    return found


def test_command_table_matches_the_commands() -> None:
    import importlib
    import pkgutil

    import speckit_git_policy.cli as package

    # Every command a module lists in COMMANDS is in the table, under its own name ...
    listed = {}
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"speckit_git_policy.cli.{info.name}")
        for command in getattr(module, "COMMANDS", []):
            listed[command.name] = command
    real = _real_commands()
    assert set(listed) == set(COMMAND_TABLE)
    assert all(real[name] is listed[name] for name in listed)
    # ... and the table's one-line help is what click would show for it, at any width.
    for name, command in real.items():
        stand_in = click.Command(name, help=COMMAND_TABLE[name][2])
        for limit in (30, 45, 60, 80, 200):
            assert stand_in.get_short_help_str(limit) == command.get_short_help_str(limit), name


def test_lazy_commands_mapping() -> None:
    commands = LazyCommands({"list": ("policy_commands", "list_command", "x")})
    assert list(commands) == ["list"] and len(commands) == 1 and "list" in commands
    assert commands["list"].name == "list"
    with pytest.raises(KeyError):
        commands["nope"]
    commands["extra"] = click.Command("extra")
    assert list(commands) == ["extra", "list"]
    assert cli.get_command(click.Context(cli), "nope") is None


def _imported(args: list[str], cwd: Path) -> set[str]:
    code = (
        "import sys, runpy\n"
        f"sys.argv = ['git-speckit-policy', *{args!r}]\n"
        "try:\n"
        "    runpy.run_module('speckit_git_policy', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "sys.stdout.flush()\n"
        "import json\n"
        "print('\\nMODULES=' + json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, env=os.environ
    )
    line = result.stdout.rsplit("MODULES=", 1)[-1]
    return set(json.loads(line))


HEAVY = ("pydantic", "httpx", "jinja2", "dulwich")


@pytest.mark.parametrize(
    ("args", "fast"),
    [
        (["-h"], False),
        (["current"], True),
        (["current", "--json"], True),
        (["list", "--json"], True),
        (["list"], False),
        (["run", "list", "--json"], False),
    ],
)
def test_commands_import_only_what_they_need(
    policy_repo: Path, args: list[str], fast: bool
) -> None:
    from speckit_git_policy.capture import capture

    capture(GitRepo.discover(policy_repo))
    modules = _imported(args, policy_repo)
    assert "speckit_git_policy.cli" in modules
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    if args[0] == "run":
        heavy = [m for m in heavy if not m.startswith("dulwich")]  # the runs are read through it
    assert heavy == [], heavy
    # Only the module of the command that runs is imported; none (and no click) on the
    # fast path (cli/fast.py).
    mine = {COMMAND_TABLE[args[0]][0]} if args[0] in COMMAND_TABLE and not fast else set()
    loaded = {m.rsplit(".", 1)[-1] for m in modules if m.startswith("speckit_git_policy.cli.")}
    assert loaded & {module for module, _a, _s in COMMAND_TABLE.values()} == mine
    assert ("click" in modules) is not fast


def test_run_checkpoint_imports_no_pydantic(policy_repo: Path) -> None:
    from speckit_git_policy.runs.run import start_run

    start_run(GitRepo.discover(policy_repo), "run-imports-1")
    modules = _imported(["run", "checkpoint", "run-imports-1"], policy_repo)
    assert not [m for m in modules if m.split(".")[0] in ("pydantic", "httpx", "jinja2")]
    # The fast path (cli/fast.py): no click, and none of what it used to bring for free.
    assert not [
        m for m in modules if m.split(".")[0] in ("click", "dataclasses", "inspect", "uuid")
    ]


# ---- bench/scale_fixture.py ------------------------------------------------------------
def test_scale_fixture_is_what_the_real_commands_write(tmp_path: Path) -> None:
    from scale_fixture import check, fixture

    repo = fixture(tmp_path / "cache", 5, 20, log=False)
    assert check(repo) == []
    runs = _cli_json(repo, "run", "list", "--json")
    assert isinstance(runs, list) and len(runs) == 20
    assert {row["events"] for row in runs} == {3}
    assert {row["stage"] for row in runs} == {"plan"}
    # A run of the fixture reads back like the template the library wrote.
    shown = _cli_json(repo, "run", "show", runs[-1]["run_id"], "--json")
    assert shown
    assert fixture(tmp_path / "cache", 5, 20, log=False) == repo  # cached
