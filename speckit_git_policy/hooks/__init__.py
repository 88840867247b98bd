"""The git hooks: ``install``/``uninstall``/``init``, ``doctor``, and the ``runner`` the
installed sh hooks start (``framework`` is the entry for the pre-commit framework).

Kept empty: the hook's hot path imports ``hooks.runner`` and must not pay for more."""
