#!/bin/sh
# speckit-git-policy: record a Spec Kit stage in the policy run of the current feature.
# Installed by `git speckit-policy speckit install`. With no argument it is the
# session_start event (the agent's payload on stdin); else: specify|plan|tasks|implement|done.
# A missing tool is an error, never a silent pass: the run would go unrecorded.
tool="${SPECKIT_POLICY_TOOL:-git-speckit-policy}"
if ! command -v "$tool" >/dev/null 2>&1; then
    echo "speckit-policy: '$tool' not found on PATH; install speckit-git-policy (pip install speckit-git-policy) or set SPECKIT_POLICY_TOOL" >&2
    exit 127
fi
if [ "$#" -eq 0 ]; then
    exec "$tool" speckit stage session_start --via event
fi
exec "$tool" speckit stage "$@"
