// Calls in real browsers: four people, each with a camera of one colour and a microphone of one
// pitch (canvas and oscillator in place of the identical fake devices), join the main room's call
// on the room page. The moderator starts two breakout rooms, moves someone, brings a room back and
// stops; after each step every page proves from the pixels it decodes and the pitches it hears
// that it receives exactly its room's people — on the same connection, with no reload. Then a
// moderator mutes someone and a participant shares a screen.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { call, useHuddle } from './harness.mjs';
import { PEOPLE, SCREEN, person as signedIn, senses, near, studio, expectRoom, expectRoomHearing } from './media.mjs';

const SHOTS = process.env.SCREENSHOTS_DIR;
let huddle;
let browser;
useHuddle((h, b) => { huddle = h; browser = b; });
const person = (name) => signedIn(browser, huddle.url, name);

test('a call follows people through breakout rooms without reconnecting', async () => {
  const { token, room, ids, breakout, r1, r2 } = await studio(huddle.url, 'Studio');

  const pages = {};
  for (const name of Object.keys(PEOPLE)) {
    const page = await person(name);
    await page.goto(`${huddle.url}/rooms/${room.id}`);
    await page.getByRole('heading', { name: 'Studio', exact: true }).waitFor();
    await page.evaluate(() => { window.__sameDocument = true; });
    await page.getByRole('region', { name: 'Call' }).getByRole('button', { name: 'Join call' }).click();
    pages[name] = page;
  }
  const all = Object.keys(PEOPLE);
  const callIds = {};
  for (const name of all) callIds[name] = await expectRoom(pages[name], all.filter((n) => n !== name), 'in the main room');
  if (SHOTS) {
    mkdirSync(SHOTS, { recursive: true });
    await pages.Ada.screenshot({ path: `${SHOTS}/call-main-room.png` });
  }

  // Start: P1 and P2 in Room 1, P3 in Room 2; Ada stays in the main room.
  await call(huddle.url, 'PUT', breakout(`/assignments/${ids.P1}`), { breakout: r1 }, token);
  await call(huddle.url, 'PUT', breakout(`/assignments/${ids.P2}`), { breakout: r1 }, token);
  await call(huddle.url, 'PUT', breakout(`/assignments/${ids.P3}`), { breakout: r2 }, token);
  await call(huddle.url, 'POST', breakout('/start'), null, token);
  await pages.P1.getByRole('heading', { name: 'Studio : Room 1' }).waitFor();
  const steps = [
    ['after start', { Ada: [], P1: ['P2'], P2: ['P1'], P3: [] }],
  ];
  const check = async ([what, expected]) => {
    for (const [name, names] of Object.entries(expected)) {
      const id = await expectRoom(pages[name], names, what);
      assert.equal(id, callIds[name], `${name} kept the same call ${what}`);
    }
  };
  await check(steps[0]);

  await call(huddle.url, 'POST', breakout('/move'), { person_id: ids.P2, breakout: r2 }, token);
  await check(['after moving P2', { Ada: [], P1: [], P2: ['P3'], P3: ['P2'] }]);
  if (SHOTS) await pages.P3.screenshot({ path: `${SHOTS}/call-breakout-room.png` });

  await call(huddle.url, 'POST', breakout('/stop'), { rooms: [r2] }, token);
  await check(['after bringing Room 2 back', { Ada: ['P2', 'P3'], P1: [], P2: ['Ada', 'P3'], P3: ['Ada', 'P2'] }]);

  await call(huddle.url, 'POST', breakout('/stop'), null, token);
  for (const name of all) {
    const id = await expectRoom(pages[name], all.filter((n) => n !== name), 'after stop');
    assert.equal(id, callIds[name]);
    assert.equal(await pages[name].evaluate(() => window.__sameDocument), true, `${name}'s page never reloaded`);
    // getStats: video frames decoded on the one connection, and no second one was made.
    const stats = await pages[name].evaluate(async () => {
      const { activeCalls } = await import('/assets/call/call.js');
      const calls = activeCalls();
      let framesDecoded = 0;
      let audioPackets = 0;
      for (const report of (await calls[0].pc.getStats()).values()) {
        if (report.type === 'inbound-rtp' && report.kind === 'video') framesDecoded += report.framesDecoded ?? 0;
        if (report.type === 'inbound-rtp' && report.kind === 'audio') audioPackets += report.packetsReceived ?? 0;
      }
      return { calls: calls.length, connections: calls[0].connections, framesDecoded, audioPackets };
    });
    assert.equal(stats.calls, 1, `${name} has one call`);
    assert.equal(stats.connections, 1, `${name} made one PeerConnection`);
    assert.ok(stats.framesDecoded > 100, `${name} decoded ${stats.framesDecoded} frames`);
    assert.ok(stats.audioPackets > 100, `${name} received ${stats.audioPackets} audio packets`);
  }

  // Ada's media path breaks: her page restarts ICE on the same PeerConnection (new credentials,
  // same DTLS session, same call), and media flows again both ways.
  const restart = await pages.Ada.evaluate(async () => {
    const { activeCalls } = await import('/assets/call/call.js');
    const c = activeCalls()[0];
    const ufrag = (pc) => pc.localDescription.sdp.match(/a=ice-ufrag:(\S+)/)[1];
    const decoded = async () => {
      let n = 0;
      for (const r of (await c.pc.getStats()).values()) if (r.type === 'inbound-rtp' && r.kind === 'video') n += r.framesDecoded ?? 0;
      return n;
    };
    const before = { ufrag: ufrag(c.pc), pc: c.pc };
    await c.restart();
    for (let i = 0; i < 100 && (c.restarting || c.pc.iceConnectionState !== 'connected'); i++) await new Promise((r) => setTimeout(r, 100));
    const framesAtRestart = await decoded();
    await new Promise((r) => setTimeout(r, 1500));
    return {
      samePc: c.pc === before.pc,
      newUfrag: ufrag(c.pc) !== before.ufrag,
      restarting: c.restarting,
      state: c.pc.iceConnectionState,
      connections: c.connections,
      restarts: c.restarts,
      framesAfter: (await decoded()) - framesAtRestart,
    };
  });
  assert.deepEqual(
    { ...restart, framesAfter: restart.framesAfter > 20 },
    { samePc: true, newUfrag: true, restarting: false, state: 'connected', connections: 1, restarts: 1, framesAfter: true },
    `Ada's ICE restart: ${JSON.stringify(restart)}`,
  );
  assert.equal(await expectRoom(pages.Ada, ['P1', 'P2', 'P3'], 'after an ICE restart'), callIds.Ada);
  assert.equal(await expectRoom(pages.P1, ['Ada', 'P2', 'P3'], 'after Ada restarted ICE'), callIds.P1);

  // The moderator mutes P1: P1 is told, and nobody hears P1 any more.
  const stage = pages.Ada.getByRole('region', { name: 'Call' });
  await stage.getByRole('button', { name: 'Mute P1' }).click();
  await pages.P1.getByText('Ada muted your microphone.').waitFor();
  await expectRoomHearing(pages.P2, ['Ada', 'P3'], 'after P1 was muted');
  await pages.P2.locator('.tile[data-person="P1"] .mic[aria-label="muted by a moderator"]').waitFor();

  // P2 shares a screen: the others get a large tile of it.
  await pages.P2.getByRole('button', { name: 'Share screen' }).click();
  for (const name of ['Ada', 'P1', 'P3']) {
    for (let i = 0; ; i++) {
      const s = await senses(pages[name]);
      const screen = s.tiles.find((t) => t.source === 'screen' && t.person === 'P2');
      if (screen?.rgb && near(screen.rgb, SCREEN, 60)) break;
      assert.ok(i < 60, `${name} never saw P2's screen: ${JSON.stringify(s.tiles)}`);
      await pages[name].waitForTimeout(500);
    }
  }
  if (SHOTS) await pages.Ada.screenshot({ path: `${SHOTS}/call-screen-share.png` });

  // Leaving the call keeps the room working.
  await pages.P3.getByRole('button', { name: 'Leave call' }).click();
  await pages.P3.getByRole('region', { name: 'Call' }).getByRole('button', { name: 'Join call' }).waitFor();
  await pages.P3.locator('#composer').fill('still here');
  await pages.P3.getByRole('button', { name: 'Send' }).click();
  await pages.Ada.getByText('still here').waitFor();
});
