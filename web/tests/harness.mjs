// Test harness: the real `huddle` binary on a loopback port with a temporary data directory, and
// Debian's Chromium driven by Playwright. Build the binary first (`cargo build` or `cargo test`).

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { before, after } from 'node:test';
import { chromium } from 'playwright-core';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function spawnHuddle(binary, bind, dataDir, extraArgs) {
  // The media server on a free UDP port too (it would take 10000 beside a fixed HTTP port),
  // unless the test binds it elsewhere.
  const media = extraArgs.includes('--media-bind') ? [] : ['--media-bind', '127.0.0.1:0'];
  const child = spawn(binary, ['serve', '--bind', bind, '--data-dir', dataDir, ...media, ...extraArgs], {
    env: { ...process.env, HUDDLE_LOG: process.env.HUDDLE_LOG ?? 'warn,str0m=error,dimpl=error' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout });
  const url = new Promise((resolve, reject) => {
    lines.once('line', (line) => resolve(line.split(' ').find((w) => w.startsWith('http://'))));
    child.once('exit', (code) => reject(new Error(`huddle exited with ${code}`)));
  });
  lines.on('line', () => {});
  return { child, url };
}

export async function startHuddle(extraArgs = []) {
  const binary = process.env.HUDDLE_BIN ?? join(root, 'target', 'debug', 'huddle');
  if (!existsSync(binary)) throw new Error(`no huddle binary at ${binary}: run cargo build first`);
  const dataDir = mkdtempSync(join(tmpdir(), 'huddle-web-'));
  let { child, url } = spawnHuddle(binary, '127.0.0.1:0', dataDir, extraArgs);
  url = await url;
  const exited = (c) => new Promise((resolve) => (c.exitCode !== null || c.signalCode !== null ? resolve() : c.once('exit', resolve)));
  return {
    url,
    dataDir,
    /** Kills the process with SIGKILL and starts it again on the same address and data. */
    async restart() {
      child.kill('SIGKILL');
      await exited(child);
      const again = spawnHuddle(binary, new URL(url).host, dataDir, extraArgs);
      child = again.child;
      await again.url;
    },
    /** Kills the process with SIGKILL (a crash), for good. */
    async kill() {
      child.kill('SIGKILL');
      await exited(child);
    },
    /** Asks the process to shut down (SIGTERM); one that is still there after 15 s is killed,
     * and said so, rather than holding the whole suite up. */
    async stop() {
      child.kill('SIGTERM');
      const late = setTimeout(() => {
        console.error(`huddle (${url}) did not shut down within 15 s of SIGTERM: killed`);
        child.kill('SIGKILL');
      }, 15_000);
      await exited(child);
      clearTimeout(late);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Debian's Chromium; `executablePath` runs it another way (in a network namespace), and
 * `extraArgs` are more command-line switches. */
export async function launchBrowser({ executablePath, extraArgs = [] } = {}) {
  return chromium.launch({
    executablePath: executablePath ?? process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: [...extraArgs, '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic',
      // Calls: fake devices without a prompt, WebRTC over 127.0.0.1 host candidates, media that
      // plays without a click.
      '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
      '--disable-features=WebRtcHideLocalIpsWithMdns', '--allow-loopback-in-peer-connection',
      '--autoplay-policy=no-user-gesture-required'],
  });
}

/** The password every test account uses. */
export const PASSWORD = 'correct horse battery';

/** Signs `email` in, in a new browser context, and waits for the room list. */
export async function signIn(browser, url, email, viewport = { width: 1280, height: 900 }) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  await page.goto(`${url}/signin`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'My rooms' }).waitFor();
  return page;
}

/** A JSON call to the API with a bearer token (for arranging a test, not for what it checks). */
export async function call(url, method, path, body, token) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(`${url}/api/v1${path}`, { method, headers, body: body && JSON.stringify(body) });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** Records every request a page makes to a host other than the Huddle server. */
export function watchForeignRequests(page, url) {
  const foreign = [];
  const own = new URL(url).host;
  page.on('request', (request) => {
    const host = new URL(request.url()).host;
    if (host && host !== own) foreign.push(request.url());
  });
  return foreign;
}

/**
 * Starts Huddle and Chromium before the file's tests and stops them after; `set(huddle, browser)`
 * hands them to the test file. `extraArgs` is a list of arguments for `huddle serve`, or a
 * function giving one once other `before` hooks have run (a port of a service they started).
 */
export function useHuddle(set, extraArgs = []) {
  let huddle;
  let browser;
  before(async () => {
    huddle = await startHuddle(typeof extraArgs === 'function' ? await extraArgs() : extraArgs);
    browser = await launchBrowser();
    set(huddle, browser);
  });
  after(async () => {
    await browser?.close();
    await huddle?.stop();
  });
}

/** Opens a tab of the room page's side panel (Chat, People, Breakout rooms, Content, Meetings,
 * Manage); the choice is kept for the page's visit, across rooms. */
export async function tab(page, name) {
  const button = page.getByRole('tab', { name: new RegExp(`^${name}`) });
  if ((await button.getAttribute('aria-selected')) !== 'true') await button.click();
}

/** The invitation link in the newest email to `to` in Huddle's outbox folder (no SMTP server is
 * configured, so Huddle writes its emails there). */
export async function emailedLink(huddle, to) {
  const dir = join(huddle.dataDir, 'outbox');
  for (let i = 0; i < 200; i += 1) {
    let files = [];
    try { files = readdirSync(dir); } catch { files = []; }
    const texts = files.map((f) => readFileSync(join(dir, f), 'utf8')).filter((t) => t.includes(`To: ${to}`));
    const match = texts.at(-1)?.replace(/=\r?\n/g, '').match(/\/invite\/[A-Za-z0-9_-]+/);
    if (match) return match[0];
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no email to ${to}`);
}

/** Moves a person on the dashboard with the keyboard alone: their Move button, Enter, arrow keys
 * to `place` ("Unassigned" or a room's name), Enter. */
export async function moveWithKeys(page, dashboard, name, place) {
  await dashboard.getByRole('button', { name: `Move ${name}`, exact: true }).focus();
  await page.keyboard.press('Enter');
  const menu = dashboard.getByRole('menu', { name: `Move ${name} to` });
  await menu.waitFor();
  const focused = () => page.evaluate(() => document.activeElement?.textContent?.trim());
  await page.waitForFunction(() => document.activeElement?.getAttribute('role') === 'menuitemradio');
  for (let i = 0; i < 50 && (await focused()) !== place; i++) {
    // One key at a time, each waited for, as a person watching the menu would.
    const before = await focused();
    await page.keyboard.press('ArrowDown');
    await page.waitForFunction((was) => document.activeElement?.textContent?.trim() !== was, before);
  }
  await page.keyboard.press('Enter');
  await menu.waitFor({ state: 'detached' });
}
