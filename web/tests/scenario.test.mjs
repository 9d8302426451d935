// A class, as a new user runs it: Ms. Rivera (a teacher at a desktop) creates her room, adds three
// students at once, names two breakout rooms, places the students with the keyboard alone and
// invites a guest into one room. Everyone joins the call with one click; Kim is on a phone. Two
// rounds run with calls on: the start, a late joiner told where he goes and why, a help request
// answered from the pop-up, a keyboard move announced to the rooms it touches, a room brought back,
// a shortened round that still counts down, and the guest across each stop. After every change the
// pages prove they see exactly their room's people in the call, on the same connection.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { call, emailedLink, moveWithKeys, PASSWORD, signIn, tab, useHuddle } from './harness.mjs';

const SHOTS = process.env.SCREENSHOTS_DIR;
const PHONE = { width: 390, height: 844 };
let huddle;
let browser;
useHuddle((h, b) => { huddle = h; browser = b; });

/** Waits until `page`'s call shows a camera tile, with decoded video, for exactly `names`. */
async function seesInCall(page, names, what) {
  const want = [...names].sort().join(',');
  let last;
  for (let i = 0; i < 80; i++) {
    last = await page.evaluate(() => [...document.querySelectorAll('.call .tile[data-source="camera"]')]
      .map((t) => ({ person: t.dataset.person, video: (t.querySelector('video')?.videoWidth ?? 0) > 0 })));
    if (last.map((t) => t.person).sort().join(',') === want && last.every((t) => t.video)) return;
    await page.waitForTimeout(250);
  }
  assert.fail(`${what}: wanted ${want}, the call shows ${JSON.stringify(last)}`);
}

const callId = (page) => page.locator('.call').getAttribute('data-call-id');
const notice = (page) => page.locator('.shell > p.notice');

/** Waits until `page`'s notice line says `text` (a string or a pattern); says what it said if not. */
async function expectNotice(page, text) {
  let last = null;
  for (let i = 0; i < 120; i++) {
    last = (await notice(page).count()) ? (await notice(page).textContent()).replace(/\s*Dismiss$/, '') : null;
    if (last !== null && (typeof text === 'string' ? last.includes(text) : text.test(last))) return;
    await page.waitForTimeout(250);
  }
  assert.fail(`wanted the notice ${text}, the page says ${JSON.stringify(last)}`);
}
const said = (page) => page.locator('[data-said]');

/** Opens the main room from "My rooms" and joins its call with one click. */
async function enterAndJoin(page, title) {
  await page.getByRole('link', { name: title }).click();
  await page.getByRole('button', { name: 'Join call' }).click();
  await page.locator('.call[data-state="joined"]').waitFor();
}

test('a class with two rounds, calls on, a phone, a guest, help and a late joiner', async () => {
  await call(huddle.url, 'POST', '/setup', { email: 'rivera@example.org', password: PASSWORD, display_name: 'Ms. Rivera' });
  const { token } = await call(huddle.url, 'POST', '/session', { email: 'rivera@example.org', password: PASSWORD });
  for (const name of ['Sam', 'Lee', 'Kim']) {
    await call(huddle.url, 'POST', '/accounts', { email: `${name.toLowerCase()}@example.org`, password: PASSWORD, display_name: name }, token);
  }

  // The teacher makes her room, adds the three students in one go, and names the rooms at once.
  const teacher = await signIn(browser, huddle.url, 'rivera@example.org');
  await teacher.getByLabel('New room name').fill('Biology 7B');
  await teacher.getByRole('button', { name: 'Create room' }).click();
  await teacher.getByRole('heading', { name: 'Biology 7B', exact: true }).waitFor();
  await tab(teacher, 'Manage');
  await teacher.getByLabel('Add members by email').fill('sam@example.org, lee@example.org\nkim@example.org');
  await teacher.getByRole('button', { name: 'Add members' }).click();
  await teacher.getByText('Added 3 members.').waitFor();
  await tab(teacher, 'Breakout rooms');
  const dashboard = teacher.getByRole('region', { name: 'Breakout rooms' });
  const turnOn = dashboard.getByRole('button', { name: 'Turn on breakout rooms' });
  if (await turnOn.isVisible()) await turnOn.click();
  await dashboard.getByText('Create rooms with names').click();
  await dashboard.getByLabel('Room names, one per line').fill('Cells\nPlants');
  await dashboard.getByRole('button', { name: 'Create named rooms' }).click();
  await dashboard.getByRole('region', { name: 'Plants' }).waitFor();
  const settings = dashboard.getByText('Settings', { exact: true });
  await settings.click();
  await dashboard.getByLabel('Duration (minutes)').fill('20');
  await dashboard.getByRole('button', { name: 'Save settings' }).click();
  await dashboard.getByText('Settings saved.').waitFor();
  await settings.click();
  // Only the students wait to be placed, not the teacher.
  const unassigned = dashboard.getByRole('region', { name: 'Unassigned' });
  await unassigned.locator('[data-person="Kim"]').waitFor();
  assert.deepEqual((await unassigned.locator('[data-person]').evaluateAll((els) => els.map((e) => e.dataset.person))).sort(), ['Kim', 'Lee', 'Sam']);
  for (const [name, room] of [['Sam', 'Cells'], ['Kim', 'Cells'], ['Lee', 'Plants']]) {
    await moveWithKeys(teacher, dashboard, name, room);
    await dashboard.getByRole('region', { name: room }).locator(`[data-person="${name}"]`).waitFor();
  }

  // A guest for Plants: invited from that room's own Manage tab, joins from the emailed link.
  await tab(teacher, 'People');
  await teacher.getByRole('complementary', { name: 'Members' }).getByRole('link', { name: 'Plants' }).click();
  await teacher.getByRole('heading', { name: 'Biology 7B : Plants' }).waitFor();
  await tab(teacher, 'Manage');
  await teacher.getByLabel('Email addresses').fill('gus@example.org');
  await teacher.getByRole('button', { name: 'Send invitations' }).click();
  const guestContext = await browser.newContext({ viewport: { width: 1024, height: 768 } });
  const gus = await guestContext.newPage();
  const foreign404 = [];
  gus.on('response', (r) => { if (r.status() === 404 && r.url().includes('/api/')) foreign404.push(r.url()); });
  await gus.goto(`${huddle.url}${await emailedLink(huddle, 'gus@example.org')}`);
  await gus.getByLabel('Your name').fill('Gus');
  await gus.getByRole('button', { name: 'Join as a guest' }).click();
  await gus.getByRole('heading', { name: 'Biology 7B : Plants' }).waitFor();
  await gus.getByRole('button', { name: 'Join call' }).click();
  await gus.locator('.call[data-state="joined"]').waitFor();

  // Back to the main room by its title; the teacher, Sam and Kim (on a phone) join the call.
  await teacher.getByRole('link', { name: 'Biology 7B : Plants' }).click();
  await teacher.getByRole('heading', { name: 'Biology 7B', exact: true }).waitFor();
  await teacher.getByRole('button', { name: 'Join call' }).click();
  const sam = await signIn(browser, huddle.url, 'sam@example.org');
  await enterAndJoin(sam, 'Biology 7B');
  const kim = await signIn(browser, huddle.url, 'kim@example.org', PHONE);
  await enterAndJoin(kim, 'Biology 7B');
  await seesInCall(teacher, ['Sam', 'Kim'], 'the teacher before the round');
  await seesInCall(kim, ['Ms. Rivera', 'Sam'], 'Kim before the round');
  await seesInCall(gus, [], 'Gus alone in Plants');
  const calls = { sam: await callId(sam), kim: await callId(kim), gus: await callId(gus) };

  // Round 1. The students' pages follow them, each told where they are; the calls follow too.
  await tab(teacher, 'Breakout rooms');
  await dashboard.getByRole('button', { name: 'Start breakout rooms' }).click();
  for (const page of [sam, kim]) {
    await page.getByRole('heading', { name: 'Biology 7B : Cells' }).waitFor();
    await expectNotice(page, 'Breakout rooms started: you are now in Cells.');
  }
  assert.equal(await notice(teacher).count(), 0, 'the teacher gets no participant notices');
  await seesInCall(kim, ['Sam'], 'Kim in Cells');
  await seesInCall(teacher, [], 'the teacher alone in the main room');
  await dashboard.getByRole('region', { name: 'Cells' }).getByText('2 here').waitFor();

  // Lee signs in late: told where he is going and why, and lands in Plants with Gus.
  const lee = await signIn(browser, huddle.url, 'lee@example.org');
  await lee.getByRole('link', { name: 'Biology 7B' }).click();
  await lee.getByRole('heading', { name: 'Biology 7B : Plants' }).waitFor();
  await expectNotice(lee, 'Breakout rooms are running: you are in Plants (you were assigned to it).');
  await lee.getByRole('button', { name: 'Join call' }).click();
  await seesInCall(lee, ['Gus'], 'Lee in Plants');
  await seesInCall(gus, ['Lee'], 'Gus with Lee');

  // Kim, on her phone, asks for help from the top bar; the teacher gets a pop-up, a badge on the
  // Breakout rooms tab, a mark on the room's card and a count in the page title.
  await tab(teacher, 'Chat');
  await kim.getByRole('button', { name: 'Ask for help' }).click();
  await kim.getByText('Help requested — a moderator will come.').waitFor();
  const popup = teacher.getByRole('alertdialog');
  await popup.getByText('Kim asks for help in Cells.').waitFor();
  assert.equal(await teacher.getByRole('tab', { name: /^Breakout rooms/ }).locator('.badge').textContent(), '1');
  await teacher.waitForFunction(() => document.title === '(1) Biology 7B · Huddle');
  await tab(teacher, 'Breakout rooms');
  await dashboard.getByRole('region', { name: 'Cells' }).getByRole('img', { name: 'asks for help' }).waitFor();
  if (SHOTS) {
    mkdirSync(SHOTS, { recursive: true });
    await teacher.screenshot({ path: `${SHOTS}/help-popup.png` });
  }
  await popup.getByRole('button', { name: 'Join room' }).click();
  await teacher.getByRole('heading', { name: 'Biology 7B : Cells' }).waitFor();
  await kim.getByText('A moderator is here.').waitFor();
  await seesInCall(kim, ['Ms. Rivera', 'Sam'], 'Kim with the teacher in Cells');
  await seesInCall(teacher, ['Sam', 'Kim'], 'the teacher in Cells');
  await teacher.waitForFunction(() => document.title === 'Biology 7B : Cells · Huddle');
  if (SHOTS) await kim.screenshot({ path: `${SHOTS}/student-phone-call.png` });

  // The teacher goes back to the main room by the title and moves Sam to Plants with the keyboard:
  // she hears the move, Sam is told who moved him, Kim hears him leave and Lee hears him arrive.
  await teacher.getByRole('link', { name: 'Biology 7B : Cells' }).click();
  await teacher.getByRole('heading', { name: 'Biology 7B', exact: true }).waitFor();
  await tab(teacher, 'Breakout rooms');
  await moveWithKeys(teacher, dashboard, 'Sam', 'Plants');
  await said(teacher).getByText('Sam is now in Plants.').waitFor({ state: 'attached' });
  await sam.getByRole('heading', { name: 'Biology 7B : Plants' }).waitFor();
  await expectNotice(sam, 'You were moved to Plants by Ms. Rivera.');
  await said(kim).getByText('Sam left this room.').waitFor({ state: 'attached' });
  await said(lee).getByText('Sam joined this room.').waitFor({ state: 'attached' });
  await seesInCall(sam, ['Lee', 'Gus'], 'Sam in Plants');
  await seesInCall(kim, [], 'Kim alone in Cells');
  assert.equal(await callId(sam), calls.sam, 'Sam kept his connection through the moves');
  const mainRoom = dashboard.getByRole('region', { name: 'Main room' });
  await mainRoom.locator('[data-person="Ms. Rivera"]').waitFor();
  if (SHOTS) await teacher.screenshot({ path: `${SHOTS}/teacher-round.png` });

  // Cells is brought back: Kim is told and goes back to the main room's call; the card says closed.
  await dashboard.getByRole('button', { name: 'Bring back Cells' }).click();
  await kim.getByRole('heading', { name: 'Biology 7B', exact: true }).waitFor();
  await expectNotice(kim, 'Your room was closed: you are back in the main room.');
  await dashboard.getByRole('region', { name: 'Cells' }).getByText('closed').waitFor();
  await seesInCall(kim, ['Ms. Rivera'], 'Kim back in the main room');
  assert.equal(await callId(kim), calls.kim, 'Kim kept her connection');

  // The teacher shortens the round below what has run: it still counts down, then ends.
  await settings.click();
  await dashboard.getByLabel('Countdown (seconds)').fill('3');
  await dashboard.getByLabel('Duration (minutes)').fill('0.05');
  await dashboard.getByRole('button', { name: 'Save settings' }).click();
  await expectNotice(sam, /^Time is up: the rooms close in \d s\./);
  await teacher.getByRole('timer').getByText(/Rooms close in/).waitFor();
  await sam.getByRole('heading', { name: 'Biology 7B', exact: true }).waitFor({ timeout: 15000 });
  await expectNotice(sam, 'Time is up: you are back in the main room.');
  // The guest stays in his room with a true notice, never offered the main room, and no page of
  // his asks for what is not his.
  await expectNotice(gus, 'The breakout round has ended: you stay in Plants.');
  assert.equal(await gus.getByRole('heading', { name: 'Biology 7B : Plants' }).count(), 1);
  assert.equal(await gus.getByRole('button', { name: 'Return to the main room' }).count(), 0);
  await seesInCall(sam, ['Ms. Rivera', 'Kim', 'Lee'], 'Sam in the main room after the round');
  await seesInCall(gus, [], 'Gus in Plants between rounds');

  // Round 2 with everyone in Plants: Kim is moved by keyboard before the start.
  await dashboard.getByLabel('Duration (minutes)').fill('');
  await dashboard.getByRole('button', { name: 'Save settings' }).click();
  await dashboard.getByText('Settings saved.').waitFor();
  await moveWithKeys(teacher, dashboard, 'Kim', 'Plants');
  await dashboard.getByRole('region', { name: 'Plants' }).locator('[data-person="Kim"]').waitFor();
  await expectNotice(kim, 'Ms. Rivera assigned you to Plants.');
  await dashboard.getByRole('button', { name: 'Start breakout rooms' }).click();
  for (const page of [sam, kim, lee]) await page.getByRole('heading', { name: 'Biology 7B : Plants' }).waitFor();
  await seesInCall(kim, ['Sam', 'Lee', 'Gus'], 'Kim in Plants, round 2');
  await seesInCall(gus, ['Sam', 'Lee', 'Kim'], 'Gus in Plants, round 2');
  await dashboard.getByRole('button', { name: 'Stop breakout rooms' }).click();
  for (const page of [sam, kim, lee]) {
    await page.getByRole('heading', { name: 'Biology 7B', exact: true }).waitFor();
    await expectNotice(page, 'The moderator closed the breakout rooms: you are back in the main room.');
  }
  await expectNotice(gus, 'The breakout round has ended: you stay in Plants.');
  await seesInCall(teacher, ['Sam', 'Kim', 'Lee'], 'the teacher after round 2');
  await seesInCall(gus, [], 'Gus after round 2');
  assert.deepEqual({ sam: await callId(sam), kim: await callId(kim), gus: await callId(gus) }, calls,
    'one connection each through two rounds');
  assert.deepEqual(foreign404, [], 'the guest\'s page asked for nothing it may not see');
  await guestContext.close();
});
