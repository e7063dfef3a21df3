# greengate hook settings: `greengate hook install` puts this text in place of the
# "# @include settings.sh" line of each hook, so an installed hook is one file that reads
# nothing else. Sets server, repo, timeout (seconds), policy (onUnreachable) and pusher.
server= repo= timeout=2 policy=reject
config=$(git config --get-regexp '^greengate\.' 2>/dev/null)
while read -r key value; do
	case $key in
	greengate.server) server=${value%/} ;;
	greengate.repo) repo=$value ;;
	greengate.timeout) timeout=$value ;;
	greengate.onunreachable) policy=$value ;;
	esac
done <<CONFIG
$config
CONFIG
case $timeout in '' | *[!0-9.]* | *.*.* | .) timeout=2 ;; esac

pusher=${GREENGATE_PUSHER:-${GL_USERNAME:-${REMOTE_USER:-$USER}}}
pusher=${pusher%%[[:cntrl:]]*}
