// A throw-away unprivileged Linux user for the real-system tests, created the way CycleCloud creates node
// accounts: separately on each test host (every host has its own /etc/passwd and /etc/group, see netns.ts),
// with the same name and UID everywhere. Nothing is added to the machine's own /etc/passwd: the accounts vanish
// with the hosts. The UID is one that is free on the machine (so it is free on every host, whose /etc starts
// as a copy of the machine's).
import { run } from "./proc";

export interface TestUser {
    name: string;
    uid: number;
    gid: number;
    /** Always false: nothing is created on the machine itself. */
    created: boolean;
}

/** Picks a name/UID (and a GID equal to it) that are free on this machine. */
export function createTestUser(name: string, baseUid: number): TestUser {
    if (run(["getent", "passwd", name]).status === 0) {
        throw new Error(`user ${name} already exists on this machine (left over from an earlier run?); remove it with: userdel ${name}`);
    }
    for (let uid = baseUid; uid < baseUid + 500; uid++) {
        if (run(["getent", "passwd", String(uid)]).status === 0 || run(["getent", "group", String(uid)]).status === 0) continue;
        return { name, uid, gid: uid, created: false };
    }
    throw new Error(`no free UID in ${baseUid}..${baseUid + 499} for the test user`);
}

/** argv (run as root on a host) that creates the user's group and account there, as CycleCloud would on a node. */
export function addUserArgv(user: TestUser, home: string): string[] {
    return ["bash", "-c", 'groupadd -g "$2" "$1" && useradd -u "$2" -g "$2" -N -M -l -d "$3" -s /bin/bash -c "test user" "$1"',
        "add-user", user.name, String(user.uid), home];
}

/** Nothing to do on the machine: the per-host accounts vanish with the hosts. */
export function removeTestUser(_user: TestUser | undefined): void {
    /* per-host accounts only */
}
