// The breakout dashboard in real browsers: a moderator and three participants in separate browser
// contexts. The moderator enables breakout rooms, creates two, drags one participant into Room 2
// and starts; every participant's page moves to its room; a broadcast with a call to action reaches
// everyone; a participant asks for help and the moderator accepts and lands in that room; the
// moderator shortens the round and when it ends everyone is back in the main room.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { call, moveWithKeys, PASSWORD, signIn as signInAs, tab, useHuddle } from './harness.mjs';

const SHOTS = process.env.SCREENSHOTS_DIR;
let huddle;
let browser;
useHuddle((h, b) => { huddle = h; browser = b; });

function signIn(email, viewport) {
  return signInAs(browser, huddle.url, email, viewport);
}

test('a moderator runs a breakout session for three participants', async () => {
  await call(huddle.url, 'POST', '/setup', { email: 'ada@example.org', password: PASSWORD, display_name: 'Ada' });
  const { token } = await call(huddle.url, 'POST', '/session', { email: 'ada@example.org', password: PASSWORD });
  const room = await call(huddle.url, 'POST', '/rooms', { name: 'Workshop' }, token);
  for (const name of ['P1', 'P2', 'P3']) {
    const email = `${name.toLowerCase()}@example.org`;
    await call(huddle.url, 'POST', '/accounts', { email, password: PASSWORD, display_name: name }, token);
    await call(huddle.url, 'POST', `/rooms/${room.id}/members`, { email }, token);
  }

  const ada = await signIn('ada@example.org');
  await ada.goto(`${huddle.url}/rooms/${room.id}`);
  const participants = [];
  for (const [i, name] of ['P1', 'P2', 'P3'].entries()) {
    const page = await signIn(`${name.toLowerCase()}@example.org`, i === 0 ? { width: 390, height: 844 } : undefined);
    await page.getByRole('link', { name: 'Workshop' }).click();
    await page.getByRole('heading', { name: 'Workshop', exact: true }).waitFor();
    participants.push(page);
  }

  // Enable, two rooms, automatic mode.
  await tab(ada, 'Breakout rooms');
  const panel = ada.getByRole('region', { name: 'Breakout rooms' });
  // While breakout rooms are off, the place of Start says so and offers to turn them on.
  await panel.getByText('Breakout rooms are off for this room.').waitFor();
  await panel.getByRole('button', { name: 'Turn on breakout rooms' }).waitFor();
  await panel.getByText('Settings', { exact: true }).click();
  await panel.getByLabel('Breakout rooms enabled').check();
  // When participants choose, moving between rooms is part of it: shown ticked, not editable.
  await panel.getByLabel('Mode').selectOption({ label: 'Participants choose' });
  const moving = panel.getByLabel('Participants may move between rooms');
  assert.deepEqual([await moving.isChecked(), await moving.isDisabled()], [true, true]);
  await panel.getByLabel('Mode').selectOption({ label: 'Automatic' });
  assert.deepEqual([await moving.isChecked(), await moving.isDisabled()], [false, false]);
  await panel.getByRole('button', { name: 'Save settings' }).click();
  await panel.getByRole('status').filter({ hasText: 'Settings saved.' }).waitFor();
  await panel.getByLabel('Number of rooms').fill('2');
  await panel.getByRole('button', { name: 'Create rooms' }).click();
  const room2 = panel.getByRole('region', { name: 'Room 2' });
  await room2.waitFor();
  // The page itself has no card border (a class clash drew one), and dropdowns use the page's font.
  const looks = await ada.evaluate(() => ({
    border: getComputedStyle(document.querySelector('main')).borderTopWidth,
    select: parseFloat(getComputedStyle(document.querySelector('.settings select')).fontSize),
  }));
  assert.equal(looks.border, '0px');
  assert.ok(looks.select >= 14, `dropdown font ${looks.select}px`);

  // Drag P1 into Room 2; the keyboard alternative moves P2 to Room 1 and back.
  // A card is dragged once it has stood still a moment (a press on one that just moved is refused).
  await panel.locator('[data-person="P1"][data-settled]').waitFor();
  await panel.locator('[data-person="P1"] .name').dragTo(room2);
  await room2.locator('[data-person="P1"]').waitFor();
  // The keyboard way: P2's Move menu, arrow keys, Enter. Focus stays on P2 (now in Room 1's card),
  // and the move is announced; Escape closes the menu without a change.
  await moveWithKeys(ada, panel, 'P2', 'Room 1');
  await panel.getByRole('region', { name: 'Room 1' }).locator('[data-person="P2"]').waitFor();
  for (let i = 0; i < 50 && (await ada.evaluate(() => document.activeElement?.getAttribute('aria-label'))) !== 'Move P2'; i++) await ada.waitForTimeout(50);
  assert.equal(await ada.evaluate(() => document.activeElement?.closest('[data-person]')?.dataset.person), 'P2');
  assert.equal(await ada.locator('[data-said]').textContent(), 'P2 is now in Room 1.');
  await ada.keyboard.press('Enter');
  await ada.waitForFunction(() => document.activeElement?.getAttribute('role') === 'menuitemradio');
  await ada.keyboard.press('ArrowDown');
  await ada.keyboard.press('Escape');
  await panel.getByRole('menu').waitFor({ state: 'detached' });
  await panel.getByRole('region', { name: 'Room 1' }).locator('[data-person="P2"]').waitFor();
  await moveWithKeys(ada, panel, 'P2', 'Unassigned');
  await panel.getByRole('region', { name: 'Unassigned' }).locator('[data-person="P2"]').waitFor();
  if (SHOTS) {
    mkdirSync(SHOTS, { recursive: true });
    await ada.screenshot({ path: `${SHOTS}/moderator-dashboard.png`, fullPage: true });
  }

  // Start: each participant's page moves to its breakout room.
  await panel.getByRole('button', { name: 'Start breakout rooms' }).click();
  await participants[0].getByRole('heading', { name: 'Workshop : Room 2' }).waitFor();
  assert.equal(await participants[0].title(), 'Workshop : Room 2 · Huddle', 'the tab names the room');
  for (const page of participants.slice(1)) {
    await page.getByRole('heading', { name: /^Workshop : Room [12]$/ }).waitFor();
    await page.getByRole('status').filter({ hasText: 'Breakout rooms started' }).waitFor();
  }

  // A broadcast with a call to action appears everywhere.
  await panel.getByLabel('Broadcast to all rooms').fill('Five minutes left');
  await panel.getByLabel('Button label').fill('Open the form');
  await panel.getByLabel('Button link').fill('https://example.org/form');
  await panel.getByRole('button', { name: 'Broadcast' }).click();
  for (const page of participants) {
    const banner = page.getByRole('alert', { name: 'Broadcast' });
    await banner.getByText('Five minutes left').waitFor();
    assert.equal(await banner.getByRole('link', { name: 'Open the form' }).getAttribute('href'), 'https://example.org/form');
    await page.locator('.message.broadcast .text', { hasText: 'Five minutes left' }).waitFor(); // in the room's chat too
  }
  if (SHOTS) await participants[0].screenshot({ path: `${SHOTS}/participant-phone.png`, fullPage: true });

  // A message to Room 2 alone reaches P1's chat.
  ada.once('dialog', (dialog) => dialog.accept('Room 2, please share your notes'));
  await panel.getByRole('button', { name: 'Message Room 2' }).click();
  await participants[0].locator('.message.broadcast .text', { hasText: 'Room 2, please share your notes' }).waitFor();

  // P1 asks for help: Ada gets a pop-up naming P1 and the room, the tab's title counts it and
  // Room 2's card is marked. She puts it off; it stays in the queue, and she accepts from there.
  await participants[0].getByRole('button', { name: 'Ask for help' }).click();
  const popup = ada.getByRole('alertdialog');
  await popup.getByText('P1 asks for help in Room 2.').waitFor();
  assert.equal(await ada.title(), '(1) Workshop · Huddle');
  await panel.getByRole('region', { name: 'Room 2' }).getByRole('img', { name: 'asks for help' }).waitFor();
  await popup.getByRole('button', { name: 'Later' }).click();
  await popup.waitFor({ state: 'detached' });
  const queue = ada.getByRole('region', { name: 'Help requests' });
  await queue.getByText('P1 in Room 2').waitFor();
  await queue.getByRole('button', { name: 'Accept' }).click();
  await ada.getByRole('heading', { name: 'Workshop : Room 2' }).waitFor();
  // The room's box lists who is in it now: P1, and Ada since she came.
  await tab(ada, 'People');
  const inRoom = ada.getByRole('complementary', { name: 'Members' });
  await inRoom.getByRole('heading', { name: 'In this room' }).waitFor();
  for (const name of ['P1', 'Ada']) await inRoom.locator(`li[data-person="${name}"]`, { hasText: 'here now' }).waitFor();
  await tab(ada, 'Breakout rooms');
  // P1's bar says so (not "on the way": she is there).
  await participants[0].getByText('A moderator is here.').waitFor();
  assert.equal(await ada.title(), 'Workshop : Room 2 · Huddle', 'nobody waits any more');

  // Someone in Room 1 (automatic mode put at least one of P2 and P3 there) asks: Ada joins
  // straight from the pop-up.
  let other = null;
  for (const page of participants.slice(1)) {
    if (await page.getByRole('heading', { name: 'Workshop : Room 1' }).count()) other = page;
  }
  assert.ok(other, 'someone is in Room 1');
  await other.getByRole('button', { name: 'Ask for help' }).click();
  await ada.getByRole('alertdialog').getByRole('button', { name: 'Join room' }).click();
  await ada.getByRole('heading', { name: 'Workshop : Room 1' }).waitFor();
  await other.getByText('A moderator is here.').waitFor();

  // Ada shortens the round to a few seconds: when it ends, everyone is back in the main room.
  const panel2 = ada.getByRole('region', { name: 'Breakout rooms' });
  await panel2.getByText('Settings', { exact: true }).click();
  await panel2.getByLabel('Duration (minutes)').fill('0.05');
  await panel2.getByLabel('Countdown (seconds)').fill('1');
  await panel2.getByRole('button', { name: 'Save settings' }).click();
  for (const page of participants) {
    await page.getByRole('status').filter({ hasText: 'Time is up: you are back in the main room.' }).waitFor({ timeout: 15000 });
    await page.getByRole('heading', { name: 'Workshop', exact: true }).waitFor();
  }
  // The moderator is back too, without the participants' notice.
  await ada.getByRole('heading', { name: 'Workshop', exact: true }).waitFor();
  assert.equal(await ada.locator('.notice').count(), 0, 'no participant notice for the moderator');
});

test("a participant's page follows quick moves even when the dashboard's answers arrive out of order", async () => {
  // The first administrator exists when the file's first test ran; not when this one runs alone.
  await call(huddle.url, 'POST', '/setup', { email: 'ada@example.org', password: PASSWORD, display_name: 'Ada' }).catch(() => {});
  const { token } = await call(huddle.url, 'POST', '/session', { email: 'ada@example.org', password: PASSWORD });
  const room = await call(huddle.url, 'POST', '/rooms', { name: 'Relay' }, token);
  await call(huddle.url, 'POST', '/accounts', { email: 'pat@example.org', password: PASSWORD, display_name: 'Pat' }, token);
  await call(huddle.url, 'POST', `/rooms/${room.id}/members`, { email: 'pat@example.org' }, token);
  const me = await call(huddle.url, 'POST', '/session', { email: 'pat@example.org', password: PASSWORD });
  const p1 = me.person.id;
  const breakout = (tail) => `/rooms/${room.id}/breakout${tail}`;
  await call(huddle.url, 'PUT', breakout(''), { enabled: true, mode: 'manual' }, token);
  const [a, b] = (await call(huddle.url, 'POST', breakout('/rooms'), { names: ['Left', 'Right'] }, token)).rooms.map((r) => r.id);
  await call(huddle.url, 'PUT', breakout(`/assignments/${p1}`), { breakout: a }, token);

  const page = await signIn('pat@example.org');
  // Every address the page moves to, in order.
  await page.addInitScript(() => {
    window.__paths = [];
    const push = history.pushState.bind(history);
    history.pushState = (state, title, url) => { window.__paths.push(String(url)); return push(state, title, url); };
  });
  await page.goto(`${huddle.url}/rooms/${room.id}`);
  await page.getByRole('heading', { name: 'Relay', exact: true }).waitFor();
  await call(huddle.url, 'POST', breakout('/start'), null, token);
  await page.getByRole('heading', { name: 'Relay : Left' }).waitFor();

  // The next dashboard answer (P1 in Right) is held back until after P1 has been moved on again.
  let held = false;
  let release;
  const released = new Promise((resolve) => { release = resolve; });
  await page.route(`**/api/v1/rooms/${room.id}/breakout`, async (route) => {
    if (held || route.request().method() !== 'GET') return route.continue();
    held = true;
    const response = await route.fetch();
    await released;
    await route.fulfill({ response });
  });
  await page.evaluate(() => { window.__paths = []; });
  await call(huddle.url, 'POST', breakout('/move'), { person_id: p1, breakout: b }, token);
  for (let i = 0; !held; i++) {
    assert.ok(i < 100, 'the page asked for the dashboard after the move');
    await page.waitForTimeout(50);
  }
  await call(huddle.url, 'POST', breakout('/move'), { person_id: p1, breakout: a }, token);
  await page.waitForTimeout(1000); // the newer answer (Left) arrives and is applied
  release();
  await page.waitForTimeout(1000); // the stale answer (Right) arrives too
  await page.getByRole('heading', { name: 'Relay : Left' }).waitFor();
  // The page may have followed the first move to Right before the second one (a dashboard
  // answer that was current then); what it must never do is go back to Right once it is in Left.
  const paths = await page.evaluate(() => window.__paths);
  const inLeft = paths.map((p) => p.endsWith(a)).lastIndexOf(true);
  assert.ok(!paths.slice(inLeft + 1).some((p) => p.endsWith(b)), `the stale answer moved the page: ${JSON.stringify(paths)}`);
});

test('notices tell a participant where they are going and why, each replacing the last', async () => {
  await call(huddle.url, 'POST', '/setup', { email: 'ada@example.org', password: PASSWORD, display_name: 'Ada' }).catch(() => {});
  const { token } = await call(huddle.url, 'POST', '/session', { email: 'ada@example.org', password: PASSWORD });
  const room = await call(huddle.url, 'POST', '/rooms', { name: 'Notices' }, token);
  await call(huddle.url, 'POST', '/accounts', { email: 'quin@example.org', password: PASSWORD, display_name: 'Quin' }, token);
  await call(huddle.url, 'POST', `/rooms/${room.id}/members`, { email: 'quin@example.org' }, token);
  const quinId = (await call(huddle.url, 'POST', '/session', { email: 'quin@example.org', password: PASSWORD })).person.id;
  const breakout = (tail) => `/rooms/${room.id}/breakout${tail}`;
  await call(huddle.url, 'PUT', breakout(''), { enabled: true, mode: 'manual', duration_secs: 600, countdown_secs: 60, return_to_main: true }, token);
  const [a, b] = (await call(huddle.url, 'POST', breakout('/rooms'), { names: ['North', 'South'] }, token)).rooms.map((r) => r.id);
  await call(huddle.url, 'PUT', breakout(`/assignments/${quinId}`), { breakout: a }, token);
  await call(huddle.url, 'POST', breakout('/start'), null, token);

  // Quin signs in during the round: told where and why.
  const quin = await signIn('quin@example.org');
  await quin.getByRole('link', { name: 'Notices' }).click();
  await quin.getByRole('heading', { name: 'Notices : North' }).waitFor();
  const notice = quin.locator('.notice');
  await notice.filter({ hasText: 'Breakout rooms are running: you are in North (you were assigned to it).' }).waitFor();

  await call(huddle.url, 'POST', breakout('/move'), { person_id: quinId, breakout: b }, token);
  await notice.filter({ hasText: 'You were moved to South by Ada.' }).waitFor();
  await quin.getByRole('heading', { name: 'Notices : South' }).waitFor();

  await call(huddle.url, 'POST', breakout('/stop'), { rooms: [b] }, token);
  await notice.filter({ hasText: 'Your room was closed: you are back in the main room.' }).waitFor();
  await quin.getByRole('heading', { name: 'Notices', exact: true }).waitFor();

  await call(huddle.url, 'POST', breakout('/move'), { person_id: quinId, breakout: a }, token);
  await notice.filter({ hasText: 'You were moved to North by Ada.' }).waitFor();
  await quin.getByRole('heading', { name: 'Notices : North' }).waitFor();

  // Quin steps out to the main room: the dashboard's Main room group shows him there, South is
  // marked closed, and he can rejoin North (as in Zoom).
  await tab(quin, 'Breakout rooms');
  const dash = quin.getByRole('region', { name: 'Breakout rooms' });
  await quin.getByRole('button', { name: 'Return to the main room' }).click();
  await quin.getByRole('heading', { name: 'Notices', exact: true }).waitFor();
  await dash.getByRole('region', { name: 'Main room' }).locator('[data-person="Quin"]').waitFor();
  await dash.getByRole('region', { name: 'South' }).getByText('closed', { exact: true }).waitFor();
  assert.equal(await dash.getByRole('button', { name: 'Rejoin South' }).count(), 0);
  await dash.getByRole('button', { name: 'Rejoin North' }).click();
  await quin.getByRole('heading', { name: 'Notices : North' }).waitFor();
  // The read-only dashboard can be put away and brought back.
  const again = quin.getByRole('region', { name: 'Breakout rooms' });
  await again.getByRole('button', { name: 'Hide the breakout rooms' }).click();
  await again.getByRole('region', { name: 'North' }).waitFor({ state: 'detached' });
  await again.getByRole('button', { name: 'Show the breakout rooms' }).click();
  await again.getByRole('region', { name: 'North' }).waitFor();

  // The round is shortened below its age: time is up, and the notice counts down.
  await call(huddle.url, 'PUT', breakout(''), { enabled: true, mode: 'manual', duration_secs: 1, countdown_secs: 60 }, token);
  await notice.filter({ hasText: /^Time is up: the rooms close in (5\d|60) s\./ }).waitFor();
  assert.equal(await notice.count(), 1, 'one notice at a time');
});
