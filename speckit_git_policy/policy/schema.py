"""The JSON Schema of ``model_policy.toml``: generated from the pydantic models, committed as data.

``model_policy.schema.json`` (next to this module, shipped as package data) is
``Policy.model_json_schema()`` exactly, with no edit afterwards: every rule a
schema keyword can state is declared on the models. Editors read it
(``git speckit-policy schema``); the hook-path checker interprets it without
pydantic. ``tests/test_schema.py`` fails when the file and the models drift apart;
regenerate it with::

    python -m speckit_git_policy.policy.schema --write

The hook-path checker reads the file itself (``checker.load_schema``: one module
fewer to import on every commit); pydantic is imported only to generate it.
"""

from __future__ import annotations

from speckit_git_policy.policy.checker import SCHEMA_FILE, load_schema, schema_text

# typing is imported for type checkers only.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["SCHEMA_FILE", "generate", "load_schema", "main", "render", "schema_text"]


def generate() -> dict[str, Any]:
    """The schema the pydantic models give now (draft 2020-12)."""
    from speckit_git_policy.policy.model import json_schema

    return json_schema()


def render(schema: dict[str, Any]) -> str:
    """The file's text for ``schema``: what ``git speckit-policy schema`` prints."""
    import json

    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m speckit_git_policy.policy.schema",
        description="Generate the JSON Schema of model_policy.toml from the models.",
    )
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", action="store_true", help=f"write it to {SCHEMA_FILE}")
    action.add_argument(
        "--check", action="store_true", help="exit 1 when the committed file is stale"
    )
    options = parser.parse_args(argv)
    text = render(generate())
    if options.write:
        with open(SCHEMA_FILE, "w", encoding="utf-8", newline="\n") as file:
            file.write(text)
        return 0
    if options.check:
        with open(SCHEMA_FILE, encoding="utf-8") as file:
            stale = file.read() != text
        if stale:
            print(f"{SCHEMA_FILE} is stale: run python -m speckit_git_policy.policy.schema --write")
        return 1 if stale else 0
    print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
