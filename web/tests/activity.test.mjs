// Room tasks in a real browser: a moderator gives every breakout room a task with a worksheet from
// the dashboard; when the round starts, a participant finds the task at the top of her room, opens
// the worksheet, hands in a text and then a file; the moderator's room card shows the result; at
// the end of the round the file lands in the main room's content, named by the room.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { call, PASSWORD, signIn, tab, useHuddle } from './harness.mjs';

const SHOTS = process.env.SCREENSHOTS_DIR;
let huddle;
let browser;
useHuddle((h, b) => { huddle = h; browser = b; });

test('rooms get their task at the start and hand back results that land in the main room', async () => {
  await call(huddle.url, 'POST', '/setup', { email: 'ada@example.org', password: PASSWORD, display_name: 'Ada' });
  const { token } = await call(huddle.url, 'POST', '/session', { email: 'ada@example.org', password: PASSWORD });
  const room = await call(huddle.url, 'POST', '/rooms', { name: 'History' }, token);
  await call(huddle.url, 'POST', '/accounts', { email: 'ann@example.org', password: PASSWORD, display_name: 'Ann' }, token);
  const member = await call(huddle.url, 'POST', `/rooms/${room.id}/members`, { email: 'ann@example.org' }, token);
  const b = `/rooms/${room.id}/breakout`;
  await call(huddle.url, 'PUT', b, { enabled: true, mode: 'manual', duration_secs: 900 }, token);
  const created = await call(huddle.url, 'POST', `${b}/rooms`, { names: ['Romans', 'Greeks'] }, token);
  const romans = created.rooms[0].id;
  await call(huddle.url, 'PUT', `${b}/assignments/${member.person_id}`, { breakout: romans }, token);
  await call(huddle.url, 'POST', `/rooms/${room.id}/content`, { kind: 'link', title: 'Worksheet', url: 'https://example.org/worksheet' }, token);

  // The moderator writes the task in the dashboard.
  const ada = await signIn(browser, huddle.url, 'ada@example.org');
  await ada.goto(`${huddle.url}/rooms/${room.id}`);
  await tab(ada, 'Breakout rooms');
  const panel = ada.getByRole('region', { name: 'Breakout rooms' });
  await panel.getByText('Tasks for the rooms').click();
  const editor = panel.getByRole('form', { name: 'Room tasks' });
  await editor.getByLabel('Task').fill('Write three facts about daily life, with a source for each.');
  await editor.getByLabel('Worksheet').check();
  await editor.getByRole('button', { name: 'Give the task' }).click();
  await editor.getByRole('status').filter({ hasText: 'Task given to every room.' }).waitFor();
  await panel.locator('[data-task="Romans"]').filter({ hasText: 'no result yet' }).waitFor();

  // Ann waits in the main room; the task is not hers to see before the round.
  const ann = await signIn(browser, huddle.url, 'ann@example.org');
  await ann.goto(`${huddle.url}/rooms/${room.id}`);
  await ann.getByRole('heading', { name: 'History', exact: true }).waitFor();
  assert.equal(await ann.getByRole('region', { name: 'Your task' }).count(), 0);

  await call(huddle.url, 'POST', `${b}/start`, undefined, token);
  const task = ann.getByRole('region', { name: 'Your task' });
  await task.getByText('Write three facts about daily life').waitFor();
  assert.equal(await task.getByRole('link', { name: 'Worksheet' }).getAttribute('href'), `/api/v1/rooms/${romans}/content/${(await call(huddle.url, 'GET', `/rooms/${romans}/content`, undefined, token)).items[0].id}`);
  if (SHOTS) await ann.screenshot({ path: `${SHOTS}/room-task.png` });

  // A text first, then a file replaces it.
  await task.getByLabel("Your room's result").fill('Bread, baths, and the forum.');
  await task.getByRole('button', { name: 'Hand in' }).click();
  await task.getByRole('status').filter({ hasText: /^Handed in at/ }).waitFor();
  await panel.locator('[data-task="Romans"]').filter({ hasText: 'Result: Result from Ann' }).waitFor();
  await task.getByLabel('or a file').setInputFiles({ name: 'facts.txt', mimeType: 'text/plain', buffer: Buffer.from('1. Bread\n2. Baths\n3. Forum\n') });
  await task.getByText('Handed in: facts.txt by Ann.').waitFor();
  await panel.locator('[data-task="Romans"]').filter({ hasText: 'Result: facts.txt from Ann' }).waitFor();

  // The round ends: the file is in the main room, named by its room.
  await call(huddle.url, 'POST', `${b}/stop`, undefined, token);
  await ann.getByRole('heading', { name: 'History', exact: true }).waitFor();
  await tab(ann, 'Content');
  await ann.getByRole('link', { name: 'Romans: facts.txt' }).waitFor();
  const listed = await call(huddle.url, 'GET', `/rooms/${room.id}/content`, undefined, token);
  const landed = listed.items.filter((i) => i.promoted_from).map((i) => i.title);
  assert.deepEqual(landed, ['Romans: facts.txt']);
  await ann.context().close();
  await ada.context().close();
});
