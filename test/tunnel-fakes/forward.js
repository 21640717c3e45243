// The listening half of the stand-in `az network bastion tunnel` (test code only): checks the port the way
// the real TunnelServer does (a connect to it succeeds = unavailable), binds localhost:PORT, prints the real
// command's three lines, serves one connection at a time (later ones wait in the backlog, as with the real
// one) by forwarding it to HOST:PORT. FAKE_AZ_END_AFTER_SESSIONS=N: exits 1 with an ERROR line once N sessions
// have ended, as the real one ends when something in its accept loop raises (tunnel.py `_listen`: the token
// request or the session clean-up `cleanup()` raising CloudError).
"use strict";
const net = require("net");
const [port, target] = [Number(process.argv[2]), process.argv[3]];
const [thost, tport] = [target.slice(0, target.lastIndexOf(":")), Number(target.slice(target.lastIndexOf(":") + 1))];
const probe = net.connect({ host: "127.0.0.1", port });
probe.once("connect", () => {
    probe.destroy();
    process.stderr.write("ERROR: Defined port is currently unavailable\n");
    process.exit(1);
});
probe.once("error", () => {
    const queue = [];
    let busy = false;
    let ended = 0;
    const endAfter = Number(process.env.FAKE_AZ_END_AFTER_SESSIONS || 0);
    const next = () => {
        const client = queue.shift();
        if (!client) { busy = false; return; }
        busy = true;
        const upstream = net.connect({ host: thost, port: tport });
        let closed = 0;
        const done = () => {
            if (++closed !== 2) return;
            ended++;
            if (endAfter > 0 && ended >= endAfter) {
                process.stderr.write("ERROR: (stand-in) the Bastion session's clean-up failed\n");
                process.exit(1);
            }
            next();
        };
        client.once("close", () => { upstream.destroy(); done(); });
        upstream.once("close", () => { client.destroy(); done(); });
        client.on("error", () => client.destroy());
        upstream.on("error", () => upstream.destroy());
        client.pipe(upstream);
        upstream.pipe(client);
    };
    const server = net.createServer(client => {
        queue.push(client);
        if (!busy) next();
    });
    server.once("error", e => {
        process.stderr.write(`ERROR: ${e.message}\n`);
        process.exit(1);
    });
    server.listen(port, "127.0.0.1", () => {
        process.stderr.write(`WARNING: Opening tunnel on port: ${port}\n`);
        process.stderr.write(`WARNING: Tunnel is ready, connect on port ${port}\n`);
        process.stderr.write("WARNING: Ctrl + C to close\n");
    });
});
