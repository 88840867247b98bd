"""GitHub Spec Kit (``specify-cli``): an extension, a preset and a workflow shipped as package
data (``bundle/``), installed through Spec Kit's own commands (``installer``); the stage
recorder its hooks, runtime event and workflow call (``recorder``); and the ``verify``
check that finds features whose run lacks a stage (``verify_check``)."""
