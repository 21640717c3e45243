#!/usr/bin/env bash
# accept-terms.sh: runs on the machine that runs `pulumi up` (local Command in server.ts, only with
# acceptMarketplaceTerms=true), with the Azure CLI signed in to the target subscription.
# Accepts the marketplace terms of each image URN given (once per subscription and plan); terms that are
# already accepted are left alone, so a re-run changes nothing.
# Usage: accept-terms.sh URN [URN...]
set -euo pipefail

(( $# > 0 )) || { echo "usage: accept-terms.sh URN [URN...]" >&2; exit 1; }
command -v az >/dev/null 2>&1 || { echo "accept-terms: the Azure CLI (az) is not installed" >&2; exit 1; }

for urn in "$@"; do
    accepted=$(az vm image terms show --urn "$urn" --query accepted --output tsv 2>/dev/null || true)
    if [[ $accepted == true ]]; then
        echo "accept-terms: $urn: already accepted"
    else
        az vm image terms accept --urn "$urn" --output none
        echo "accept-terms: $urn: accepted"
    fi
done
