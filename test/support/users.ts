// A throw-away unprivileged Linux user for the real-system tests. Every run creates its own (unique name,
// first free UID from a fixed base) and removes it at the end, so concurrent runs of the suite on one
// machine never remove each other's user. All test "hosts" share /etc/passwd: the UID is the same everywhere.
import { run } from "./proc";

export interface TestUser {
    name: string;
    uid: number;
    gid: number;
    created: boolean;
}

export function createTestUser(name: string, baseUid: number): TestUser {
    if (run(["getent", "passwd", name]).status === 0) {
        throw new Error(`user ${name} already exists (left over from an earlier run?); remove it with: userdel ${name}`);
    }
    for (let uid = baseUid; uid < baseUid + 500; uid++) {
        if (run(["getent", "passwd", String(uid)]).status === 0 || run(["getent", "group", String(uid)]).status === 0) continue;
        const r = run(["useradd", "--uid", String(uid), "--gid", "nogroup", "--no-user-group", "--no-create-home",
            "--home-dir", "/nonexistent", "--shell", "/bin/bash", "--comment", "bootstrap-chain test user", name]);
        if (r.status === 4) continue; // UID taken meanwhile by a concurrent run
        if (r.status !== 0) throw new Error(`useradd ${name} failed: ${r.text}`);
        const gid = Number(run(["id", "-g", name]).stdout.toString().trim());
        return { name, uid, gid, created: true };
    }
    throw new Error(`no free UID in ${baseUid}..${baseUid + 499} for the test user`);
}

export function removeTestUser(user: TestUser | undefined): void {
    if (user?.created) run(["userdel", user.name]);
}
