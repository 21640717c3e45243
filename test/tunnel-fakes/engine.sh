#!/usr/bin/env bash
# Stand-in for the Pulumi engine process (test code only): runs the program (argv) as its child, as the
# engine runs the language host, then stays a moment (the engine's deletes run after the program ended),
# recording whether the tunnel's port still accepts then. The test runs it with bash through a symlink
# named `pulumi`, so that its process name (/proc/PID/comm) is the engine's: `pulumi`.
set -uo pipefail
"$@"
rc=$?
sleep "${FAKE_ENGINE_AFTER:-2}"
if (echo >"/dev/tcp/127.0.0.1/${FAKE_ENGINE_PORT:?}") 2>/dev/null; then
    echo "engine-after-program: tunnel accepts" >>"${FAKE_AZ_LOG:?}"
else
    echo "engine-after-program: tunnel closed" >>"${FAKE_AZ_LOG:?}"
fi
exit "$rc"
