// The rest of the moderator's controls in a browser: rename and delete a room, the countdown, bring
// back one room, join and leave, the breakout heading leading back to the main room, stop, reset,
// delete all, and signing out.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { call, moveWithKeys, PASSWORD, signIn as signInAs, tab, useHuddle } from './harness.mjs';

let huddle;
let browser;
useHuddle((h, b) => { huddle = h; browser = b; });

function signIn(email, viewport) {
  return signInAs(browser, huddle.url, email, viewport);
}

test('rename, delete, countdown, bring back, join and leave, stop, reset, delete all, sign out', async () => {
  await call(huddle.url, 'POST', '/setup', { email: 'ada@example.org', password: PASSWORD, display_name: 'Ada' });
  const { token } = await call(huddle.url, 'POST', '/session', { email: 'ada@example.org', password: PASSWORD });
  await call(huddle.url, 'POST', '/accounts', { email: 'p1@example.org', password: PASSWORD, display_name: 'P1' }, token);
  const room = await call(huddle.url, 'POST', '/rooms', { name: 'Studio' }, token);
  await call(huddle.url, 'POST', `/rooms/${room.id}/members`, { email: 'p1@example.org' }, token);
  await call(huddle.url, 'PUT', `/rooms/${room.id}/breakout`, { enabled: true, mode: 'manual', duration_secs: 1800 }, token);

  const ada = await signIn('ada@example.org');
  const p1 = await signIn('p1@example.org');
  await p1.getByRole('link', { name: 'Studio' }).click();
  await ada.getByRole('link', { name: 'Studio' }).click();
  await tab(ada, 'Breakout rooms');
  const panel = ada.getByRole('region', { name: 'Breakout rooms' });
  await panel.getByLabel('Number of rooms').fill('3');
  await panel.getByRole('button', { name: 'Create rooms' }).click();

  // Rename Room 3, then delete it.
  ada.once('dialog', (d) => d.accept('Quiet room'));
  await panel.getByRole('button', { name: 'Rename Room 3' }).click();
  await panel.getByRole('region', { name: 'Quiet room' }).waitFor();
  // A renamed room keeps its place (creation order), on the dashboard as in the room's list.
  const cards = await panel.locator('section.room').evaluateAll((els) => els.map((e) => e.getAttribute('aria-label')));
  assert.deepEqual(cards, ['Unassigned', 'Room 1', 'Room 2', 'Quiet room']);
  // Destructive actions say what will be lost, and a "no" changes nothing.
  ada.once('dialog', (d) => d.dismiss());
  await panel.getByRole('button', { name: 'Delete Quiet room' }).click();
  await ada.waitForTimeout(300);
  await panel.getByRole('region', { name: 'Quiet room' }).waitFor();
  let asked = '';
  ada.once('dialog', (d) => { asked = d.message(); d.accept(); });
  await panel.getByRole('button', { name: 'Delete Quiet room' }).click();
  assert.match(asked, /^Delete Quiet room\? Its chat, files and meetings are deleted for everyone/);
  await panel.getByRole('region', { name: 'Quiet room' }).waitFor({ state: 'detached' });

  // P1 into Room 1, start: the countdown shows; bring Room 1 back: P1 is in the main room again.
  await moveWithKeys(ada, panel, 'P1', 'Room 1');
  await panel.getByRole('button', { name: 'Start breakout rooms' }).click();
  await p1.getByRole('heading', { name: 'Studio : Room 1' }).waitFor();
  // During the round, what cannot be done says why.
  await panel.getByText('Reset: breakout rooms are running; stop the round first.').waitFor();
  assert.equal(await panel.getByRole('button', { name: 'Reset assignments' }).isDisabled(), true);
  await panel.getByText('Import: breakout rooms are running; stop the round first.').waitFor();
  await ada.getByRole('timer').filter({ hasText: /^Time left (29|30):\d\d$/ }).waitFor();
  await panel.getByRole('button', { name: 'Bring back Room 1' }).click();
  await p1.getByRole('heading', { name: 'Studio', exact: true }).waitFor();

  // Ada joins Room 2, follows its heading back to the main room, joins again and leaves.
  await panel.getByRole('button', { name: 'Join Room 2' }).click();
  await ada.getByRole('heading', { name: 'Studio : Room 2' }).waitFor();
  await ada.getByRole('link', { name: 'Studio : Room 2' }).click();
  await ada.getByRole('heading', { name: 'Studio', exact: true }).waitFor();
  const again = ada.getByRole('region', { name: 'Breakout rooms' });
  await again.getByRole('button', { name: 'Join Room 2' }).click();
  await ada.getByRole('heading', { name: 'Studio : Room 2' }).waitFor();
  await ada.getByRole('region', { name: 'Breakout rooms' }).getByRole('button', { name: 'Leave Room 2' }).click();
  await ada.getByRole('heading', { name: 'Studio', exact: true }).waitFor();

  // Stop, reset, delete all.
  const main = ada.getByRole('region', { name: 'Breakout rooms' });
  await main.getByRole('button', { name: 'Stop breakout rooms' }).click();
  await main.getByRole('button', { name: 'Start breakout rooms' }).waitFor();
  ada.once('dialog', (d) => { asked = d.message(); d.accept(); });
  await main.getByRole('button', { name: 'Reset assignments' }).click();
  await main.getByRole('region', { name: 'Unassigned' }).locator('[data-person="P1"]').waitFor();
  assert.equal(asked, 'Reset assignments? The 1 assigned person becomes unassigned; the rooms stay.');
  ada.once('dialog', (d) => { asked = d.message(); d.accept(); });
  await main.getByRole('button', { name: 'Delete all rooms' }).click();
  await main.getByRole('region', { name: 'Room 1' }).waitFor({ state: 'detached' });
  assert.equal(await main.getByRole('region', { name: /^Room / }).count(), 0);
  assert.equal(asked, 'Delete all 2 breakout rooms? Their chats, files and meetings are deleted for everyone, and every assignment is cleared.');
  // No rooms: Start says to create some; rooms can be created with their names at once.
  await main.getByText('Start: create breakout rooms first.').waitFor();
  assert.equal(await main.getByRole('button', { name: 'Start breakout rooms' }).isDisabled(), true);
  await main.getByText('Create rooms with names').click();
  await main.getByLabel('Room names, one per line').fill('Red\nBlue\n');
  await main.getByRole('button', { name: 'Create named rooms' }).click();
  await main.getByRole('region', { name: 'Blue' }).waitFor();
  const named = await main.locator('section.room').evaluateAll((els) => els.map((e) => e.getAttribute('aria-label')));
  assert.deepEqual(named, ['Unassigned', 'Red', 'Blue']);

  // Signing out leads to the sign-in page, and the session no longer works.
  await ada.getByRole('button', { name: 'Sign out' }).click();
  await ada.getByRole('heading', { name: 'Sign in to Huddle' }).waitFor();
  const me = await ada.request.get(`${huddle.url}/api/v1/session`);
  assert.equal(me.status(), 401);
});
