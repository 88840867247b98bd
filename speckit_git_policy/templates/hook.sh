#!/bin/sh
# speckit-git-policy:managed-hook -- written by `git speckit-policy install`; `git speckit-policy uninstall` removes it and restores the hook it replaced
# @HOOK@ hook of speckit-git-policy @VERSION@ (template: hooks/hook.sh)
#
# The hot path is plain sh: git itself tells whether the commit touches a policy
# source, and Python starts only when it does. A hook that was here before
# install was moved to @HOOK@.speckit-legacy and runs first (chained).
SPECKIT_HOOK='@HOOK@'
SPECKIT_PYTHON='@PYTHON@'
# Where the hook's modules live, recorded at install so Python can start with -S
# (no site, no .pth files: about half of its start-up); empty: a normal start.
SPECKIT_PYTHONPATH='@PYTHONPATH@'
speckit_args=$*

speckit_warn() {
    printf 'speckit-git-policy %s: %s\n' "$SPECKIT_HOOK" "$*" >&2
}

# post-rewrite lists the rewritten commits on stdin, pre-push the refs it pushes: both
# the chained hook and we read it.
speckit_input=
if [ "$SPECKIT_HOOK" = post-rewrite ] || [ "$SPECKIT_HOOK" = pre-push ]; then
    speckit_input=$(cat)
fi

# HEAD's SHA in $speckit_head, read from the files git keeps it in (no process); fails
# where that takes git (a packed or symbolic ref, a linked worktree, an odd value).
speckit_read_head() {
    speckit_head=
    IFS= read -r speckit_ref 2>/dev/null <.git/HEAD || return 1
    case $speckit_ref in
        'ref: refs/'*)
            speckit_ref=${speckit_ref#ref: }
            case $speckit_ref in
                *..* | *[!A-Za-z0-9/._-]*) return 1 ;;
            esac
            IFS= read -r speckit_head 2>/dev/null <".git/$speckit_ref" || return 1
            ;;
        *) speckit_head=$speckit_ref ;;
    esac
    case $speckit_head in
        '' | *[!0-9a-f]*) return 1 ;;
    esac
    [ ${#speckit_head} -eq 40 ] || [ ${#speckit_head} -eq 64 ]
}

# The commit git just made, read before anything else runs (a chained hook may commit
# again): see speckit_neutral below.
speckit_made=
if [ "$SPECKIT_HOOK" = post-commit ] && [ -d .git ] && [ ! -L .git ]; then
    speckit_read_head && speckit_made=$speckit_head
fi

legacy_status=0
legacy_ran=no
# The hook's own directory by parameter expansion, as dirname(1) gives it, without
# starting a process (git runs hooks by a path with a slash in it).
case $0 in
    */*) speckit_hook_dir=${0%/*}; speckit_hook_dir=${speckit_hook_dir:-/} ;;
    *) speckit_hook_dir=. ;;
esac
speckit_legacy="$speckit_hook_dir/$SPECKIT_HOOK.speckit-legacy"
if [ -x "$speckit_legacy" ]; then
    if [ "$SPECKIT_HOOK" = post-rewrite ] || [ "$SPECKIT_HOOK" = pre-push ]; then
        printf '%s\n' "$speckit_input" | "$speckit_legacy" "$@"
    else
        "$speckit_legacy" "$@"
    fi
    legacy_status=$?
    legacy_ran=yes
    # A chained pre-commit hook that refuses the commit has the last word.
    if [ "$SPECKIT_HOOK" = pre-commit ] && [ "$legacy_status" -ne 0 ]; then
        exit "$legacy_status"
    fi
    if [ "$SPECKIT_HOOK" = pre-push ] && [ "$legacy_status" -ne 0 ]; then
        exit "$legacy_status"
    fi
fi

# pre-push: the capsule goes along with a branch (speckit.autoPush, default true). Python
# decides (hooks/pre_push.py); its failure warns and never blocks the branch push.
if [ "$SPECKIT_HOOK" = pre-push ]; then
    if [ -x "$SPECKIT_PYTHON" ]; then
        printf '%s\n' "$speckit_input" | "$SPECKIT_PYTHON" -m speckit_git_policy.hooks.pre_push "$@"
        speckit_status=$?
        [ "$speckit_status" -eq 0 ] || speckit_warn "the capsule was not pushed (exit $speckit_status); the branch push goes on. Run: git speckit-policy push"
    else
        speckit_warn "the Python interpreter recorded at install time is gone: $SPECKIT_PYTHON; the capsule was not pushed"
    fi
    exit 0
fi

# Source paths: git config speckit.policyFile / speckit.docFile, else the defaults.
speckit_policy=model_policy.toml
speckit_workspace=default
speckit_doc=docs/MODEL-POLICY.md
# Settings are the team's committed .speckitconfig overridden by git config at any level,
# as in Python (git/repo.py speckit_config): the file's lines go first, so the clone's own
# come last and win. A sparse checkout may leave the file out of the work tree: then
# HEAD's copy is read.
# user.name and user.email come along for Python (the capsule's commits), one git call.
#
# That call is a third of what a commit that touches no source costs us, so its answer is
# kept in .git/speckit/hook-settings with the environment that picks git's config files
# and the lines of each of them, and used while those are the same: read here without a
# process and compared, so no timestamp can make it stale (docs/DESIGN.md §10). git is
# asked every time when a file (or `git -c`) includes another, a file is not a plain
# readable file or is long, the system file is a link, HOME is unset or empty, GIT_DIR,
# GIT_COMMON_DIR, GIT_CONFIG or GIT_CONFIG_COUNT is set, and in a linked worktree or
# submodule (.git is a file).
speckit_settings_query='^speckit\.|^core\.sparsecheckout$|^user\.(name|email)$'
speckit_cache=
if [ -d .git ] && [ ! -L .git ] && [ -z "${GIT_DIR+x}${GIT_COMMON_DIR+x}${GIT_CONFIG+x}${GIT_CONFIG_COUNT+x}" ]; then
    speckit_cache=.git/speckit/hook-settings
fi
speckit_key_file() {  # $1: a file git may read; its lines go into $speckit_key
    if [ ! -e "$1" ] && [ ! -L "$1" ]; then
        speckit_key="$speckit_key
- $1"
        return 0
    fi
    [ -f "$1" ] && [ -r "$1" ] || return 1
    speckit_key="$speckit_key
= $1"
    while IFS= read -r speckit_line || [ -n "$speckit_line" ]; do
        speckit_key_lines=$((speckit_key_lines + 1))
        case $speckit_line in
            *[Ii][Nn][Cc][Ll][Uu][Dd][Ee]*) return 1 ;;  # include.path, includeIf: other files
        esac
        [ "$speckit_key_lines" -le 300 ] || return 1
        speckit_key="$speckit_key
|$speckit_line"
    done <"$1"
}
speckit_key_build() {  # $1: the system file, as git names it; fails when git must be asked
    case "${HOME-}${XDG_CONFIG_HOME-}${GIT_CONFIG_GLOBAL-}${GIT_CONFIG_SYSTEM-}${GIT_CONFIG_NOSYSTEM-}${GIT_CONFIG_PARAMETERS-}${GIT_EXEC_PATH-}" in
        *"
"*) return 1 ;;  # below, a line each
    esac
    speckit_key="${HOME+=}${HOME-}
${XDG_CONFIG_HOME+=}${XDG_CONFIG_HOME-}
${GIT_CONFIG_GLOBAL+=}${GIT_CONFIG_GLOBAL-}
${GIT_CONFIG_SYSTEM+=}${GIT_CONFIG_SYSTEM-}
${GIT_CONFIG_NOSYSTEM+=}${GIT_CONFIG_NOSYSTEM-}
${GIT_CONFIG_PARAMETERS+=}${GIT_CONFIG_PARAMETERS-}
${GIT_EXEC_PATH+=}${GIT_EXEC_PATH-}"
    case ${GIT_CONFIG_PARAMETERS-} in
        *[Ii][Nn][Cc][Ll][Uu][Dd][Ee]*) return 1 ;;  # `git -c include.path=...`
    esac
    # Without HOME git still reads files this key would not name ($XDG_CONFIG_HOME's,
    # /.gitconfig). git names the system file resolved: behind a link that can be
    # pointed elsewhere, the name would not follow it.
    [ -n "${HOME-}" ] && [ -n "$1" ] && [ ! -L "${GIT_CONFIG_SYSTEM:-/etc/gitconfig}" ] || return 1
    [ -z "${GIT_CONFIG_SYSTEM-}" ] || [ "$1" = "$GIT_CONFIG_SYSTEM" ] || return 1
    speckit_key_lines=0
    speckit_key_file "$1" || return 1
    if [ -n "${GIT_CONFIG_GLOBAL-}" ]; then
        speckit_key_file "$GIT_CONFIG_GLOBAL" || return 1
    fi
    speckit_key_file "${XDG_CONFIG_HOME:-$HOME/.config}/git/config" && speckit_key_file "$HOME/.gitconfig" \
        && speckit_key_file .git/config && speckit_key_file .git/config.worktree
}
speckit_quote() {  # $1 as one single-quoted sh word, on stdout
    speckit_rest=$1
    speckit_quoted=
    while :; do
        case $speckit_rest in
            *\'*)
                speckit_quoted="$speckit_quoted${speckit_rest%%\'*}'\\''"
                speckit_rest=${speckit_rest#*\'}
                ;;
            *)
                printf "'%s'" "$speckit_quoted$speckit_rest"
                return 0
                ;;
        esac
    done
}
speckit_config=
speckit_known=no
if [ -n "$speckit_cache" ] && [ -f "$speckit_cache" ]; then
    # Written by this script (below) as sh assignments: the shell reads it in blocks,
    # not a byte at a time as `read` does. `command .`: an unreadable or broken file is
    # an error here, not the end of the hook.
    speckit_cached_format=
    command . "./$speckit_cache" 2>/dev/null
    if [ "$speckit_cached_format" = 1 ] && speckit_key_build "$speckit_cached_system" && [ "$speckit_key" = "$speckit_cached_key" ]; then
        speckit_config=$speckit_cached_config
        speckit_known=yes
    fi
fi
if [ "$speckit_known" = no ]; then
    if [ -n "$speckit_cache" ]; then
        # Where this git's system file is: git names it to an editor (and creates nothing).
        speckit_system=$(GIT_EDITOR=echo git config --system --edit 2>/dev/null) \
            && speckit_key_build "$speckit_system" || speckit_cache=
    fi
    speckit_config=$(git config --get-regexp "$speckit_settings_query" 2>/dev/null)
    speckit_config_status=$?  # 1: no such setting
    # Kept only if the files read the same after git's answer as before it: a write in
    # between (another git config) must not pair the old lines with the new answer.
    speckit_key_before=$speckit_key
    if [ -n "$speckit_cache" ] && [ "$speckit_config_status" -le 1 ] \
        && speckit_key_build "$speckit_system" && [ "$speckit_key" = "$speckit_key_before" ]; then
        # Written whole under another name, then renamed: a kill leaves at most a
        # stray .<pid> file, never a torn cache; the next write clears strays.
        for speckit_stray in "$speckit_cache".[0-9]*; do
            [ -e "$speckit_stray" ] && rm -f -- "$speckit_stray"
        done
        [ -d .git/speckit ] || mkdir .git/speckit 2>/dev/null
        if {
            printf 'speckit_cached_format=1\nspeckit_cached_system='
            speckit_quote "$speckit_system"
            printf '\nspeckit_cached_key='
            speckit_quote "$speckit_key"
            printf '\nspeckit_cached_config='
            speckit_quote "$speckit_config"
            printf '\n'
        } >"$speckit_cache.$$" 2>/dev/null; then
            mv -f -- "$speckit_cache.$$" "$speckit_cache" 2>/dev/null || rm -f -- "$speckit_cache.$$"
        else
            rm -f -- "$speckit_cache.$$" 2>/dev/null
        fi
    fi
fi
speckit_team_keys='^speckit\.(workspace|policyfile|docfile|capsule|autopush|sign|requiresigned)$'
speckit_team_from=
if [ -f .speckitconfig ] && [ ! -L .speckitconfig ]; then
    speckit_team_from=file
else
    case $speckit_config in
        *core.sparsecheckout\ [Tt][Rr][Uu][Ee]* | *core.sparsecheckout\ [Yy][Ee][Ss]* | *core.sparsecheckout\ [Oo][Nn]* | *core.sparsecheckout\ 1*)
            speckit_team_from=HEAD
            ;;
    esac
fi
speckit_read_team() {
    case $speckit_team_from in
        file) speckit_team=$(git config -f .speckitconfig --get-regexp "$speckit_team_keys" 2>/dev/null) ;;
        HEAD) speckit_team=$(git config --blob HEAD:.speckitconfig --get-regexp "$speckit_team_keys" 2>/dev/null) ;;
        *) return 0 ;;
    esac
    speckit_team_from=
    if [ -n "$speckit_team" ]; then
        speckit_config="$speckit_team
$speckit_config"
    fi
}
# Reading the file costs a git call. Before this script decides whether Python is needed,
# the file matters only if it names a source path (or, for post-rewrite, the workspace):
# a scan in sh (no process; bounded) tells, and otherwise the file is read only when
# Python starts, which costs far more anyway.
speckit_team_now=no
if [ "$speckit_team_from" = HEAD ] || [ "$SPECKIT_HOOK" = post-rewrite ]; then
    speckit_team_now=yes
elif [ "$speckit_team_from" = file ]; then
    speckit_lines=0
    while IFS= read -r speckit_line || [ -n "$speckit_line" ]; do
        speckit_lines=$((speckit_lines + 1))
        case $speckit_line in
            *[Pp][Oo][Ll][Ii][Cc][Yy][Ff][Ii][Ll][Ee]* | *[Dd][Oo][Cc][Ff][Ii][Ll][Ee]*) speckit_team_now=yes ;;
        esac
        if [ "$speckit_team_now" = yes ] || [ "$speckit_lines" -ge 200 ]; then
            speckit_team_now=yes
            break
        fi
    done < .speckitconfig
fi
[ "$speckit_team_now" = yes ] && speckit_read_team
speckit_odd=no
if [ -n "$speckit_config" ]; then
    while read -r speckit_key speckit_value; do
        case $speckit_key in
            speckit.policyfile) speckit_policy=$speckit_value ;;
            speckit.workspace) speckit_workspace=$speckit_value ;;
            speckit.docfile) speckit_doc=$speckit_value ;;
            speckit.* | core.sparsecheckout | user.name | user.email) ;;
            *) speckit_odd=yes ;;  # a value with a newline: these lines cannot be told apart
        esac
    done <<SPECKIT_EOF
$speckit_config
SPECKIT_EOF
fi

[ -n "$speckit_workspace" ] || speckit_workspace=default

# A commit that touches no source costs us a git call in each of pre-commit and
# post-commit; the second is spared when the first one's answer covers it. pre-commit
# sees the staged sources equal HEAD's (H0); the commit git makes of that index then
# holds H0's sources, and its first parent is H0, or H0's first parent for an amend. So
# when H0 itself is known to hold its first parent's sources (recorded below, by a
# post-commit that knew it), the new commit changes no source either way. pre-commit
# writes that down as a marker naming the `git commit` process (its PID and start time:
# a PID reused later has another start time), and post-commit trusts the marker only
# when its own parent process is that one. Everything else (cherry-pick, rebase,
# --no-verify, a chained hook, a linked worktree, no /proc) asks git as before
# (docs/DESIGN.md §10). Written by shell redirection: a torn file lacks its last line
# and is ignored.
speckit_state=.git/speckit
speckit_fast=no
if [ -n "$speckit_cache" ] && [ "$speckit_odd" = no ] && [ -d "$speckit_state" ]; then
    speckit_fast=yes
fi
# The record speaks of a commit's first parent as git read it then. A shallow boundary,
# a graft or a replace ref changes what git reads as a commit's parents (an amend's
# among them), so with any of them in place nothing is recorded or trusted: git is asked.
# Replace refs are loose until packed; packed-refs is searched only when it is newer
# than the last search that found none (rewritten whole by git, it gets a new mtime).
if [ "$speckit_fast" = yes ]; then
    if [ -e .git/shallow ] || [ -e .git/info/grafts ] \
        || [ -n "${GIT_NO_REPLACE_OBJECTS+x}${GIT_REPLACE_REF_BASE+x}${GIT_GRAFT_FILE+x}${GIT_SHALLOW_FILE+x}" ]; then
        speckit_fast=no
    else
        for speckit_stray in .git/refs/replace/*; do
            [ -e "$speckit_stray" ] && speckit_fast=no
            break
        done
        if [ "$speckit_fast" = yes ] && [ -e .git/packed-refs ] \
            && ! [ "$speckit_state/hook-packed-clean" -nt .git/packed-refs ]; then
            # The mark first: a packed-refs written during the search is newer or as new.
            # grep: 0 found, 1 none, anything else unread (the fast path off either way).
            : 2>/dev/null >"$speckit_state/hook-packed-clean"
            if grep -q ' refs/replace/' .git/packed-refs 2>/dev/null \
                || [ $? -ne 1 ]; then
                rm -f "$speckit_state/hook-packed-clean" 2>/dev/null
                speckit_fast=no
            fi
        fi
    fi
fi
speckit_git_start() {  # the start time of the git process that runs this hook
    speckit_start=
    IFS= read -r speckit_stat 2>/dev/null <"/proc/$PPID/stat" || return 1
    speckit_stat=${speckit_stat##*) }  # after the command name, which may hold anything
    set -f
    set -- $speckit_stat
    set +f
    [ $# -ge 20 ] || return 1
    shift 19
    speckit_start=$1
    case $speckit_start in
        '' | *[!0-9]*) return 1 ;;
    esac
}
speckit_neutral_is() {  # $1: a SHA recorded as holding its first parent's sources
    speckit_r1= speckit_r2= speckit_r3= speckit_r4=
    { IFS= read -r speckit_r1 && IFS= read -r speckit_r2 && IFS= read -r speckit_r3 && IFS= read -r speckit_r4; } \
        2>/dev/null <"$speckit_state/hook-neutral" || return 1
    [ "$speckit_r4" = end ] && [ "$speckit_r1" = "$1" ] && [ "$speckit_r2" = "$speckit_policy" ] \
        && [ "$speckit_r3" = "$speckit_doc" ]
}
speckit_neutral_record() {  # $1: a commit that holds its first parent's sources
    { printf '%s\n' "$1" "$speckit_policy" "$speckit_doc" end; } 2>/dev/null >"$speckit_state/hook-neutral"
}
speckit_marker_matches() {
    speckit_r1= speckit_r2= speckit_r3= speckit_r4= speckit_r5=
    { IFS= read -r speckit_r1 && IFS= read -r speckit_r2 && IFS= read -r speckit_r3 && IFS= read -r speckit_r4 \
        && IFS= read -r speckit_r5; } 2>/dev/null <"$speckit_state/hook-commit" || return 1
    [ "$speckit_r5" = end ] && [ "$speckit_r1" = "$PPID" ] && [ "$speckit_r3" = "$speckit_policy" ] \
        && [ "$speckit_r4" = "$speckit_doc" ] && speckit_git_start && [ "$speckit_r2" = "$speckit_start" ] \
        && [ "$speckit_state/hook-index-mark" -nt "${GIT_INDEX_FILE:-.git/index}" ]
}

# Exit status 1 from `--quiet` means "differs"; anything else than 0 lets Python decide.
speckit_needed=yes
case $SPECKIT_HOOK in
    pre-commit)
        # The staged content (git sets GIT_INDEX_FILE for `commit -a` and `commit <paths>`);
        # on an unborn branch `diff --cached` compares against the empty tree by itself.
        # A plain commit's index is not locked while hooks run: another process may stage a
        # source after this diff and before git reads the index for the tree. The mark is
        # written (with content: a write always sets its mtime) before the diff; post-commit
        # trusts the marker only while the index is strictly older than the mark, so an index
        # written in the same timestamp tick falls back to asking git.
        speckit_vouched=no
        if [ "$speckit_fast" = yes ] && speckit_read_head && speckit_neutral_is "$speckit_head"; then
            printf '%s\n' "$PPID" 2>/dev/null >"$speckit_state/hook-index-mark" && speckit_vouched=yes
        fi
        GIT_LITERAL_PATHSPECS=1 git diff --cached --quiet --no-ext-diff -- "$speckit_policy" "$speckit_doc" >/dev/null 2>&1
        [ $? -eq 0 ] && speckit_needed=no
        if [ "$speckit_vouched" = yes ] && [ "$speckit_needed" = no ] && speckit_git_start; then
            { printf '%s\n' "$PPID" "$speckit_start" "$speckit_policy" "$speckit_doc" end; } \
                2>/dev/null >"$speckit_state/hook-commit"
        fi
        ;;
    post-commit | post-applypatch)
        # A chained hook that commits again (an amend) runs its own hooks for what it makes.
        if [ "$SPECKIT_HOOK" = post-commit ] && [ "$speckit_fast" = yes ] && [ -n "$speckit_made" ] \
            && speckit_marker_matches; then
            speckit_needed=no
            : 2>/dev/null >"$speckit_state/hook-commit"  # used: no second commit of this process rides on it
            speckit_neutral_record "$speckit_made"
        else
            # Against the first parent, named explicitly: `diff-tree --quiet -m --first-parent`
            # exits 0 for a merge commit (git 2.39), and a merge concluded after a conflict
            # (`git commit`, `git merge --continue`) fires post-commit. 128: a root commit.
            # The commit is named by its SHA where the files told it, so that what is
            # recorded is what git compared.
            speckit_commit=HEAD
            [ "$SPECKIT_HOOK" = post-commit ] && [ "$legacy_ran" = no ] && [ -n "$speckit_made" ] \
                && speckit_commit=$speckit_made
            GIT_LITERAL_PATHSPECS=1 git diff-tree --quiet -r "$speckit_commit^1" "$speckit_commit" -- "$speckit_policy" "$speckit_doc" >/dev/null 2>&1
            case $? in
                0) speckit_needed=no ;;
                128)
                    GIT_LITERAL_PATHSPECS=1 git diff-tree --quiet -r --root "$speckit_commit" -- "$speckit_policy" "$speckit_doc" >/dev/null 2>&1
                    [ $? -eq 0 ] && speckit_needed=no
                    ;;
            esac
            if [ "$speckit_needed" = no ] && [ "$speckit_fast" = yes ] && [ "$speckit_commit" != HEAD ]; then
                speckit_neutral_record "$speckit_commit"
            fi
        fi
        ;;
esac
# A setting with a newline in it: Python reads them unambiguously and refuses what
# the command line refuses (ids.check_workspace), never a misread name. The shell reads
# a script one command at a time: a commit that needs no Python ends here, before the
# rest is parsed.
[ "$speckit_odd" = no ] && [ "$speckit_needed" = no ] && exit "$legacy_status"
case $SPECKIT_HOOK in
    post-merge)
        if [ "$1" = 1 ]; then
            speckit_needed=no  # squash merge: nothing is committed yet; post-commit will see it
        elif speckit_touched=$(GIT_LITERAL_PATHSPECS=1 git rev-list -n 1 --first-parent ORIG_HEAD..HEAD -- "$speckit_policy" "$speckit_doc" 2>/dev/null); then
            [ -z "$speckit_touched" ] && speckit_needed=no
        fi
        ;;
    post-rewrite)
        # Python is needed when an old or new commit touches a source, or an old
        # commit carries a binding (a run or a manual capture may bind any commit).
        speckit_shas=$(printf '%s\n' "$speckit_input" | cut -d' ' -f1,2 | tr ' ' '\n')
        speckit_olds=$(printf '%s\n' "$speckit_input" | cut -d' ' -f1)
        speckit_touched=$(printf '%s\n' "$speckit_shas" | GIT_LITERAL_PATHSPECS=1 git diff-tree --stdin -r --root -m --first-parent --name-only -- "$speckit_policy" "$speckit_doc" 2>/dev/null)
        if [ $? -eq 0 ] && [ -z "$speckit_touched" ]; then
            speckit_needed=no
            if [ -d .speckit/bindings ] && grep -rqsF -- "$speckit_olds" .speckit/bindings; then
                speckit_needed=yes
            else
                # Bindings only the capsule holds (another clone's, a fresh clone): one
                # lookup of every old SHA in its by-commit index (capsule_layout.py).
                case $speckit_workspace in
                    *[!A-Za-z0-9._-]*) speckit_needed=yes ;;  # Python will say what is wrong
                    *)
                        speckit_found=$(printf '%s\n' "$speckit_olds" \
                            | sed -n "s|^\(.\)\(.\)\(.\)\(.*\)$|refs/speckit/$speckit_workspace/policy:by-commit/\1/\2/\3/\1\2\3\4|p" \
                            | git cat-file --batch-check 2>/dev/null | grep -v ' missing$')
                        [ -n "$speckit_found" ] && speckit_needed=yes
                        ;;
                esac
            fi
            # While a rebase runs, Python keeps what its end needs (an amend made by
            # `rebase -x`, the commits it made): docs/DESIGN.md §5.
            if [ "$speckit_needed" = no ]; then
                speckit_git_dir=${GIT_DIR:-.git}
                [ -d "$speckit_git_dir" ] || speckit_git_dir=$(git rev-parse --git-dir 2>/dev/null)
                if [ -d "$speckit_git_dir/rebase-merge" ] || [ -d "$speckit_git_dir/rebase-apply" ]; then
                    speckit_needed=yes
                fi
            fi
        fi
        ;;
esac
[ "$speckit_odd" = no ] && [ "$speckit_needed" = no ] && exit "$legacy_status"

if [ ! -x "$SPECKIT_PYTHON" ]; then
    speckit_warn "*** the Python interpreter recorded at install time is gone: $SPECKIT_PYTHON"
    speckit_warn "*** the model policy was NOT checked or captured for this commit."
    speckit_warn "*** fix: reinstall speckit-git-policy, run \`git speckit-policy install\` again,"
    speckit_warn "***      then \`git speckit-policy doctor\` (it lists commits to capture with \`git speckit-policy capture --commit <sha>\`)."
    exit "$legacy_status"
fi

# `-c` rather than `-m speckit_git_policy.hooks.runner`: runpy (and importlib.util,
# contextlib...) is a fifth of the hook's imports. A module missing under -S still
# fails with exit status 1 (ModuleNotFoundError), which starts Python the normal way.
speckit_runner='import sys; from speckit_git_policy.hooks.runner import main; sys.exit(main())'
speckit_python() {  # the interpreter and its flags
    if [ "$SPECKIT_HOOK" = post-rewrite ]; then
        printf '%s\n' "$speckit_input" | "$@" -c "$speckit_runner" "$SPECKIT_HOOK" $speckit_args
    else
        "$@" -c "$speckit_runner" "$SPECKIT_HOOK" $speckit_args
    fi
}
# What this script already asked git, so that Python need not ask again: every
# speckit.* setting (the team's file read now if it was not yet), and that a source
# changed (all git calls cost start-up time).
speckit_read_team
SPECKIT_HOOK_CONFIG=$speckit_config
SPECKIT_HOOK_CHANGED=1
SPECKIT_HOOK_CONFIG_USER=1
export SPECKIT_HOOK_CONFIG SPECKIT_HOOK_CHANGED SPECKIT_HOOK_CONFIG_USER
if [ "$speckit_odd" = yes ]; then
    unset SPECKIT_HOOK_CONFIG SPECKIT_HOOK_CHANGED SPECKIT_HOOK_CONFIG_USER
fi
speckit_status=1
if [ -n "$SPECKIT_PYTHONPATH" ]; then
    (PYTHONPATH="$SPECKIT_PYTHONPATH${PYTHONPATH:+:$PYTHONPATH}"; export PYTHONPATH; speckit_python "$SPECKIT_PYTHON" -S)
    speckit_status=$?
fi
# 1 is Python's own failure (a module moved since install?): start it the normal way.
if [ "$speckit_status" -eq 1 ]; then
    speckit_python "$SPECKIT_PYTHON"
    speckit_status=$?
fi
case $speckit_status in
    0) ;;
    3)
        # The runner refused an invalid staged policy and said why.
        [ "$SPECKIT_HOOK" = pre-commit ] && exit 1
        ;;
    *)
        speckit_warn "*** the hook failed (exit $speckit_status) with $SPECKIT_PYTHON; the commit was not blocked,"
        speckit_warn "*** but the policy may not be checked or captured. Run \`git speckit-policy doctor\` for the fix."
        ;;
esac
exit "$legacy_status"
