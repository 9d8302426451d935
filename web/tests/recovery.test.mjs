// Two more scenarios in real browsers. Free mode: participants choose their own rooms. Recovery:
// the server is killed mid-round and started again; every page shows it is reconnecting, comes
// back by itself, and keeps working (a broadcast after the restart reaches everyone).

import { test } from 'node:test';
import { call, PASSWORD, signIn as signInAs, tab, useHuddle } from './harness.mjs';

let huddle;
let browser;
useHuddle((h, b) => { huddle = h; browser = b; });

function signIn(email, viewport) {
  return signInAs(browser, huddle.url, email, viewport);
}

/** A room with an owner and two participants, breakout rooms enabled in `mode`, two rooms. */
async function arrange(name, mode) {
  const { token } = await call(huddle.url, 'POST', '/session', { email: 'ada@example.org', password: PASSWORD });
  const room = await call(huddle.url, 'POST', '/rooms', { name }, token);
  for (const p of ['p1', 'p2']) {
    await call(huddle.url, 'POST', `/rooms/${room.id}/members`, { email: `${p}@example.org` }, token);
  }
  await call(huddle.url, 'PUT', `/rooms/${room.id}/breakout`, { enabled: true, mode }, token);
  await call(huddle.url, 'POST', `/rooms/${room.id}/breakout/rooms`, { count: 2 }, token);
  return { room, token };
}

async function openRoom(page, name) {
  await page.getByRole('link', { name, exact: true }).click();
  await page.getByRole('heading', { name, exact: true }).waitFor();
  await tab(page, 'Breakout rooms');
}

test('setup', async () => {
  await call(huddle.url, 'POST', '/setup', { email: 'ada@example.org', password: PASSWORD, display_name: 'Ada' });
  const { token } = await call(huddle.url, 'POST', '/session', { email: 'ada@example.org', password: PASSWORD });
  for (const p of ['P1', 'P2']) {
    await call(huddle.url, 'POST', '/accounts', { email: `${p.toLowerCase()}@example.org`, password: PASSWORD, display_name: p }, token);
  }
});

test('in free mode participants choose their rooms', async () => {
  const { room, token } = await arrange('Free choice', 'free');
  const p1 = await signIn('p1@example.org');
  const p2 = await signIn('p2@example.org');
  await openRoom(p1, 'Free choice');
  await openRoom(p2, 'Free choice');
  // Before the round, choosing puts your name in the room.
  const panel1 = p1.getByRole('region', { name: 'Breakout rooms' });
  await panel1.getByRole('button', { name: 'Choose Room 2' }).click();
  await panel1.getByRole('region', { name: 'Room 2' }).locator('[data-person="P1"]').waitFor();
  await call(huddle.url, 'POST', `/rooms/${room.id}/breakout/start`, undefined, token);
  await p1.getByRole('heading', { name: 'Free choice : Room 2' }).waitFor();
  // P2 chose nothing: told to choose.
  await p2.locator('.notice').filter({ hasText: 'Breakout rooms started: choose a room in the Breakout rooms panel.' }).waitFor();
  // During the round P2 drags their own name into Room 1, and P1 switches with a button.
  const panel2 = p2.getByRole('region', { name: 'Breakout rooms' });
  await panel2.getByRole('region', { name: 'Unassigned' }).locator('[data-person="P2"][data-settled]').waitFor();
  await panel2.getByRole('region', { name: 'Unassigned' }).locator('[data-person="P2"] .name').dragTo(panel2.getByRole('region', { name: 'Room 1' }));
  await p2.getByRole('heading', { name: 'Free choice : Room 1' }).waitFor();
  await p1.getByRole('region', { name: 'Breakout rooms' }).getByRole('button', { name: 'Choose Room 1' }).click();
  await p1.getByRole('heading', { name: 'Free choice : Room 1' }).waitFor();
  await call(huddle.url, 'POST', `/rooms/${room.id}/breakout/stop`, undefined, token);
  await p1.getByRole('heading', { name: 'Free choice', exact: true }).waitFor();
  await p1.context().close();
  await p2.context().close();
});

test('every page recovers by itself when the server restarts mid-round', async () => {
  const { room, token } = await arrange('Resilient', 'automatic');
  const ada = await signIn('ada@example.org');
  await openRoom(ada, 'Resilient');
  const p1 = await signIn('p1@example.org');
  const p2 = await signIn('p2@example.org');
  await openRoom(p1, 'Resilient');
  await openRoom(p2, 'Resilient');
  await ada.getByRole('region', { name: 'Breakout rooms' }).getByRole('button', { name: 'Start breakout rooms' }).click();
  for (const page of [p1, p2]) await page.getByRole('heading', { name: /^Resilient : Room [12]$/ }).waitFor();
  // A draft being typed survives the outage.
  await tab(p1, 'Chat');
  await p1.getByLabel('Message').fill('typed during the outage');

  await huddle.restart();
  for (const page of [ada, p1, p2]) {
    await page.getByRole('status').filter({ hasText: 'Connected' }).waitFor({ timeout: 20000 });
  }
  await call(huddle.url, 'POST', `/rooms/${room.id}/breakout/broadcast`, { text: 'Still here after the restart' }, token);
  for (const page of [p1, p2]) {
    await page.getByRole('alert', { name: 'Broadcast' }).getByText('Still here after the restart').waitFor();
  }
  await p1.getByRole('button', { name: 'Send' }).click();
  await p1.locator('.message .text', { hasText: 'typed during the outage' }).waitFor();
  await ada.getByRole('region', { name: 'Breakout rooms' }).getByRole('button', { name: 'Stop breakout rooms' }).click();
  for (const page of [p1, p2]) await page.getByRole('heading', { name: 'Resilient', exact: true }).waitFor();
});
