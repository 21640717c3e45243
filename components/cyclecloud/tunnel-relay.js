// tunnel-relay.js — runs on the machine that runs `pulumi up` / `pulumi destroy --run-program`, started by
// bastion-tunnel.sh (never by hand); changes nothing anywhere, writes only log lines on stderr (the tunnel's
// log file). It is the tunnel's local end that the remote Commands dial, 127.0.0.1:PORT, in front of
// `az network bastion tunnel` on 127.0.0.1:AZ_PORT, and bounds the wait for the SSH banner, which the Commands'
// SSH client does not: pulumi-command's perDialTimeout is Go's ssh.ClientConfig.Timeout, the TCP connect only
// (pulumi-command v1.2.1 provider/pkg/provider/remote/connection.go), and the real tunnel serves one
// connection at a time, so a second connection would wait, unanswered and unbounded, behind the first
// (Azure/azure-cli-extensions src/bastion/azext_bastion/tunnel.py `_listen`).
// Each connection: queued behind an open session (one at a time, as az serves them), then relayed to az
// (reconnecting while az restarts); when no byte of the SSH banner came back within BANNER_SECONDS of its
// arrival, it is closed and the reason logged, so the SSH client fails (and retries, dialErrorLimit) instead of
// waiting. After the banner, a session is relayed as long as it lasts.
// Usage: node tunnel-relay.js PORT AZ_PORT BANNER_SECONDS
"use strict";
const net = require("net");

const [port, azPort, bannerSeconds] = process.argv.slice(2, 5).map(Number);
if (![port, azPort, bannerSeconds].every(n => Number.isInteger(n) && n > 0)) {
    process.stderr.write("usage: node tunnel-relay.js PORT AZ_PORT BANNER_SECONDS\n");
    process.exit(1);
}
const log = msg => process.stderr.write(`tunnel-relay: ${new Date().toISOString()} ${msg}\n`);

const queue = [];
let busy = false;
let seq = 0;
let active = 0; // the connection being relayed

function next() {
    const c = queue.shift();
    if (!c) { busy = false; return; }
    busy = true;
    if (c.closed) { next(); return; }
    active = c.id;
    if (c.queuedBehind) log(`connection ${c.id} waited ${((Date.now() - c.arrived) / 1000).toFixed(1)}s behind session ${c.queuedBehind}`);
    relay(c);
}

function relay(c) {
    let upstream;
    let finished = false;
    const finish = () => {
        if (finished) return;
        finished = true;
        clearTimeout(c.timer);
        c.socket.destroy();
        if (upstream) upstream.destroy();
        next();
    };
    c.onTimeout = () => {
        log(`connection ${c.id}: no SSH banner through the tunnel (az on 127.0.0.1:${azPort} -> the VM's port 22) within ${bannerSeconds}s; closed`);
        finish();
    };
    c.socket.once("close", finish);
    const connect = () => {
        if (finished) return;
        const u = net.connect({ host: "127.0.0.1", port: azPort });
        upstream = u;
        let connected = false;
        u.once("connect", () => {
            connected = true;
            u.once("data", () => clearTimeout(c.timer)); // the banner's first bytes: the bound is met
            u.pipe(c.socket);
            c.socket.pipe(u);
            u.once("close", finish);
        });
        u.once("error", () => {
            u.destroy();
            // az is not listening yet (starting, or reopening after it ended): again, within the banner bound.
            if (!connected) setTimeout(connect, 500);
        });
    };
    connect();
}

const server = net.createServer(socket => {
    const c = { id: ++seq, socket, arrived: Date.now(), closed: false, queuedBehind: busy ? active : undefined };
    socket.on("error", () => socket.destroy());
    socket.once("close", () => { c.closed = true; });
    c.timer = setTimeout(() => {
        if (c.onTimeout) { c.onTimeout(); return; }
        log(`connection ${c.id}: waited ${bannerSeconds}s behind another session without reaching the tunnel; closed`);
        socket.destroy();
    }, bannerSeconds * 1000);
    queue.push(c);
    if (!busy) next();
});
server.once("error", e => {
    log(`ERROR: cannot listen on 127.0.0.1:${port}: ${e.message}`);
    process.exit(1);
});
server.listen(port, "127.0.0.1", () => log(`listening on 127.0.0.1:${port}, relaying to az on 127.0.0.1:${azPort} (SSH banner bound ${bannerSeconds}s)`));
for (const sig of ["SIGTERM", "SIGINT", "SIGHUP"]) process.on(sig, () => process.exit(0));
