#!/usr/bin/env bash
# Stand-in for the Pulumi engine process (test code only): runs the program (argv) as its child, as the
# engine runs the language host, then stays a moment (the engine's deletes run after the program ended),
# recording whether the tunnel's port still accepts then. FAKE_ENGINE_DELETES: a bash script run after the
# program has exited, standing for the engine's deletes through the tunnel. The test runs it with bash through a symlink
# named `pulumi`, so that its process name (/proc/PID/comm) is the engine's: `pulumi`.
set -uo pipefail
"$@"
rc=$?
if [[ -n ${FAKE_ENGINE_DELETES:-} ]]; then
    bash "$FAKE_ENGINE_DELETES"
fi
sleep "${FAKE_ENGINE_AFTER:-2}"
if (echo >"/dev/tcp/127.0.0.1/${FAKE_ENGINE_PORT:?}") 2>/dev/null; then
    echo "engine-after-program: tunnel accepts" >>"${FAKE_AZ_LOG:?}"
else
    echo "engine-after-program: tunnel closed" >>"${FAKE_AZ_LOG:?}"
fi
exit "$rc"
