#!/bin/sh
# greengate-hook v1
#
# greengate post-receive hook: tells the greengate server about the refs this push updated,
# so it builds them at once. Written by `greengate hook install`, which overwrites it on the
# next install: do not edit it; put your own steps in post-receive.local.
#
# One POST {server}/api/changes?repo={repo} (text/plain: the "OLD NEW REF" lines git gave us;
# headers X-Greengate-Pusher and the hook secret, from the repository's greengate-hook-secret
# file), waiting at most greengate.timeout seconds (default 15); it prints each build's page the
# server answers with (`greengate: build https://…/builds/N`, from the answer's "links"). The server reads each ref from
# git before building it: the notice only makes it look sooner. It never
# fails the push: if the notice does not get through it prints a warning, and the server's ref
# watcher picks the push up anyway.
#
# A pre-existing post-receive hook that greengate did not write (no marker line above) is never
# destroyed: install moves it to post-receive.local, and this hook runs it afterwards with the
# same stdin. If post-receive.local already exists too, install refuses and changes nothing.

nl='
'
case $0 in */*) hookdir=${0%/*} ;; *) hookdir=. ;; esac

input=
while IFS= read -r line || [ -n "$line" ]; do
	input=$input$line$nl
done

# @include settings.sh

if [ -n "$input" ]; then
	if [ -z "$server" ] || [ -z "$repo" ]; then
		printf 'greengate: warning: greengate.server or greengate.repo is not set; the server was not told about this push\n' >&2
	else
		if [ -n "$pusher" ]; then set -- -H "X-Greengate-Pusher: $pusher"; else set --; fi
		answer=$(printf '%s' "$input" | curl -q -s -g -m "$timeout" -w "$nl%{http_code}" \
			-H 'Content-Type: text/plain' -H 'Expect:' "$@" ${auth:+"$auth"} ${auth:+"@$secretfile"} --data-binary @- \
			"$server/api/changes?repo=$repo" 2>/dev/null)
		rc=$?
		status=${answer##*$nl}
		case $rc:$status in
		0:2??)
			# The answer's "links": one page per build this push made (try pushes too).
			for link in $(printf '%s' "${answer%$nl*}" | sed -n 's/.*"links":\[\([^]]*\)\].*/\1/p' | tr ',"' '  '); do
				case $link in http://*/builds/[0-9]*|https://*/builds/[0-9]*) printf 'greengate: build %s\n' "$link" ;; esac
			done ;;
		*) printf 'greengate: warning: could not tell %s about this push (curl exit %s, HTTP %s); its ref watcher will pick it up\n' \
			"$server" "$rc" "$status" >&2 ;;
		esac
	fi
fi

if [ -x "$hookdir/post-receive.local" ]; then
	printf '%s' "$input" | "$hookdir/post-receive.local"
	exit $?
fi
exit 0
