// A receiver on a weak link. The test makes its own network: a network namespace joined to this
// one by a veth pair, whose link towards the namespace carries 300 kbit/s behind a token bucket
// (`tc tbf`, Debian's iproute2). P1's Chromium runs inside the namespace; Ada and P2, who send
// cameras of moving noise in two simulcast layers (about 500 and 150 kbit/s), run outside.
// Huddle's congestion control (media::congestion, on by default) must hold P1 below the top
// layers (on the small one, or paused where even that does not fit beside the audio), with
// unbroken audio, while P2 keeps Ada's top layer. What the server forwards is read from the
// owner's call-quality table; P1's own page would show a paused tile's last frame, so its size
// says nothing.
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

/** What a page receives now: the decoded height of Ada's video and per-kind counters. */
async function inbound(page) {
  return page.evaluate(async () => {
    const { activeCalls } = await import('/assets/call/call.js');
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
    // Ada's camera (the noise): P1 and P2 show the other one's plain camera too, which is small.
    out.decoded = document.querySelector('.call .tile[data-person="Ada"][data-source="camera"] video')?.videoHeight ?? 0;
    return out;
  });
}

test('behind a 300 kbit/s link a receiver is held below the top layers with unbroken audio; others keep the best', async () => {
  const { room } = await studio(huddle.url, 'Weak link');
  const join = async (page) => {
    await page.goto(`${page.origin}/rooms/${room.id}`);
    await page.getByRole('region', { name: 'Call' }).getByRole('button', { name: 'Join call' }).click();
    return page;
  };
  const ada = await person(fast, huddle.url, 'Ada', { camera: [640, 480], noise: true });
  ada.origin = huddle.url;
  const p2 = await person(fast, huddle.url, 'P2', { camera: [640, 480], noise: true });
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

  // Then 10 s, with a look at the owner's call-quality table each time it refreshes (2 s): what
  // the server forwards to each receiver, slot by slot ("layer/layers" or "paused").
  await tab(ada, 'People');
  const table = ada.getByRole('region', { name: 'Call quality' });
  await table.locator('tr[data-person="P1"]').waitFor();
  const video = async (who) => (await table.locator(`tr[data-person="${who}"]`).innerText()).split('\t').at(-1).trim();
  const before1 = await inbound(p1);
  const before2 = await inbound(p2);
  const looks = [];
  for (let i = 0; i < 5; i += 1) {
    await ada.waitForTimeout(2_000);
    looks.push({ P1: await video('P1'), P2: await video('P2') });
  }
  const after1 = await inbound(p1);
  const after2 = await inbound(p2);
  const concealed = (a, b) => (b.audio.concealed - a.audio.concealed) / Math.max(1, b.audio.samples - a.audio.samples);
  console.log('# weak link', JSON.stringify({ p1: after1, p2: after2, looks, concealed: [concealed(before1, after1), concealed(before2, after2)] }));
  // Both cameras send moving noise: their top layers (about 500 kbit/s each) never fit P1's
  // link, and P2's link holds Ada's.
  assert.ok(looks.every((l) => !l.P1.includes('2/2')), `P1 behind ${RATE} got a top layer: ${JSON.stringify(looks)}`);
  assert.ok(looks.every((l) => l.P2.includes('2/2')), `P2 on a good link did not get Ada's top layer: ${JSON.stringify(looks)}`);
  assert.ok(after2.decoded >= 240, `P2 on a good link decodes ${after2.decoded} lines of Ada's video`);
  assert.ok(concealed(before1, after1) < 0.05, `P1's audio was concealed ${(concealed(before1, after1) * 100).toFixed(1)} % of the time`);
  assert.ok(concealed(before2, after2) < 0.02, `P2's audio was concealed ${(concealed(before2, after2) * 100).toFixed(1)} % of the time`);

  // Ada, the owner, sees who is struggling: P1's row is marked, P2's is good.
  await table.locator('tr[data-person="P2"][data-quality="good"]').waitFor();
  await table.locator('tr[data-person="P1"]:not([data-quality="good"])').waitFor();
  const row = await table.locator('tr[data-person="P1"]').innerText();
  assert.match(row, /held to \d+/, `P1's row: ${row}`);
});
