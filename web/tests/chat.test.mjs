// First run, sign-in and live chat in a real browser: an administrator sets Huddle up in one
// browser context, a second person signs in in another, and a message typed by one appears for the
// other at once, as text (no HTML injection).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { call, watchForeignRequests, PASSWORD, useHuddle, tab } from './harness.mjs';

let huddle;
let browser;
useHuddle((h, b) => { huddle = h; browser = b; });

test('first run, sign-in and live chat between two people', async () => {
  const admin = await browser.newContext();
  const page = await admin.newPage();
  const foreign = watchForeignRequests(page, huddle.url);
  const cspErrors = [];
  page.on('console', (m) => { if (m.type() === 'error') cspErrors.push(m.text()); });

  // While no account exists, the page offers the first-run setup.
  await page.goto(huddle.url);
  await page.getByRole('heading', { name: 'Welcome to Huddle' }).waitFor();
  await page.getByLabel('Your name').fill('Ada');
  await page.getByLabel('Email').fill('ada@example.org');
  await page.getByLabel('Password').fill('short');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('alert').filter({ hasText: 'at least 8 characters' }).waitFor();
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('heading', { name: 'My rooms' }).waitFor();
  await page.getByRole('status').filter({ hasText: 'Connected' }).waitFor();

  // Ada creates a room and adds Bob (Bob's account is arranged through the API).
  await page.getByLabel('New room name').fill('Maths <b>101</b>');
  await page.getByRole('button', { name: 'Create room' }).click();
  await page.getByRole('heading', { name: 'Maths <b>101</b>' }).waitFor();
  const roomId = page.url().split('/rooms/')[1];
  const { token } = await call(huddle.url, 'POST', '/session', { email: 'ada@example.org', password: PASSWORD });
  await call(huddle.url, 'POST', '/accounts', { email: 'bob@example.org', password: PASSWORD, display_name: 'Bob' }, token);
  await call(huddle.url, 'POST', `/rooms/${roomId}/members`, { email: 'bob@example.org' }, token);
  await tab(page, 'People');
  await page.getByRole('complementary', { name: 'Members' }).getByText('Bob').waitFor();
  await tab(page, 'Chat');

  // Bob signs in elsewhere and opens the room from his list.
  const bobContext = await browser.newContext({ viewport: { width: 390, height: 844 } });
  const bob = await bobContext.newPage();
  await bob.goto(`${huddle.url}/signin`);
  await bob.getByLabel('Email').fill('bob@example.org');
  await bob.getByLabel('Password').fill('wrong password');
  await bob.getByRole('button', { name: 'Sign in' }).click();
  await bob.getByRole('alert').filter({ hasText: 'wrong email or password' }).waitFor();
  await bob.getByLabel('Password').fill(PASSWORD);
  await bob.getByRole('button', { name: 'Sign in' }).click();
  await bob.getByRole('link', { name: 'Maths <b>101</b>' }).click();
  await bob.getByRole('status').filter({ hasText: 'Connected' }).waitFor();

  // A message typed by Ada appears for Bob at once, as text.
  const message = 'Hello <img src=x onerror=alert(1)> everyone';
  await page.getByLabel('Message').fill(message);
  await page.keyboard.press('Enter');
  await bob.locator('.message .text', { hasText: message }).waitFor();
  assert.equal(await bob.locator('.messages img').count(), 0, 'no HTML from a message reaches the page');
  await bob.getByLabel('Message').fill('Hi Ada');
  await bob.getByRole('button', { name: 'Send' }).click();
  await page.locator('.message .text', { hasText: 'Hi Ada' }).waitFor();

  assert.deepEqual(foreign, [], 'the page asks no other host for anything');
  assert.deepEqual(cspErrors.filter((e) => e.includes('Content Security Policy')), []);
  const response = await page.request.get(huddle.url);
  const csp = response.headers()['content-security-policy'];
  assert.match(csp, /script-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline/);
  await bobContext.close();
  await admin.close();
});
