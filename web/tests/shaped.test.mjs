// A receiver on a weak link. The test makes its own network: a network namespace joined to this
// one by a veth pair, whose link towards the namespace carries 300 kbit/s behind a token bucket
// (`tc tbf`, Debian's iproute2). P1's Chromium runs inside the namespace; Ada, who sends a
// camera of moving noise in simulcast layers, and P2 run outside. Huddle's congestion control
// (media::congestion, on by default) must give P1 the layer its link holds, with unbroken audio, while P2 keeps
// the best layer.
//
// Needs root (for `ip netns`): CI and `scripts/test` run as root here. `NO_CONGESTION=1` runs
// it with the controller off (`--media-congestion false`), to watch it fail: P1's video stops
// and its audio breaks up.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createServer, connect } from 'node:net';
import { mkdtempSync, writeFileSync, chmodSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHuddle, launchBrowser, tab } from './harness.mjs';
import { person, studio, expectRoomHearing } from './media.mjs';

const tag = String(process.pid % 10000);
const NS = `huddle-slow-${tag}`;
const HOST_IF = `hs${tag}a`;
const NS_IF = `hs${tag}b`;
const SUBNET = 10 + (process.pid % 200);
const HOST_IP = `10.211.${SUBNET}.1`;
const NS_IP = `10.211.${SUBNET}.2`;
const RATE = '300kbit';

const sh = (...args) => execFileSync('ip', args, { stdio: 'pipe' });

let huddle;
let fast;
let slow;
let proxy;
let dir;

/** The namespace, the veth pair and the shaped direction (towards the namespace). */
function makeNetwork() {
  sh('netns', 'add', NS);
  sh('link', 'add', HOST_IF, 'type', 'veth', 'peer', 'name', NS_IF);
  sh('link', 'set', NS_IF, 'netns', NS);
  sh('addr', 'add', `${HOST_IP}/30`, 'dev', HOST_IF);
  sh('link', 'set', HOST_IF, 'up');
  sh('-n', NS, 'addr', 'add', `${NS_IP}/30`, 'dev', NS_IF);
  sh('-n', NS, 'link', 'set', NS_IF, 'up');
  sh('-n', NS, 'link', 'set', 'lo', 'up');
  execFileSync('tc', ['qdisc', 'add', 'dev', HOST_IF, 'root', 'tbf', 'rate', RATE, 'burst', '6kb', 'latency', '200ms']);
}

function removeNetwork() {
  try { sh('link', 'del', HOST_IF); } catch { /* already gone */ }
  try { sh('netns', 'del', NS); } catch { /* already gone */ }
}

/** Forwards TCP from the host end of the veth pair to Huddle's HTTP port on loopback, so that
 * the page in the namespace loads from an address it can reach. */
async function forward(to) {
  const server = createServer((client) => {
    const upstream = connect(to.port, to.hostname);
    client.pipe(upstream).pipe(client);
    const close = () => { client.destroy(); upstream.destroy(); };
    client.on('error', close);
    upstream.on('error', close);
  });
  await new Promise((resolve) => server.listen(0, HOST_IP, resolve));
  return server;
}

before(async () => {
  removeNetwork();
  makeNetwork();
  // The media server on the host end, so that both sides reach it.
  huddle = await startHuddle(['--media-bind', `${HOST_IP}:0`, ...(process.env.NO_CONGESTION ? ['--media-congestion', 'false'] : [])]);
  proxy = await forward(new URL(huddle.url));
  dir = mkdtempSync(join(tmpdir(), 'huddle-netns-'));
  const wrapper = join(dir, 'chromium-in-netns');
  writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${NS} /usr/bin/chromium "$@"\n`);
  chmodSync(wrapper, 0o755);
  const origin = `http://${HOST_IP}:${proxy.address().port}`;
  fast = await launchBrowser();
  slow = await launchBrowser({
    executablePath: wrapper,
    // Camera and microphone need a secure context; this origin is one only by this switch.
    extraArgs: [`--unsafely-treat-insecure-origin-as-secure=${origin}`],
  });
  slow.origin = origin;
});

after(async () => {
  await fast?.close();
  await slow?.close();
  proxy?.close();
  await huddle?.stop();
  removeNetwork();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** What a page receives now: the video's decoded height and per-kind counters. */
async function inbound(page) {
  return page.evaluate(async () => {
    const { activeCalls } = await import('/assets/call.js');
    const out = { height: 0, audio: { samples: 0, concealed: 0, packets: 0, lost: 0 } };
    for (const s of (await activeCalls()[0].pc.getStats()).values()) {
      if (s.type !== 'inbound-rtp') continue;
      if (s.kind === 'video' && s.frameHeight) out.height = Math.max(out.height, s.frameHeight);
      if (s.kind === 'audio') {
        out.audio.samples += s.totalSamplesReceived ?? 0;
        out.audio.concealed += s.concealedSamples ?? 0;
        out.audio.packets += s.packetsReceived ?? 0;
        out.audio.lost += s.packetsLost ?? 0;
      }
    }
    out.decoded = document.querySelector('.call .tile[data-source="camera"] video')?.videoHeight ?? 0;
    return out;
  });
}

test('behind a 300 kbit/s link a receiver gets the small layer and unbroken audio; others keep the best', async () => {
  const { room } = await studio(huddle.url, 'Weak link');
  const join = async (page) => {
    await page.goto(`${page.origin}/rooms/${room.id}`);
    await page.getByRole('region', { name: 'Call' }).getByRole('button', { name: 'Join call' }).click();
    return page;
  };
  const ada = await person(fast, huddle.url, 'Ada', { camera: [640, 480], noise: true });
  ada.origin = huddle.url;
  const p2 = await person(fast, huddle.url, 'P2', { camera: [640, 480] });
  p2.origin = huddle.url;
  const p1 = await person(slow, slow.origin, 'P1', { camera: [160, 120] });
  p1.origin = slow.origin;
  for (const page of [ada, p1, p2]) await join(page);
  for (const page of [p1, p2]) await expectRoomHearing(page, ['Ada', 'P1', 'P2'].filter((n) => n !== page.personName), 'in the main room');

  // Both receivers show Ada large; let the congestion control settle.
  const big = async (page) => page.evaluate(() => {
    for (const video of document.querySelectorAll('.call .tile video')) {
      video.style.setProperty('height', '480px', 'important');
      video.style.setProperty('width', '640px', 'important');
    }
  });
  await big(p1);
  await big(p2);
  await p1.waitForTimeout(15_000);
  const before1 = await inbound(p1);
  const before2 = await inbound(p2);
  await p1.waitForTimeout(10_000);
  const after1 = await inbound(p1);
  const after2 = await inbound(p2);
  const concealed = (a, b) => (b.audio.concealed - a.audio.concealed) / Math.max(1, b.audio.samples - a.audio.samples);
  console.log('# weak link', JSON.stringify({ p1: after1, p2: after2, concealed: [concealed(before1, after1), concealed(before2, after2)] }));
  assert.ok(after2.decoded >= 240, `P2 on a good link decodes ${after2.decoded} lines`);
  assert.ok(after1.decoded > 0 && after1.decoded < after2.decoded, `P1 behind ${RATE} decodes ${after1.decoded} lines, P2 ${after2.decoded}`);
  assert.ok(concealed(before1, after1) < 0.02, `P1's audio was concealed ${(concealed(before1, after1) * 100).toFixed(1)} % of the time`);
  assert.ok(concealed(before2, after2) < 0.02, `P2's audio was concealed ${(concealed(before2, after2) * 100).toFixed(1)} % of the time`);

  // Ada, the owner, sees who is struggling: P1's row is marked, P2's is good.
  await tab(ada, 'People');
  const table = ada.getByRole('region', { name: 'Call quality' });
  await table.locator('tr[data-person="P2"][data-quality="good"]').waitFor();
  await table.locator('tr[data-person="P1"]:not([data-quality="good"])').waitFor();
  const row = await table.locator('tr[data-person="P1"]').innerText();
  assert.match(row, /held to \d+/, `P1's row: ${row}`);
});
