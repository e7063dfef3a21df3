# greengate hook settings: `greengate hook install` puts this text in place of the
# "# @include settings.sh" line of each hook, so an installed hook is one file that reads
# nothing else. Sets server, repo, timeout (seconds), policy (onUnreachable), gated (the gated
# branches, space-separated, "-" for none; gated_known is empty when unknown), shared
# (core.sharedRepository: the repository is shared with a group), pusher (the
# authenticated one, see below), and
# auth: the curl arguments that send the hook secret (the secret file is the header line itself,
# so the secret is never in a shell variable or on a command line).
server= repo= timeout=15 policy=reject gated= gated_known= shared=
config=$(git config --get-regexp '^(greengate\.|core\.sharedrepository$)' 2>/dev/null)
while read -r key value; do
	case $key in
	greengate.server) server=${value%/} ;;
	greengate.repo) repo=$value ;;
	greengate.timeout) timeout=$value ;;
	greengate.onunreachable) policy=$value ;;
	greengate.gated) gated=$value gated_known=1 ;;
	core.sharedrepository) shared=$value ;;
	esac
done <<CONFIG
$config
CONFIG
case $timeout in '' | *[!0-9.]* | *.*.* | .) timeout=15 ;; esac

secretfile=${GIT_DIR:-.}/greengate-hook-secret
if [ -r "$secretfile" ]; then auth=-H; else auth=; fi

# The pusher is who the git server authenticated: gitolite's GL_USER (the name of the SSH key
# gitolite-shell was started for), else GL_USERNAME, the web server's REMOTE_USER (git over
# HTTP), else the OS user running this hook (ssh). Never a variable of the
# pusher's choosing: a GREENGATE_PUSHER in the environment means nothing (greengate's own pushes
# are recognised by the commits it recorded, not by a name).
pusher=${GL_USER:-${GL_USERNAME:-${REMOTE_USER:-$(id -un 2>/dev/null)}}}
pusher=${pusher%%[[:cntrl:]]*}
