// First run in a real browser: the setup page creates the first administrator and signs them in;
// signing out then offers sign-in (setup is done), and signing in works; signing out in another
// tab signs this one out too (the server closes the session's WebSockets).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useHuddle } from './harness.mjs';

let huddle;
let browser;
useHuddle((h, b) => { huddle = h; browser = b; });

test('the first administrator sets Huddle up, signs out and signs in again', async () => {
  const page = await (await browser.newContext()).newPage();
  await page.goto(huddle.url);
  await page.getByRole('heading', { name: 'Welcome to Huddle' }).waitFor();
  await page.getByLabel('Your name').fill('Ada');
  await page.getByLabel('Email').fill('ada@example.org');
  await page.getByLabel('Password').fill('correct horse battery');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('heading', { name: 'My rooms' }).waitFor();
  // A favicon of its own.
  const icon = await page.locator('link[rel="icon"]').getAttribute('href');
  const response = await page.request.get(`${huddle.url}${icon}`);
  assert.equal(response.status(), 200);
  assert.equal(response.headers()['content-type'], 'image/svg+xml');
  assert.match(await response.text(), /<svg/);

  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in to Huddle' }).waitFor();
  await page.getByLabel('Email').fill('ada@example.org');
  await page.getByLabel('Password').fill('correct horse battery');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'My rooms' }).waitFor();

  // Another tab of the same session signs out: this page goes to sign-in by itself.
  await page.getByRole('status').filter({ hasText: 'Connected' }).waitFor();
  const other = await page.context().newPage();
  await other.goto(huddle.url);
  await other.getByRole('heading', { name: 'My rooms' }).waitFor();
  await other.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in to Huddle' }).waitFor();
});
