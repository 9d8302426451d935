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
import { tab } from './harness.mjs';
import { person, studio, expectRoomHearing } from './media.mjs';
import { makeNetwork, startAcross } from './netns.mjs';

const RATE = '300kbit';
let world;
let huddle;
let fast;
let slow;

before(async () => {
  const net = makeNetwork('slow', { shape: ['tbf', 'rate', RATE, 'burst', '6kb', 'latency', '200ms'] });
  world = await startAcross(net, process.env.NO_CONGESTION ? ['--media-congestion', 'false'] : []);
  ({ huddle, outside: fast, inside: slow } = world);
});

after(async () => { await world?.stop(); });

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
  assert.ok(concealed(before1, after1) < 0.05, `P1's audio was concealed ${(concealed(before1, after1) * 100).toFixed(1)} % of the time`);
  assert.ok(concealed(before2, after2) < 0.02, `P2's audio was concealed ${(concealed(before2, after2) * 100).toFixed(1)} % of the time`);

  // Ada, the owner, sees who is struggling: P1's row is marked, P2's is good.
  await tab(ada, 'People');
  const table = ada.getByRole('region', { name: 'Call quality' });
  await table.locator('tr[data-person="P2"][data-quality="good"]').waitFor();
  await table.locator('tr[data-person="P1"]:not([data-quality="good"])').waitFor();
  const row = await table.locator('tr[data-person="P1"]').innerText();
  assert.match(row, /held to \d+/, `P1's row: ${row}`);
});
