// The API's human page (/api/docs, Swagger UI served from the binary) works offline under its
// Content-Security-Policy: it draws the operations, breaks no rule of the policy, and asks no
// other host for anything.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useHuddle, watchForeignRequests } from './harness.mjs';

let huddle;
let browser;
useHuddle((h, b) => { huddle = h; browser = b; });

test('the API docs page draws under its content security policy', async () => {
  const page = await (await browser.newContext()).newPage();
  const foreign = watchForeignRequests(page, huddle.url);
  await page.addInitScript(() => {
    window.__violations = [];
    document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  const response = await page.goto(`${huddle.url}/api/docs/`);
  assert.match(response.headers()['content-security-policy'], /script-src 'self'/);
  await page.getByText('Huddle API').first().waitFor();
  await page.locator('.opblock-summary-path', { hasText: '/api/v1/rooms/{room}/breakout' }).first().waitFor();
  assert.deepEqual(await page.evaluate(() => window.__violations), []);
  assert.deepEqual(foreign, []);
});
