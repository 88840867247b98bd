"""Read-only views over the stores and the runs: snapshots (list, show, current),
the policy's history (``log``), ``trace`` and ``blame``, ``verify`` and ``prune``."""
