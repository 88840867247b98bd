"""The entry point of hooks installed by speckit-git-policy 0.1.0 (``python -m
speckit_git_policy.hook_runner``): they keep working until ``install`` rewrites them
to call ``speckit_git_policy.hooks.runner``."""

import sys

from speckit_git_policy.hooks.runner import main

if __name__ == "__main__":
    sys.exit(main())
