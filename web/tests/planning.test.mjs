// Planning rounds in a real browser: a moderator loads a group plan prepared earlier (its rooms
// come back by name), saves the current assignment as a new plan, plans two rotation rounds in
// pairs (nobody meets the same person twice), starts and stops a schedule of rounds, and opens
// the session report with its timeline (two participants followed the rounds in their browsers).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { call, PASSWORD, signIn, tab, useHuddle } from './harness.mjs';

const SHOTS = process.env.SCREENSHOTS_DIR;
let huddle;
let browser;
useHuddle((h, b) => { huddle = h; browser = b; });

/** Who shares a room with whom on the dashboard, as sorted "A+B" strings. */
async function pairs(url, room, token) {
  const session = await call(url, 'GET', `/rooms/${room}/breakout`, undefined, token);
  const out = [];
  for (const r of session.rooms) {
    const people = [...r.assigned].sort();
    for (let i = 0; i < people.length; i++) for (let j = i + 1; j < people.length; j++) out.push(`${people[i]}+${people[j]}`);
  }
  return out;
}

test('a moderator loads a plan, plans rotation rounds and runs a schedule', async () => {
  await call(huddle.url, 'POST', '/setup', { email: 'ada@example.org', password: PASSWORD, display_name: 'Ada' });
  const { token } = await call(huddle.url, 'POST', '/session', { email: 'ada@example.org', password: PASSWORD });
  const room = await call(huddle.url, 'POST', '/rooms', { name: 'Seminar' }, token);
  const names = ['Ann', 'Ben', 'Cid', 'Dee'];
  for (const name of names) {
    const email = `${name.toLowerCase()}@example.org`;
    await call(huddle.url, 'POST', '/accounts', { email, password: PASSWORD, display_name: name }, token);
    await call(huddle.url, 'POST', `/rooms/${room.id}/members`, { email }, token);
  }
  const b = `/rooms/${room.id}/breakout`;
  await call(huddle.url, 'PUT', b, { enabled: true }, token);
  // A plan prepared before the session, for rooms that do not exist yet.
  await call(huddle.url, 'POST', `${b}/plans`, { name: 'Jigsaw', rooms: [
    { name: 'Experts', people: [{ email: 'ann@example.org' }, { email: 'ben@example.org' }] },
    { name: 'Novices', people: [{ email: 'cid@example.org' }, { email: 'dee@example.org' }] },
  ] }, token);

  // Two participants follow the session in their own browsers.
  const followers = [];
  for (const name of ['Ann', 'Ben']) {
    const page = await signIn(browser, huddle.url, `${name.toLowerCase()}@example.org`);
    await page.goto(`${huddle.url}/rooms/${room.id}`);
    await page.getByRole('heading', { name: 'Seminar', exact: true }).waitFor();
    followers.push(page);
  }
  const ada = await signIn(browser, huddle.url, 'ada@example.org');
  await ada.goto(`${huddle.url}/rooms/${room.id}`);
  await tab(ada, 'Breakout rooms');
  const panel = ada.getByRole('region', { name: 'Breakout rooms' });
  await panel.getByText('Plans and rotation').click();
  const plans = panel.getByRole('region', { name: 'Group plans' });
  await plans.getByText('2 rooms, 4 people').waitFor();

  // Loading the plan makes its rooms and assigns its people.
  await plans.getByRole('button', { name: 'Load Jigsaw' }).click();
  await plans.getByRole('status').filter({ hasText: 'Loaded Jigsaw: 4 assigned, 2 rooms made.' }).waitFor();
  await panel.getByRole('region', { name: 'Experts' }).locator('[data-person="Ann"]').waitFor();
  await panel.getByRole('region', { name: 'Novices' }).locator('[data-person="Dee"]').waitFor();

  // The current assignment saved as a plan of its own.
  await plans.getByLabel('Plan name').fill('Monday groups');
  await plans.getByRole('button', { name: 'Save current assignment as a plan' }).click();
  await plans.getByRole('button', { name: 'Load Monday groups' }).waitFor();
  const stored = await call(huddle.url, 'GET', `${b}/plans`, undefined, token);
  assert.deepEqual(stored.map((p) => p.name), ['Jigsaw', 'Monday groups']);

  // Editing a plan changes the plan, not the rooms people are in now.
  const live = await pairs(huddle.url, room.id, token);
  await plans.getByRole('button', { name: 'Edit Jigsaw' }).click();
  const editor = plans.getByRole('form', { name: 'Edit Jigsaw' });
  await editor.getByLabel('Rooms: one per line').fill('Experts: ann@example.org, cid@example.org\nNovices ben@example.org');
  await editor.getByRole('button', { name: 'Save Jigsaw' }).click();
  await panel.getByRole('alert').filter({ hasText: 'Line 2: write the room' }).waitFor();
  await editor.getByLabel('Rooms: one per line').fill('Experts: ann@example.org, cid@example.org\nNovices: ben@example.org, dee@example.org\nObservers:');
  await editor.getByRole('button', { name: 'Save Jigsaw' }).click();
  await plans.getByRole('status').filter({ hasText: 'Saved Jigsaw: 3 rooms, 4 people.' }).waitFor();
  const jigsaw = (await call(huddle.url, 'GET', `${b}/plans`, undefined, token)).find((p) => p.name === 'Jigsaw');
  assert.deepEqual(jigsaw.rooms.map((r) => [r.name, r.people.map((p) => p.email)]),
    [['Experts', ['ann@example.org', 'cid@example.org']], ['Novices', ['ben@example.org', 'dee@example.org']], ['Observers', []]]);
  assert.deepEqual(await pairs(huddle.url, room.id, token), live, 'the live assignment is as it was');

  // Two rotation rounds in pairs: the second avoids the first one's pairs.
  const rotation = panel.getByRole('region', { name: 'Rotation rounds' });
  await rotation.getByLabel('People per room').fill('2');
  await rotation.getByRole('button', { name: 'Plan a rotation round' }).click();
  await rotation.getByRole('status').filter({ hasText: 'Planned: 4 placed, nobody meets anyone again (0 earlier rounds today).' }).waitFor();
  const first = await pairs(huddle.url, room.id, token);
  assert.equal(first.length, 2);
  if (SHOTS) await ada.screenshot({ path: `${SHOTS}/rotation-setup.png`, fullPage: true });
  await call(huddle.url, 'POST', `${b}/start`, undefined, token);
  await call(huddle.url, 'POST', `${b}/stop`, undefined, token);
  await panel.getByRole('heading', { name: /^Breakout rooms\s*$/ }).waitFor();
  await rotation.getByRole('button', { name: 'Plan a rotation round' }).click();
  await rotation.getByRole('status').filter({ hasText: '(1 earlier round today)' }).waitFor();
  assert.match(await rotation.getByRole('status').textContent(), /nobody meets anyone again/);
  const second = await pairs(huddle.url, room.id, token);
  assert.equal(second.filter((p) => first.includes(p)).length, 0, `${second} after ${first}`);

  // A schedule: it starts its first round at once, and stops with its round.
  await rotation.getByLabel('Rounds').fill('2');
  await rotation.getByLabel('Minutes per round').fill('10');
  await rotation.getByRole('button', { name: 'Start the schedule' }).click();
  await rotation.getByText('Round 1 of 2 under way.').waitFor();
  await panel.getByRole('heading', { name: /running/ }).waitFor();
  // Ann asks for help (nobody answers before the round ends); Ada broadcasts.
  const ann = await call(huddle.url, 'POST', '/session', { email: 'ann@example.org', password: PASSWORD });
  await call(huddle.url, 'POST', `${b}/help`, undefined, ann.token);
  await call(huddle.url, 'POST', `${b}/broadcast`, { text: 'Two minutes left' }, token);
  await rotation.getByRole('button', { name: 'Stop the schedule' }).click();
  await rotation.getByRole('button', { name: 'Start the schedule' }).waitFor();
  const session = await call(huddle.url, 'GET', b, undefined, token);
  assert.deepEqual([session.status, session.schedule], ['idle', null]);

  // Constraints: Ann and Dee together; a class column from a CSV spread over the rooms.
  await rotation.getByText('Constraints').click();
  await rotation.getByLabel('Keep together').fill('Ann, Nobody');
  await rotation.getByRole('button', { name: 'Plan a rotation round' }).click();
  await panel.getByRole('alert').filter({ hasText: 'Keep together: nobody here is called Nobody.' }).waitFor();
  await rotation.getByLabel('Keep together').fill('ann, Dee');
  await rotation.getByLabel('Spread evenly by a column').setInputFiles({ name: 'classes.csv', mimeType: 'text/csv',
    buffer: Buffer.from('email,"class name"\r\nann@example.org,Red\r\nben@example.org,Red\r\ncid@example.org,Blue\r\ndee@example.org,Blue\r\n') });
  await rotation.getByText('classes.csv: 2 values of class name over 4 people').waitFor();
  await rotation.getByRole('button', { name: 'Plan a rotation round' }).click();
  await rotation.getByRole('status').filter({ hasText: 'Planned: 4 placed' }).waitFor();
  const placed = await pairs(huddle.url, room.id, token);
  const ids = Object.fromEntries((await call(huddle.url, 'GET', b, undefined, token)).people.map((p) => [p.display_name, p.person_id]));
  const pair = (x, y) => [ids[x], ids[y]].sort().join('+');
  assert.deepEqual(placed.sort(), [pair('Ann', 'Dee'), pair('Ben', 'Cid')].sort(), 'Ann with Dee, and each room one Red and one Blue');

  // The session report: a row per person who was here, bars in the rooms the rounds put them in.
  await panel.getByText('Session report').click();
  const report = panel.getByRole('region', { name: 'Session report' });
  const picture = report.getByRole('img', { name: /^Timeline of 3 people/ });
  await picture.waitFor();
  for (const name of ['Ada', 'Ann', 'Ben']) await picture.locator(`[data-person="${name}"] rect.stay`).first().waitFor();
  const annRooms = await picture.locator('[data-person="Ann"] rect.stay').evaluateAll((rects) => rects.map((r) => r.dataset.room));
  assert.ok(annRooms.includes('Seminar') && annRooms.some((r) => r !== 'Seminar'), `Ann's bars: ${annRooms}`);
  const adaRooms = await picture.locator('[data-person="Ada"] rect.stay').evaluateAll((rects) => rects.map((r) => r.dataset.room));
  assert.deepEqual([...new Set(adaRooms)], ['Seminar'], 'the moderator stayed in the main room');
  const minutesTable = report.getByRole('table', { name: 'Minutes per room' });
  await minutesTable.getByRole('rowheader', { name: 'Ann' }).waitFor();
  // Ann's wait for help is marked on her row and in the table; the broadcast is a line and a list.
  await picture.locator('[data-person="Ann"] rect.help-wait').waitFor();
  await minutesTable.getByRole('row', { name: /^Ann/ }).getByText(/unanswered/).waitFor();
  assert.equal(await picture.locator('line.broadcast-line').count(), 1);
  await report.getByRole('region', { name: 'Broadcasts' }).getByText('Ada: Two minutes left').waitFor();
  if (SHOTS) await panel.locator('details.report').screenshot({ path: `${SHOTS}/session-report.png` });

  // A participant sees their own row only.
  const annPage = followers[0];
  await tab(annPage, 'Breakout rooms');
  const annPanel = annPage.getByRole('region', { name: 'Breakout rooms' });
  await annPanel.getByText('My time in this session').click();
  const own = annPanel.getByRole('region', { name: 'My time in this session' });
  await own.getByRole('img', { name: /^Timeline of 1 person/ }).locator('[data-person="Ann"] rect.stay').first().waitFor();
  assert.equal(await own.getByRole('table', { name: 'Minutes per room' }).getByRole('rowheader').count(), 1);
  for (const page of followers) await page.context().close();
});
