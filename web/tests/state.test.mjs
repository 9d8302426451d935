// The page's state as a round goes on, in real browsers: what a new-user walkthrough found stale
// or wrong (issue 28, item 7). Each test arranges its room through the API and watches one
// participant's page: a page moved elsewhere never asks for the room it left, and a notice goes
// once what it says is no longer true.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { call, PASSWORD, signIn as signInAs, tab, useHuddle } from './harness.mjs';

let huddle;
let browser;
useHuddle((h, b) => { huddle = h; browser = b; });

let admin = null;

/** A main room with `people` participants (P1, P2, …), breakout rooms on with `settings`, and
 * `rooms` breakout rooms; the moderator's token and every id. */
async function arrange(name, people, rooms, settings = {}) {
  if (!admin) {
    await call(huddle.url, 'POST', '/setup', { email: 'mo@example.org', password: PASSWORD, display_name: 'Mo' });
    admin = (await call(huddle.url, 'POST', '/session', { email: 'mo@example.org', password: PASSWORD })).token;
  }
  const room = await call(huddle.url, 'POST', '/rooms', { name }, admin);
  const ids = {};
  for (let i = 1; i <= people; i += 1) {
    const email = `${name.toLowerCase()}-p${i}@example.org`;
    const person = await call(huddle.url, 'POST', '/accounts', { email, password: PASSWORD, display_name: `P${i}` }, admin)
      .catch(() => null);
    await call(huddle.url, 'POST', `/rooms/${room.id}/members`, { email }, admin);
    ids[`P${i}`] = { email, id: person?.id };
  }
  await call(huddle.url, 'PUT', `/rooms/${room.id}/breakout`, { enabled: true, ...settings }, admin);
  await call(huddle.url, 'POST', `/rooms/${room.id}/breakout/rooms`, { count: rooms }, admin);
  const session = await call(huddle.url, 'GET', `/rooms/${room.id}/breakout`, undefined, admin);
  for (const p of session.people) if (ids[p.display_name]) ids[p.display_name].id = p.person_id;
  const b = (path) => `/rooms/${room.id}/breakout${path}`;
  return { room, rooms: session.rooms, ids, b };
}

/** `email`'s page on the main room `room`, signed in. */
async function onRoom(email, room) {
  const page = await signInAs(browser, huddle.url, email);
  await page.goto(`${huddle.url}/rooms/${room.id}`);
  await page.getByRole('heading', { name: room.name, exact: true }).waitFor();
  return page;
}

test('a page moved to another room never asks for the room it left', async () => {
  const { room, rooms, ids, b } = await arrange('Moves', 1, 2);
  await call(huddle.url, 'PUT', b(`/assignments/${ids.P1.id}`), { breakout: rooms[0].id }, admin);
  const page = await onRoom(ids.P1.email, room);
  // On a slow network the dashboard, which says where the person is now, comes late.
  await page.route(/\/breakout$/, async (route) => {
    await new Promise((r) => setTimeout(r, 300));
    await route.continue();
  });
  const missing = [];
  page.on('response', (response) => {
    if (response.status() === 404) missing.push(`${response.request().method()} ${new URL(response.url()).pathname}`);
  });
  // A request sent before a move may cross it; what counts is what the page asks afterwards, so
  // each move waits for the page to be drawn and its requests answered first.
  let inFlight = 0;
  page.on('request', () => { inFlight += 1; });
  for (const done of ['requestfinished', 'requestfailed']) page.on(done, () => { inFlight -= 1; });
  const settled = async () => {
    for (let i = 0; i < 100 && inFlight > 0; i += 1) await new Promise((r) => setTimeout(r, 50));
  };
  await call(huddle.url, 'POST', b('/start'), undefined, admin);
  await page.getByRole('heading', { name: `Moves : ${rooms[0].name}` }).waitFor();
  // Moved back and forth, as a moderator balancing rooms does: each move lands on its page.
  // Settled: the room's page is drawn whole (its panels asked for what they show) and answered.
  const drawn = async () => {
    await page.locator('section.content').getByText('Nothing here yet.').waitFor({ state: 'attached' });
    await settled();
  };
  for (let i = 0; i < 6; i += 1) {
    await drawn();
    const to = rooms[(i + 1) % 2];
    await call(huddle.url, 'POST', b('/move'), { person_id: ids.P1.id, breakout: to.id }, admin);
    await page.getByRole('heading', { name: `Moves : ${to.name}` }).waitFor();
  }
  await drawn();
  assert.deepEqual(missing, []);
});

test('"choose a room" goes once the participant has chosen one', async () => {
  const { room, rooms, ids, b } = await arrange('Choosing', 1, 2, { mode: 'free' });
  const page = await onRoom(ids.P1.email, room);
  await call(huddle.url, 'POST', b('/start'), undefined, admin);
  const notice = page.locator('p.notice');
  await notice.filter({ hasText: 'choose a room' }).waitFor();
  await tab(page, 'Breakout rooms');
  await page.getByRole('region', { name: 'Breakout rooms' }).getByRole('button', { name: `Choose ${rooms[1].name}` }).click();
  await page.getByRole('heading', { name: `Choosing : ${rooms[1].name}` }).waitFor();
  await notice.filter({ hasText: 'choose a room' }).waitFor({ state: 'detached' });
});

test('"a moderator is on the way" becomes "here" once the moderator is in the room', async () => {
  const { room, rooms, ids, b } = await arrange('Helping', 1, 1);
  await call(huddle.url, 'PUT', b(`/assignments/${ids.P1.id}`), { breakout: rooms[0].id }, admin);
  const page = await onRoom(ids.P1.email, room);
  const mo = await onRoom('mo@example.org', room);
  await call(huddle.url, 'POST', b('/start'), undefined, admin);
  await page.getByRole('heading', { name: `Helping : ${rooms[0].name}` }).waitFor();
  await page.getByRole('button', { name: 'Ask for help' }).click();
  await page.getByText('Help requested — a moderator will come.').waitFor();
  // The moderator takes the request from the pop-up and lands in the room.
  await mo.getByRole('button', { name: 'Join room', exact: true }).click();
  await mo.getByRole('heading', { name: `Helping : ${rooms[0].name}` }).waitFor();
  await tab(page, 'People');
  await page.locator('aside.members').getByText('Mo').waitFor();
  await page.getByText('A moderator is here.').waitFor();
  assert.equal(await page.getByText('A moderator is on the way.').count(), 0);
});

test('someone back before the round ends is not told they are back', async () => {
  const { room, rooms, ids, b } = await arrange('Returning', 1, 1, { return_to_main: true });
  await call(huddle.url, 'PUT', b(`/assignments/${ids.P1.id}`), { breakout: rooms[0].id }, admin);
  const page = await onRoom(ids.P1.email, room);
  await call(huddle.url, 'POST', b('/start'), undefined, admin);
  await page.getByRole('heading', { name: `Returning : ${rooms[0].name}` }).waitFor();
  await page.getByRole('button', { name: 'Return to the main room' }).click();
  await page.getByRole('heading', { name: 'Returning', exact: true }).waitFor();
  await tab(page, 'Breakout rooms');
  const rejoin = page.getByRole('region', { name: 'Breakout rooms' }).getByRole('button', { name: `Rejoin ${rooms[0].name}` });
  await rejoin.waitFor();
  await call(huddle.url, 'POST', b('/stop'), undefined, admin);
  // The round's end reaches the page (Rejoin goes with it), with no notice about coming back.
  await rejoin.waitFor({ state: 'detached' });
  await page.waitForTimeout(300);
  assert.equal(await page.locator('p.notice').filter({ hasText: 'back in the main room' }).count(), 0);
});

test('an upload shows at once, and no page reads the content list again for it', async () => {
  const { room, ids } = await arrange('Uploads', 1, 2);
  const mo = await onRoom('mo@example.org', room);
  const p1 = await onRoom(ids.P1.email, room);
  // The moderator's dashboard (with its shelf of documents) is open, as while running a class.
  await tab(mo, 'Breakout rooms');
  await mo.getByRole('region', { name: 'Room 2' }).waitFor();
  await tab(mo, 'Content');
  await tab(p1, 'Content');
  const reads = { mo: 0, p1: 0 };
  for (const [name, page] of [['mo', mo], ['p1', p1]]) {
    await page.getByRole('region', { name: 'Content' }).getByText('Nothing here yet.').waitFor();
    page.on('request', (request) => {
      if (request.method() === 'GET' && new URL(request.url()).pathname.endsWith('/content')) reads[name] += 1;
    });
  }
  await mo.getByLabel('Choose files to upload').setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('notes') });
  for (const page of [mo, p1]) await page.locator('li.item[data-title="notes.txt"]').waitFor();
  // The file deleted: both pages follow from the events alone.
  mo.once('dialog', (d) => d.accept());
  await mo.getByRole('button', { name: 'Delete notes.txt' }).click();
  for (const page of [mo, p1]) await page.locator('li.item[data-title="notes.txt"]').waitFor({ state: 'detached' });
  assert.deepEqual(reads, { mo: 0, p1: 0 });
});

test('a breakout room\'s page between rounds does not offer the main room\'s call as its own', async () => {
  const { room, rooms } = await arrange('Stage', 1, 1);
  const page = await onRoom('mo@example.org', room);
  const stage = page.getByRole('region', { name: 'Call' });
  await stage.getByRole('button', { name: 'Join call' }).waitFor();
  // Room 1's page, opened from the main room's list of breakout rooms: no round, the moderator is
  // in the main room.
  await tab(page, 'People');
  await page.locator('aside.members').getByRole('link', { name: rooms[0].name }).click();
  await page.getByRole('heading', { name: `Stage : ${rooms[0].name}` }).waitFor();
  await stage.getByText('This room\'s call is for the people in it; you are in the main room.').waitFor();
  assert.equal(await stage.getByRole('button', { name: 'Join call' }).count(), 0);
  // In the main room's call, the breakout room's page says whose call it is.
  await stage.getByRole('link', { name: 'Go to the main room' }).click();
  await page.getByRole('heading', { name: 'Stage', exact: true }).waitFor();
  await stage.getByRole('button', { name: 'Join call' }).click();
  await stage.getByRole('button', { name: 'Leave call' }).waitFor();
  await page.locator('aside.members').getByRole('link', { name: rooms[0].name }).click();
  await stage.getByText('You are in the call of the main room.').waitFor();
  await stage.getByRole('button', { name: 'Leave call' }).click();
});

test('a card that moved under the pointer just before the press is not dragged', async () => {
  const { room, rooms, ids, b } = await arrange('Dragging', 4, 2);
  const mo = await onRoom('mo@example.org', room);
  await tab(mo, 'Breakout rooms');
  const panel = mo.getByRole('region', { name: 'Breakout rooms' });
  const unassigned = panel.getByRole('region', { name: 'Unassigned' });
  const card = (name) => unassigned.locator(`[data-person="${name}"]`);
  await card('P4').waitFor();
  await unassigned.locator('[data-person="P2"][data-settled]').waitFor();
  // The moderator aims at P2; just before the press, P1 is assigned elsewhere and P3 takes P2's place.
  const aimed = await card('P2').boundingBox();
  const target = await panel.getByRole('region', { name: rooms[1].name }).boundingBox();
  await call(huddle.url, 'PUT', b(`/assignments/${ids.P1.id}`), { breakout: rooms[0].id }, admin);
  await mo.waitForFunction(({ y }) => {
    const el = document.querySelector('section[aria-label="Unassigned"] [data-person="P3"]');
    return el && Math.abs(el.getBoundingClientRect().y - y) < 2;
  }, { y: aimed.y });
  await mo.mouse.move(aimed.x + aimed.width / 2, aimed.y + aimed.height / 2);
  await mo.mouse.down();
  await mo.mouse.move(target.x + target.width / 2, target.y + target.height / 2, { steps: 10 });
  await mo.mouse.up();
  await panel.getByRole('alert').filter({ hasText: 'P3 moved just as you picked them up: nobody was moved.' }).waitFor();
  const session = await call(huddle.url, 'GET', b(''), undefined, admin);
  const assignment = (name) => session.people.find((p) => p.display_name === name).assignment ?? null;
  assert.deepEqual(['P2', 'P3', 'P4'].map(assignment), [null, null, null]);
  // Once it has stood still, the same card drags as usual.
  await unassigned.locator('[data-person="P3"][data-settled]').waitFor();
  await card('P3').locator('.name').dragTo(panel.getByRole('region', { name: rooms[1].name }));
  await panel.getByRole('region', { name: rooms[1].name }).locator('[data-person="P3"]').waitFor();
});
