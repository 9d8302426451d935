// An accessibility check with axe-core on every kind of page — setup, sign-in, the room list, the
// accounts page, a main room (each tab, as a moderator), a breakout room during a round (as a
// participant, on a phone) and an invitation — with no serious or critical violation allowed.
// (The contexts bypass the page's CSP only so that axe's script can be injected.)

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { call, emailedLink, PASSWORD, tab, useHuddle } from './harness.mjs';

const axePath = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
let huddle;
let browser;
useHuddle((h, b) => { huddle = h; browser = b; });

/** The serious and critical violations on the page as it is now. */
async function violations(page, what) {
  await page.addScriptTag({ path: axePath });
  const result = await page.evaluate(async () => window.axe.run(document, { resultTypes: ['violations'] }));
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${what}: ${v.id} (${v.impact}) — ${v.help}: ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
}

async function page(viewport = { width: 1280, height: 900 }) {
  const context = await browser.newContext({ viewport, bypassCSP: true });
  return context.newPage();
}

async function signIn(p, email) {
  await p.goto(`${huddle.url}/signin`);
  await p.getByLabel('Email').fill(email);
  await p.getByLabel('Password').fill(PASSWORD);
  await p.getByRole('button', { name: 'Sign in' }).click();
  await p.getByRole('heading', { name: 'My rooms' }).waitFor();
}

test('no serious or critical accessibility violations on any kind of page', async () => {
  const found = [];
  const first = await page();
  await first.goto(huddle.url);
  await first.getByRole('heading', { name: 'Welcome to Huddle' }).waitFor();
  found.push(...await violations(first, 'setup'));

  await call(huddle.url, 'POST', '/setup', { email: 'ada@example.org', password: PASSWORD, display_name: 'Ada' });
  const { token } = await call(huddle.url, 'POST', '/session', { email: 'ada@example.org', password: PASSWORD });
  await call(huddle.url, 'POST', '/accounts', { email: 'pia@example.org', password: PASSWORD, display_name: 'Pia' }, token);
  const room = await call(huddle.url, 'POST', '/rooms', { name: 'Class' }, token);
  await call(huddle.url, 'POST', `/rooms/${room.id}/members`, { email: 'pia@example.org' }, token);
  const pia = (await call(huddle.url, 'POST', '/session', { email: 'pia@example.org', password: PASSWORD })).person.id;
  await call(huddle.url, 'PUT', `/rooms/${room.id}/breakout`, { enabled: true, mode: 'manual', duration_secs: 900 }, token);
  const [red] = (await call(huddle.url, 'POST', `/rooms/${room.id}/breakout/rooms`, { names: ['Red', 'Blue'] }, token)).rooms.map((r) => r.id);
  await call(huddle.url, 'PUT', `/rooms/${room.id}/breakout/assignments/${pia}`, { breakout: red }, token);
  const invitation = await call(huddle.url, 'POST', `/rooms/${red}/invitations`, { emails: ['gail@example.org'] }, token);
  assert.ok(invitation);

  await first.goto(`${huddle.url}/signin`);
  await first.getByRole('heading', { name: 'Sign in to Huddle' }).waitFor();
  found.push(...await violations(first, 'sign-in'));

  const ada = await page();
  await signIn(ada, 'ada@example.org');
  found.push(...await violations(ada, 'my rooms'));
  await ada.getByRole('link', { name: 'Accounts' }).click();
  await ada.getByRole('heading', { name: 'Accounts', exact: true }).waitFor();
  await ada.locator('tr[data-email="pia@example.org"]').waitFor();
  found.push(...await violations(ada, 'accounts'));
  await ada.goto(`${huddle.url}/rooms/${room.id}`);
  await ada.getByRole('heading', { name: 'Class', exact: true }).waitFor();
  for (const name of ['Chat', 'People', 'Breakout rooms', 'Content', 'Meetings', 'Manage']) {
    await tab(ada, name);
    await ada.waitForTimeout(200);
    found.push(...await violations(ada, `main room, ${name}`));
  }

  await call(huddle.url, 'POST', `/rooms/${room.id}/breakout/start`, null, token);
  const phone = await page({ width: 390, height: 844 });
  await signIn(phone, 'pia@example.org');
  await phone.getByRole('link', { name: 'Class' }).click();
  await phone.getByRole('heading', { name: 'Class : Red' }).waitFor();
  await phone.getByRole('button', { name: 'Ask for help' }).waitFor();
  found.push(...await violations(phone, 'breakout room on a phone'));

  const guest = await page({ width: 390, height: 844 });
  await guest.goto(`${huddle.url}${await emailedLink(huddle, 'gail@example.org')}`);
  await guest.getByRole('button', { name: 'Join as a guest' }).waitFor();
  found.push(...await violations(guest, 'invitation'));

  assert.deepEqual(found, []);
});
