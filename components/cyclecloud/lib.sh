# shellcheck shell=bash
# lib.sh: helpers prepended (by components/cyclecloud/scripts.ts) to every script sent to the CycleCloud
# server. Not run on its own. Defines functions only; changes nothing.
# Wait limits come from the environment so tests can shorten them:
#   CC_WAIT_TIMEOUT  seconds a wait loop may take before it fails (per loop; each script sets its default)
#   CC_WAIT_INTERVAL seconds between polls (default 10)

log() {
    printf '%s: %s\n' "${SCRIPT_NAME:-cyclecloud}" "$*"
}

die() {
    printf '%s: ERROR: %s\n' "${SCRIPT_NAME:-cyclecloud}" "$*" >&2
    exit 1
}

# wait_until DESCRIPTION DEFAULT_TIMEOUT COMMAND [ARGS...]
# Runs COMMAND until it succeeds; fails after CC_WAIT_TIMEOUT (or DEFAULT_TIMEOUT) seconds.
wait_until() {
    local what=$1 default_timeout=$2
    shift 2
    local timeout=${CC_WAIT_TIMEOUT:-$default_timeout} interval=${CC_WAIT_INTERVAL:-10}
    local start=$SECONDS
    until "$@"; do
        if (( SECONDS - start >= timeout )); then
            die "timed out after ${timeout}s waiting for ${what}"
        fi
        sleep "$interval"
    done
}

# retry DESCRIPTION ATTEMPTS COMMAND [ARGS...]
# For calls that need fresh Azure role assignments (minutes to propagate): runs COMMAND up to
# CC_RETRY_ATTEMPTS (or ATTEMPTS) times, waiting CC_RETRY_DELAY (default 10) seconds, doubled after every
# failure up to 60, and says each time what it waits for. Fails with COMMAND's last status.
retry() {
    local what=$1 attempts=${CC_RETRY_ATTEMPTS:-$2}
    shift 2
    local delay=${CC_RETRY_DELAY:-10} n=1 status
    while true; do
        if "$@"; then
            return 0
        else
            status=$?
        fi
        if (( n >= attempts )); then
            printf '%s: ERROR: %s: still failing after %d attempts (last exit status %d)\n' \
                "${SCRIPT_NAME:-cyclecloud}" "$what" "$attempts" "$status" >&2
            return "$status"
        fi
        log "$what: attempt $n of $attempts failed (exit $status); waiting ${delay}s (Azure role assignments can take minutes to take effect)"
        sleep "$delay"
        delay=$(awk -v d="$delay" 'BEGIN { d *= 2; if (d > 60) d = 60; print d }')
        n=$((n + 1))
    done
}

# The CycleCloud CLI, by absolute path: sudo's secure_path on the image (/sbin:/bin:/usr/sbin:/usr/bin) does
# not hold /usr/local/bin, where the CLI is installed system-wide, nor ~/bin, where install.sh puts it
# otherwise (docs/cli-behaviour.md). Sets CYCLECLOUD_BIN or dies saying where it looked.
find_cyclecloud() {
    [[ -n ${CYCLECLOUD_BIN:-} ]] && return 0
    local candidate home
    home=$(getent passwd "$(id -un)" | cut -d: -f6)
    for candidate in /usr/local/bin/cyclecloud "${home:-/root}/bin/cyclecloud" "$(command -v cyclecloud || true)"; do
        if [[ -n $candidate && -f $candidate && -x $candidate ]]; then
            CYCLECLOUD_BIN=$candidate
            return 0
        fi
    done
    die "the cyclecloud CLI is not installed in /usr/local/bin, ${home:-/root}/bin or on PATH ($PATH); install it with: unzip /opt/cycle_server/tools/cyclecloud-cli.zip -d /tmp && /tmp/cyclecloud-cli-installer/install.sh --system"
}

cyclecloud() {
    find_cyclecloud
    "$CYCLECLOUD_BIN" "$@"
}

# The server's administration tool; not on PATH on the marketplace image.
cs() {
    "${CYCLE_SERVER:-/opt/cycle_server/cycle_server}" "$@"
}

# cs_has QUERY: true when the CycleCloud query returns at least one record.
cs_has() {
    local out
    out=$(cs execute --format json "$1" 2>/dev/null) || return 1
    [[ $out == *'{'* ]]
}

# Quotes a string for CycleCloud's record syntax ("..." with \ and " escaped).
record_quote() {
    local s=${1//\\/\\\\}
    printf '"%s"' "${s//\"/\\\"}"
}
