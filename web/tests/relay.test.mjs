// Calls on networks that block the direct UDP path. A real coturn runs on loopback, started here
// with the shared secret, and Huddle hands every client its own time-limited credentials for it.
// Four people join the call, see and hear each other, and follow moves between breakout rooms,
// each on one connection whose chosen path is the only one their network allows:
// - Ada and P1 relay through TURN over UDP (a network that lets nothing through but to the TURN
//   server);
// - P2 relays through TURN over TCP (a network that blocks UDP);
// - P3 uses neither TURN nor UDP, only ICE over TCP straight to the media port.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { call, useHuddle } from './harness.mjs';
import { person, studio, expectRoom } from './media.mjs';

const SECRET = 'shared between huddle and coturn';
let turn;
let huddle;
let browser;

/** A UDP port free now on 127.0.0.1. */
async function freeUdpPort() {
  const socket = createSocket('udp4');
  await new Promise((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise((resolve) => socket.close(resolve));
  return port;
}

/** Debian's coturn on loopback, in the TURN REST API mode, relaying to loopback peers. */
async function startCoturn() {
  const port = await freeUdpPort();
  const dir = mkdtempSync(join(tmpdir(), 'huddle-coturn-'));
  const log = join(dir, 'turn.log');
  const child = spawn('turnserver', [
    '-n', '--no-cli', '--no-tls', '--no-dtls', '--fingerprint',
    '--listening-ip=127.0.0.1', '--relay-ip=127.0.0.1', `--listening-port=${port}`,
    '--min-port=40000', '--max-port=40999', '--allow-loopback-peers',
    '--use-auth-secret', `--static-auth-secret=${SECRET}`, '--realm=huddle.test',
    `--log-file=${log}`, '--simple-log', '--verbose', '--pidfile', join(dir, 'turn.pid'),
  ], { stdio: 'ignore' });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  // Ready once its log says it listens (said with --verbose).
  for (let i = 0; ; i++) {
    let text = '';
    try { text = readFileSync(log, 'utf8'); } catch { /* not yet */ }
    if (/UDP listener opened on/.test(text)) break;
    if (child.exitCode !== null || i > 100) throw new Error(`coturn did not start: ${text}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    port,
    log: () => readFileSync(log, 'utf8'),
    async stop() {
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// coturn first, then Huddle told where it is.
useHuddle((h, b) => { huddle = h; browser = b; }, async () => {
  turn = await startCoturn();
  return turnArgs();
});
after(async () => { await turn?.stop(); });

const turnArgs = () => [
  '--turn-urls', `turn:127.0.0.1:${turn.port}?transport=udp,turn:127.0.0.1:${turn.port}?transport=tcp`,
  '--turn-secret', SECRET,
];

/** The local and remote candidate types of a page's chosen ICE pair. */
async function chosenPath(page) {
  return page.evaluate(async () => {
    const { activeCalls } = await import('/assets/call/call.js');
    const stats = await activeCalls()[0].pc.getStats();
    for (const report of stats.values()) {
      if (report.type !== 'transport' || !report.selectedCandidatePairId) continue;
      const pair = stats.get(report.selectedCandidatePairId);
      const local = stats.get(pair.localCandidateId);
      return {
        local: local.candidateType,
        ...(local.relayProtocol ? { relayProtocol: local.relayProtocol } : {}),
        protocol: local.protocol,
        bytesReceived: pair.bytesReceived,
      };
    }
    return null;
  });
}

test('browsers that may use only TURN or only TCP join the call and follow moves', async () => {
  const { token, room, ids, breakout, r1, r2 } = await studio(huddle.url, 'Far away');

  const all = ['Ada', 'P1', 'P2', 'P3'];
  const network = { Ada: 'turn-udp', P1: 'turn-udp', P2: 'turn-tcp', P3: 'ice-tcp' };
  // What getStats must show of each one's chosen path.
  const expected = {
    Ada: { local: 'relay', relayProtocol: 'udp', protocol: 'udp' },
    P1: { local: 'relay', relayProtocol: 'udp', protocol: 'udp' },
    P2: { local: 'relay', relayProtocol: 'tcp', protocol: 'udp' },
    // A TCP connection's local address is known only once connected: 'host' or 'prflx'.
    P3: { local: 'direct', protocol: 'tcp' },
  };
  const pages = {};
  for (const name of all) {
    const page = await person(browser, huddle.url, name, { network: network[name] });
    await page.goto(`${huddle.url}/rooms/${room.id}`);
    await page.getByRole('heading', { name: 'Far away', exact: true }).waitFor();
    await page.getByRole('region', { name: 'Call' }).getByRole('button', { name: 'Join call' }).click();
    pages[name] = page;
  }
  const callIds = {};
  for (const name of all) callIds[name] = await expectRoom(pages[name], all.filter((n) => n !== name), 'in the main room');
  for (const name of all) {
    const path = await chosenPath(pages[name]);
    const { bytesReceived, ...kind } = path ?? {};
    if (kind.local === 'host' || kind.local === 'prflx') kind.local = 'direct';
    assert.deepEqual(kind, expected[name], `${name}'s media takes the path ${network[name]} allows`);
    assert.ok(bytesReceived > 10000, `${name} received ${bytesReceived} bytes on that path`);
  }

  const check = async (what, expected) => {
    for (const [name, names] of Object.entries(expected)) {
      assert.equal(await expectRoom(pages[name], names, what), callIds[name], `${name} kept the same call ${what}`);
    }
  };
  await call(huddle.url, 'PUT', breakout(`/assignments/${ids.P1}`), { breakout: r1 }, token);
  await call(huddle.url, 'PUT', breakout(`/assignments/${ids.P2}`), { breakout: r1 }, token);
  await call(huddle.url, 'PUT', breakout(`/assignments/${ids.P3}`), { breakout: r2 }, token);
  await call(huddle.url, 'POST', breakout('/start'), null, token);
  await check('after start', { Ada: [], P1: ['P2'], P2: ['P1'], P3: [] });
  await call(huddle.url, 'POST', breakout('/move'), { person_id: ids.P2, breakout: r2 }, token);
  await check('after moving P2', { Ada: [], P1: [], P2: ['P3'], P3: ['P2'] });
  await call(huddle.url, 'POST', breakout('/stop'), null, token);
  await check('after stop', Object.fromEntries(all.map((n) => [n, all.filter((m) => m !== n)])));

  // coturn saw each person's own credentials: usernames `EXPIRY:PERSON`.
  const log = turn.log();
  for (const name of ['P1', 'P2']) {
    assert.match(log, new RegExp(`\\d+:${ids[name]}`), `coturn authenticated ${name}`);
  }
});
