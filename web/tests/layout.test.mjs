// The room page laid out around the call, on a desktop and on a phone: the top bar with the room's
// title, the round's time left and "Ask for help" stays in view; the stage (the call) and a side
// panel with tabs share the width on a desktop; on a phone the stage is on top and the tabs are a
// bar at the bottom. Tabs work with the keyboard, and the chosen one is kept across rooms.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { call, PASSWORD, signIn, useHuddle } from './harness.mjs';

const SHOTS = process.env.SCREENSHOTS_DIR;
let huddle;
let browser;
useHuddle((h, b) => { huddle = h; browser = b; });

test('the room page: a top bar, the stage and tabs, on a desktop and on a phone', async () => {
  await call(huddle.url, 'POST', '/setup', { email: 'ada@example.org', password: PASSWORD, display_name: 'Ada' });
  const { token } = await call(huddle.url, 'POST', '/session', { email: 'ada@example.org', password: PASSWORD });
  await call(huddle.url, 'POST', '/accounts', { email: 'pia@example.org', password: PASSWORD, display_name: 'Pia' }, token);
  const room = await call(huddle.url, 'POST', '/rooms', { name: 'Class' }, token);
  await call(huddle.url, 'POST', `/rooms/${room.id}/members`, { email: 'pia@example.org' }, token);
  const pia = (await call(huddle.url, 'POST', '/session', { email: 'pia@example.org', password: PASSWORD })).person.id;
  const breakout = (tail) => `/rooms/${room.id}/breakout${tail}`;
  await call(huddle.url, 'PUT', breakout(''), { enabled: true, mode: 'manual', duration_secs: 900 }, token);
  const [red] = (await call(huddle.url, 'POST', breakout('/rooms'), { names: ['Red'] }, token)).rooms.map((r) => r.id);
  await call(huddle.url, 'PUT', breakout(`/assignments/${pia}`), { breakout: red }, token);
  for (let i = 0; i < 60; i++) await call(huddle.url, 'POST', `/rooms/${red}/messages`, { text: `line ${i}` }, token);

  // Desktop: the stage and the side panel side by side; tabs with arrow keys.
  const ada = await signIn(browser, huddle.url, 'ada@example.org');
  await ada.goto(`${huddle.url}/rooms/${room.id}`);
  await ada.getByRole('heading', { name: 'Class', exact: true }).waitFor();
  const stage = await ada.getByRole('region', { name: 'Stage' }).boundingBox();
  const tabs = await ada.getByRole('tablist', { name: 'Room panels' }).boundingBox();
  assert.ok(tabs.x >= stage.x + stage.width, `the side panel is beside the stage: ${JSON.stringify({ stage, tabs })}`);
  assert.deepEqual(await ada.getByRole('tab').allTextContents(), ['Chat', 'People', 'Breakout rooms', 'Content', 'Meetings', 'Manage']);
  await ada.getByRole('tab', { name: 'Chat' }).focus();
  await ada.keyboard.press('ArrowRight');
  assert.equal(await ada.getByRole('tab', { name: 'People' }).getAttribute('aria-selected'), 'true');
  assert.equal(await ada.evaluate(() => document.activeElement.textContent.trim()), 'People');
  await ada.getByRole('complementary', { name: 'Members' }).waitFor();
  assert.equal(await ada.getByRole('region', { name: 'Chat' }).isVisible(), false, 'one tab at a time');

  // A phone in a breakout room during a round: stage on top, tabs at the bottom of the screen, and
  // the time left and "Ask for help" in view even at the end of a long chat.
  await call(huddle.url, 'POST', breakout('/start'), null, token);
  const phone = await signIn(browser, huddle.url, 'pia@example.org', { width: 390, height: 844 });
  await phone.getByRole('link', { name: 'Class' }).click();
  await phone.getByRole('heading', { name: 'Class : Red' }).waitFor();
  const phoneStage = await phone.getByRole('region', { name: 'Stage' }).boundingBox();
  const bar = await phone.getByRole('tablist', { name: 'Room panels' }).boundingBox();
  assert.ok(Math.abs(bar.y + bar.height - 844) <= 1, `the tabs sit at the bottom: ${JSON.stringify(bar)}`);
  const chatBox = await phone.getByRole('region', { name: 'Chat' }).boundingBox();
  assert.ok(chatBox.y > phoneStage.y, 'the stage comes first');
  await phone.locator('.message .text', { hasText: 'line 59' }).scrollIntoViewIfNeeded();
  await phone.mouse.wheel(0, 5000);
  for (const target of [phone.getByRole('timer'), phone.getByRole('button', { name: 'Ask for help' })]) {
    const box = await target.boundingBox();
    assert.ok(box && box.y >= 0 && box.y + box.height <= 844, `in view after scrolling: ${JSON.stringify(box)}`);
  }
  if (SHOTS) {
    mkdirSync(SHOTS, { recursive: true });
    await phone.screenshot({ path: `${SHOTS}/room-phone.png` });
  }
  // The chosen tab is kept when the page moves between rooms.
  await phone.getByRole('tab', { name: 'Content' }).click();
  await call(huddle.url, 'POST', breakout('/stop'), null, token);
  await phone.getByRole('heading', { name: 'Class', exact: true }).waitFor();
  assert.equal(await phone.getByRole('tab', { name: 'Content' }).getAttribute('aria-selected'), 'true');
});
