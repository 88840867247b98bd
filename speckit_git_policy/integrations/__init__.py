"""Where agents run: integrations that bind their runs to the policy (``speckit``: GitHub
Spec Kit). They sit above enforcement and below the queries: ``verify`` asks them."""
