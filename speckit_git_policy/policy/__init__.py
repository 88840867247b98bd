"""The policy sources and their rules: reading ``model_policy.toml`` and its rationale from
the work tree, the index or a commit; the pydantic model (the source of truth); the
schema generated from it; the hook-path checker; the doc and policy lints."""
