// A network of the test's own for browser tests of real networks: a network namespace joined to
// this one by a veth pair, Huddle's media port on the host end, its HTTP port forwarded there,
// and a Chromium that runs inside the namespace. Needs root (`ip netns`), as CI and
// `scripts/test` have here.

import { execFileSync } from 'node:child_process';
import { createServer, connect } from 'node:net';
import { mkdtempSync, writeFileSync, chmodSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHuddle, launchBrowser } from './harness.mjs';

const ip = (...args) => execFileSync('ip', args, { stdio: 'pipe' });

/**
 * Makes the namespace `name` and its veth pair on a /24 of its own; returns the addresses, the
 * interfaces and `remove()`. `shape` is a `tc` qdisc (after `root`) for the way into the
 * namespace, e.g. `['tbf', 'rate', '300kbit', 'burst', '6kb', 'latency', '200ms']`.
 */
export function makeNetwork(name, { shape } = {}) {
  const tag = String(process.pid % 10000);
  const ns = `huddle-${name}-${tag}`;
  const hostIf = `h${name.slice(0, 4)}${tag}a`;
  const nsIf = `h${name.slice(0, 4)}${tag}b`;
  const subnet = `10.211.${10 + (process.pid % 200)}`;
  const net = {
    ns,
    nsIf,
    hostIp: `${subnet}.1`,
    nsIp: `${subnet}.2`,
    subnet,
    remove() {
      try { ip('link', 'del', hostIf); } catch { /* already gone */ }
      try { ip('netns', 'del', ns); } catch { /* already gone */ }
    },
    /** Runs `ip` inside the namespace. */
    inside: (...args) => ip('-n', ns, ...args),
    /** The namespace's address changes to `.last` of its subnet: the new one comes up, then the
     * old one goes (as when a laptop moves from one network to another). */
    changeAddress(last) {
      const old = net.nsIp;
      net.oldIps = [...(net.oldIps ?? []), old];
      net.nsIp = `${subnet}.${last}`;
      // Without this, removing the first address of a subnet removes the others with it.
      execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', `net.ipv4.conf.${nsIf}.promote_secondaries=1`]);
      net.inside('addr', 'add', `${net.nsIp}/24`, 'dev', nsIf);
      net.inside('addr', 'del', `${old}/24`, 'dev', nsIf);
    },
  };
  net.remove();
  ip('netns', 'add', ns);
  ip('link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf);
  // No IPv6 on either end: a veth coming up gets a link-local address that turns valid a second
  // or so later, and Chromium takes that for a network change and fails what it is loading then
  // (ERR_NETWORK_CHANGED), which left a page without its scripts in two CI runs.
  execFileSync('sysctl', ['-qw', `net.ipv6.conf.${hostIf}.disable_ipv6=1`]);
  ip('link', 'set', nsIf, 'netns', ns);
  for (const conf of ['all', 'default', nsIf]) {
    execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', `net.ipv6.conf.${conf}.disable_ipv6=1`]);
  }
  ip('addr', 'add', `${net.hostIp}/24`, 'dev', hostIf);
  ip('link', 'set', hostIf, 'up');
  net.inside('addr', 'add', `${net.nsIp}/24`, 'dev', nsIf);
  net.inside('link', 'set', nsIf, 'up');
  net.inside('link', 'set', 'lo', 'up');
  if (shape) execFileSync('tc', ['qdisc', 'add', 'dev', hostIf, 'root', ...shape]);
  return net;
}

/** Forwards TCP from `host` to Huddle's HTTP port on loopback, so that a page in the namespace
 * loads from an address it can reach. */
async function forward(host, to) {
  const server = createServer((client) => {
    const upstream = connect(to.port, to.hostname);
    client.pipe(upstream).pipe(client);
    const close = () => { client.destroy(); upstream.destroy(); };
    client.on('error', close);
    upstream.on('error', close);
  });
  await new Promise((resolve) => server.listen(0, host, resolve));
  return server;
}

/**
 * Huddle with its media port on the host end of `net`, a Chromium outside (`outside`) and one
 * inside the namespace (`inside`, whose pages load from `inside.origin`); `stop()` ends all of it
 * and removes the network.
 */
export async function startAcross(net, extraArgs = []) {
  const huddle = await startHuddle(['--media-bind', `${net.hostIp}:0`, ...extraArgs]);
  const proxy = await forward(net.hostIp, new URL(huddle.url));
  const dir = mkdtempSync(join(tmpdir(), 'huddle-netns-'));
  const wrapper = join(dir, 'chromium-in-netns');
  writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${net.ns} /usr/bin/chromium "$@"\n`);
  chmodSync(wrapper, 0o755);
  const origin = `http://${net.hostIp}:${proxy.address().port}`;
  const outside = await launchBrowser();
  const inside = await launchBrowser({
    executablePath: wrapper,
    // Camera and microphone need a secure context; this origin is one only by this switch.
    extraArgs: [`--unsafely-treat-insecure-origin-as-secure=${origin}`],
  });
  inside.origin = origin;
  outside.origin = huddle.url;
  return {
    huddle,
    outside,
    inside,
    async stop() {
      // Addresses the namespace gave up come back first, so that what the server still sends to
      // them (a WebSocket whose path went away) meets a reset at once instead of retrying for
      // minutes and holding up the server's shutdown.
      for (const old of net.oldIps ?? []) {
        try { net.inside('addr', 'add', `${old}/24`, 'dev', net.nsIf); } catch { /* there */ }
      }
      await outside.close();
      await inside.close();
      proxy.close();
      await huddle.stop();
      net.remove();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
