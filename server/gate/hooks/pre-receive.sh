#!/bin/sh
# greengate-hook v1
#
# greengate pre-receive hook: asks the greengate server whether this push may land on its
# gated branches. Written by `greengate hook install`, which overwrites it on the next install:
# do not edit it; put your own checks in pre-receive.local.
#
# Settings, in this repository's git config:
#   greengate.server         URL of the greengate server
#   greengate.repo           the repository's name on the server
#   greengate.timeout        seconds to wait for the verdict (default 15; see the README)
#   greengate.onUnreachable  reject (default) | allow: what to do with a push to a gated branch
#                            when the server is down, slow or answers with an error
#   greengate.gated          the gated branches, space-separated ("-": none). Set at install and
#                            refreshed from every verdict (header X-Greengate-Gated). While the
#                            server is unreachable, a push that updates no gated branch is
#                            accepted; when unset, every branch counts as gated.
#
# Every request carries the repository's hook secret: the file greengate-hook-secret in the
# repository (mode 0600, written by install) is the header line, given to curl as `-H @FILE`.
# A 401 answer (secret missing or wrong) is a broken installation, never "unreachable": pushes
# to gated branches are refused even with onUnreachable allow.
#
# A pre-existing pre-receive hook that greengate did not write (no marker line above) is never
# destroyed: install moves it to pre-receive.local, and this hook runs it after its own check
# with the same stdin; the push lands only if both accept. If pre-receive.local already exists
# too, install refuses and changes nothing.
#
# The request also names git's quarantine of this push (GIT_QUARANTINE_PATH, inside the repository's
# objects/), where the server reads the pushed commits to check that a revert through a closed tree
# is exactly a revert (it compares trees, never messages).
#
# Only refs/heads/* updates are asked about (tags, refs/try/* and other refs never ask); a push
# without any exits at once, with no network call. For the others: one POST per push to
# {server}/api/gate/{repo} (protocol: server/gate/request.ts) carrying the pusher, the push options
# and, per ref, the update and its new commits as `git cat-file --batch` records (new commits
# sit in git's quarantine, which only this process can see). The answer's first line is
# accept|reject, the other lines are shown to the pusher. `git push -o greengate.bypass="<reason>"`
# also gets through while the server is unreachable (then it is not recorded).

nl='
'
case $0 in */*) hookdir=${0%/*} ;; *) hookdir=. ;; esac

input=
heads=
while IFS= read -r line || [ -n "$line" ]; do
	input=$input$line$nl
	case $line in *' '*' refs/heads/'*) heads=1 ;; esac
done

finish() {
	if [ -x "$hookdir/pre-receive.local" ]; then
		printf '%s' "$input" | "$hookdir/pre-receive.local"
		exit $?
	fi
	exit 0
}

[ -n "$heads" ] || finish

# @include settings.sh

quarantine=${GIT_QUARANTINE_PATH-}
quarantine=${quarantine%%[[:cntrl:]]*}
# git makes the quarantine private to the pusher; in a repository shared with a group the server's
# user reads the pushed commits through the group (docs/operations.md "Users, groups and modes").
case $shared in '' | false | umask | 0 | no | off) ;; *) [ -z "$quarantine" ] || chmod -R g+rX "$quarantine" 2>/dev/null || : ;; esac
options=
bypass=
count=${GIT_PUSH_OPTION_COUNT:-0}
case $count in '' | *[!0-9]*) count=0 ;; esac
i=0
while [ "$i" -lt "$count" ]; do
	eval "option=\${GIT_PUSH_OPTION_$i-}"
	option=${option%%"$nl"*}
	options=${options}option\ $option$nl
	case $option in greengate.bypass=*[![:space:]]*) [ -n "$bypass" ] || bypass=${option#greengate.bypass=} ;; esac
	i=$((i + 1))
done

# The request body, on stdout. One git rev-list + one git cat-file per updated branch.
request() {
	printf 'greengate-gate 1\n'
	[ -z "$pusher" ] || printf 'pusher %s\n' "$pusher"
	printf '%s' "$options"
	[ -z "$quarantine" ] || printf 'quarantine %s\n' "$quarantine"
	while read -r old new ref; do
		case $ref in refs/heads/*) ;; *) continue ;; esac
		printf 'update %s %s %s\n' "$old" "$new" "$ref"
		case $new in *[!0]*) ;; *) continue ;; esac
		case $old in
		*[!0]*) set -- "^$old" ;;
		*) set -- --not --all ;;
		esac
		{ git rev-list --max-count=1001 "$new" "$@" </dev/null || echo 'rev-list-failed'; } |
			git cat-file --batch || echo 'error git cat-file failed'
	done <<UPDATES
$input
UPDATES
	printf 'end\n'
}

# Keeps the gated branches the server named (header X-Greengate-Gated) in git config.
remember_gated() {
	[ -n "$1" ] || return 0
	[ -n "$gated_known" ] && [ "$1" = "$gated" ] && return 0
	git config greengate.gated "$1" 2>/dev/null || :
}

# Succeeds when the push updates a gated branch (any branch while greengate.gated is unknown).
touches_gated() {
	while read -r old new ref; do
		case $ref in refs/heads/*) ;; *) continue ;; esac
		case $new in *[!0]*) ;; *) continue ;; esac
		[ -n "$gated_known" ] || return 0
		case " $gated " in *" ${ref#refs/heads/} "*) return 0 ;; esac
	done <<UPDATES
$input
UPDATES
	return 1
}

problem=
status=
if [ -z "$server" ] || [ -z "$repo" ]; then
	problem="greengate: greengate.server or greengate.repo is not set in this repository's git config (run greengate hook install)"
else
	answer=$(request | curl -q -s -g -m "$timeout" -H 'Content-Type: text/plain; charset=utf-8' -H 'Expect:' \
		${auth:+"$auth"} ${auth:+"@$secretfile"} \
		--data-binary @- -w '\n%header{x-greengate-gated}\n%{http_code}' "$server/api/gate/$repo" 2>/dev/null)
	rc=$?
	status=${answer##*"$nl"}
	case $answer in *"$nl"*) answer=${answer%"$nl"*} ;; *) answer= ;; esac
	named=${answer##*"$nl"}
	case $answer in *"$nl"*) answer=${answer%"$nl"*} ;; *) answer= ;; esac
	answer=${answer%"$nl"}
	verdict=${answer%%"$nl"*}
	case $answer in *"$nl"*) lines=${answer#*"$nl"} ;; *) lines= ;; esac
	if [ "$rc" = 0 ] && [ "$status" = 200 ] && [ "$verdict" = accept ]; then
		[ -z "$lines" ] || printf '%s\n' "$lines" >&2
		remember_gated "$named"
		finish
	elif [ "$rc" = 0 ] && [ "$status" = 200 ] && [ "$verdict" = reject ]; then
		[ -z "$lines" ] || printf '%s\n' "$lines" >&2
		remember_gated "$named"
		exit 1
	elif [ "$rc" = 0 ] && [ "$status" = 401 ]; then
		[ -z "$answer" ] || printf '%s\n' "$answer" >&2
		problem="greengate: the server $server refused this hook's secret (HTTP 401): run greengate hook install on this repository again"
	elif [ "$rc" = 0 ]; then
		[ -z "$answer" ] || printf '%s\n' "$answer" >&2
		problem="greengate: the server $server answered HTTP $status instead of a verdict"
	elif [ "$rc" = 28 ]; then
		problem="greengate: no verdict from $server within ${timeout}s (greengate.timeout)"
	else
		problem="greengate: cannot reach the greengate server at $server (curl exit $rc)"
	fi
fi

printf '%s\n' "$problem" >&2
if ! touches_gated; then
	printf 'greengate: this push updates no gated branch (greengate.gated: %s): accepted unchecked\n' "${gated:-unknown}" >&2
	finish
fi
if [ -n "$bypass" ]; then
	printf 'greengate: accepted by bypass "%s", which was NOT recorded: tell the sheriff\n' "$bypass" >&2
	finish
fi
if [ "$policy" = allow ] && [ "$status" != 401 ]; then
	printf 'greengate: warning: push accepted unchecked (greengate.onUnreachable is allow)\n' >&2
	finish
fi
printf '%s\n' \
	'greengate: push refused: the gate could not be checked (greengate.onUnreachable is reject).' \
	'greengate: tell the greengate admin (the server'"'"'s log says why); in an emergency: git push -o greengate.bypass="<reason>"' >&2
exit 1
