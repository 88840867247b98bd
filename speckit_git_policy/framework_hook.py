"""The entry point that ``.pre-commit-hooks.yaml`` of speckit-git-policy 0.1.0 names
(``python -m speckit_git_policy.framework_hook``), for configurations pinned to it."""

import sys

from speckit_git_policy.hooks.framework import main

if __name__ == "__main__":
    sys.exit(main())
