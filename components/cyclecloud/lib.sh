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
