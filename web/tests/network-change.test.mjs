// A network change that is not a move: P1's Chromium runs in a network namespace of the test's
// own; in the middle of the call its address changes (a new one is added, the old one removed,
// as when a laptop goes from Wi-Fi to a phone's hotspot). The page notices its media path broke,
// restarts ICE on the same PeerConnection, and sees and hears Ada again; the test measures the
// gap from the change to the first frame decoded after it, and prints it for docs/benchmarks.md.
//
// Needs root (for `ip netns`): CI and `scripts/test` run as root here.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { person, studio, expectRoom } from './media.mjs';
import { makeNetwork, startAcross } from './netns.mjs';

let net;
let world;

before(async () => {
  net = makeNetwork('move');
  world = await startAcross(net);
});

after(async () => { await world?.stop(); });

/** The page's call: connections made, ICE restarts, ICE state and video frames decoded. */
async function callOf(page) {
  return page.evaluate(async () => {
    const { activeCalls } = await import('/assets/call/call.js');
    const c = activeCalls()[0];
    let frames = 0;
    for (const r of (await c.pc.getStats()).values()) {
      if (r.type === 'inbound-rtp' && r.kind === 'video') frames += r.framesDecoded ?? 0;
    }
    return { connections: c.connections, restarts: c.restarts ?? 0, ice: c.pc.iceConnectionState, frames };
  });
}

test('a page whose address changes restarts ICE on the same connection and sees its room again', async () => {
  const { huddle, outside, inside } = world;
  const { room } = await studio(huddle.url, 'Commute');
  const ada = await person(outside, huddle.url, 'Ada');
  const p1 = await person(inside, inside.origin, 'P1');
  for (const [page, origin] of [[ada, huddle.url], [p1, inside.origin]]) {
    await page.goto(`${origin}/rooms/${room.id}`);
    await page.getByRole('region', { name: 'Call' }).getByRole('button', { name: 'Join call' }).click();
  }
  const callId = await expectRoom(p1, ['Ada'], 'before the change');
  await expectRoom(ada, ['P1'], 'before the change');
  const before = await callOf(p1);

  // The new address comes up, the old one goes away.
  const changed = Date.now();
  net.changeAddress(3);

  // Frames are decoded again: the first increase after the change ends the gap.
  let after = before;
  let gap = null;
  const frozen = (await callOf(p1)).frames;
  for (let i = 0; i < 300 && gap === null; i++) {
    await p1.waitForTimeout(100);
    after = await callOf(p1);
    if (after.frames > frozen + 5 && after.restarts > before.restarts) gap = Date.now() - changed;
  }
  console.log('# network change', JSON.stringify({ gapMs: gap, before, after }));
  assert.ok(gap !== null, `P1 never saw video again: ${JSON.stringify(after)}`);
  assert.equal(after.connections, before.connections, 'the same PeerConnection, restarted');
  assert.ok(after.restarts > before.restarts, 'an ICE restart');
  assert.equal(await expectRoom(p1, ['Ada'], 'after the change'), callId, 'the same call');
  await expectRoom(ada, ['P1'], 'after the change');
});
