// A call across a cluster in real browsers: two Huddle nodes on one PostgreSQL schema and a NATS
// server of the test's own. Node A serves the room; Ada's and P1's pages are on node B, so their
// call requests reach A over NATS and their media goes to A's media server. Then A is killed: B
// takes the room over and tells the pages that the call moved, and they join again by themselves
// on B's media server, on the same pages. Skipped without HUDDLE_TEST_POSTGRES (as the Rust
// cluster suite is).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { createServer, connect } from 'node:net';
import { existsSync } from 'node:fs';
import { call, launchBrowser, startHuddle, PASSWORD } from './harness.mjs';
import { person, studio, expectRoom } from './media.mjs';

const PG = process.env.HUDDLE_TEST_POSTGRES;
const schema = `huddle_web_${process.pid}_${Date.now()}`;
let nats;
let a;
let b;
let c;
let node;
let browser;

function freePort() {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function listening(port) {
  for (let i = 0; i < 200; i++) {
    const up = await new Promise((resolve) => {
      const socket = connect(port, '127.0.0.1', () => { socket.end(); resolve(true); });
      socket.on('error', () => resolve(false));
    });
    if (up) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on ${port}`);
}

/** Whether the node at `url` serves `room`, from /healthz as an administrator sees it. */
async function serves(url, token, room) {
  const response = await fetch(`${url}/healthz`, { headers: { authorization: `Bearer ${token}` } });
  const health = await response.json();
  return (health.cluster?.rooms ?? []).includes(room);
}

before(async () => {
  if (!PG) return;
  execFileSync('psql', [PG, '-q', '-c', `CREATE SCHEMA ${schema}`]);
  const url = `${PG}${PG.includes('?') ? '&' : '?'}options=-c%20search_path%3D${schema}`;
  const port = await freePort();
  const program = existsSync('/usr/sbin/nats-server') ? '/usr/sbin/nats-server' : 'nats-server';
  nats = spawn(program, ['-a', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  await listening(port);
  node = (id) => ['--database-url', url, '--nats-url', `nats://127.0.0.1:${port}`, '--node-id', id];
  a = await startHuddle(node('web-a'));
  b = await startHuddle(node('web-b'));
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await c?.stop();
  await b?.kill(); // killed by the tests already, unless they failed before
  await a?.kill();
  nats?.kill();
  if (PG) execFileSync('psql', [PG, '-q', '-c', `DROP SCHEMA IF EXISTS ${schema} CASCADE`]);
});

/**
 * Ada's and P1's pages at `url`, in the call of `room` (named `name`), each with its calls
 * reachable as `window.__activeCalls`.
 */
async function inCall(url, room, name) {
  const pages = {};
  for (const who of ['Ada', 'P1']) {
    const page = await person(browser, url, who);
    await page.goto(`${url}/rooms/${room.id}`);
    await page.getByRole('heading', { name, exact: true }).waitFor();
    await page.getByRole('region', { name: 'Call' }).getByRole('button', { name: 'Join call' }).click();
    await page.evaluate(async () => {
      window.__activeCalls = (await import('/assets/call/call.js')).activeCalls;
    });
    pages[who] = page;
  }
  return pages;
}

/** Waits until each page has set its call's connection up a second time and joined with it (its
 * answer arrived: `reconnecting` is over). */
async function rejoined(pages) {
  for (const page of Object.values(pages)) {
    await page.waitForFunction(() => {
      const c = window.__activeCalls()[0];
      return c?.connections === 2 && c?.status === 'joined' && !c?.reconnecting;
    }, null, { timeout: 15_000, polling: 20 });
  }
}

test('a call through another node moves with the room when its node dies', { skip: !PG && 'HUDDLE_TEST_POSTGRES is not set' }, async () => {
  const { room } = await studio(a.url, 'Across nodes');
  const { token } = await call(a.url, 'POST', '/session', { email: 'ada@example.org', password: PASSWORD });
  assert.ok(await serves(a.url, token, room.id), 'node A serves the room it created');

  const pages = await inCall(b.url, room, 'Across nodes');
  await expectRoom(pages.Ada, ['P1'], 'through node B, on A\'s media server');
  await expectRoom(pages.P1, ['Ada'], 'through node B, on A\'s media server');
  assert.ok(!(await serves(b.url, token, room.id)), 'node B only follows the room');

  const connections = (page) => page.evaluate(async () => {
    const { activeCalls } = await import('/assets/call/call.js');
    return activeCalls()[0].connections;
  });
  for (const name of ['Ada', 'P1']) {
    assert.equal(await connections(pages[name]), 1, `${name}'s page joined once`);
  }
  await a.kill();
  const killed = Date.now();
  // Each page hears that the call moved and sets its connection up again, by itself, once; then
  // it sees and hears the other again (through the new connection's receivers).
  await rejoined(pages);
  await expectRoom(pages.Ada, ['P1'], 'after node A died');
  await expectRoom(pages.P1, ['Ada'], 'after node A died');
  console.log(`the call came back in the browsers ${Date.now() - killed} ms after node A was killed`);
  assert.ok(await serves(b.url, token, room.id), 'node B took the room over');
  for (const name of ['Ada', 'P1']) {
    assert.equal(await connections(pages[name]), 2, `${name}'s page set its connection up again once`);
  }
});

/**
 * A TCP proxy standing for the load balancer: it forwards to one node, and can hold the
 * connections arriving meanwhile until it is pointed at another.
 */
async function balancer(port) {
  let target = port;
  let held = null; // while set: a promise of the release
  let release = () => {};
  const links = new Set();
  const server = createServer(async (inbound) => {
    links.add(inbound);
    inbound.on('error', () => {});
    inbound.on('close', () => links.delete(inbound));
    if (held) await held;
    const outbound = connect(target, '127.0.0.1');
    outbound.on('error', () => inbound.destroy());
    inbound.on('close', () => outbound.destroy());
    outbound.on('close', () => inbound.destroy());
    inbound.pipe(outbound).pipe(inbound);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    /** New connections wait from now on. */
    hold() { held = new Promise((resolve) => { release = resolve; }); },
    /** Sends the waiting connections, and every later one, to `port`. */
    pointAt(port) { target = port; held = null; release(); },
    close() { for (const link of links) link.destroy(); server.close(); },
  };
}

test('a page whose WebSocket comes back only after the takeover joins the call on the new node', { skip: !PG && 'HUDDLE_TEST_POSTGRES is not set' }, async () => {
  // After the first test node B serves everything; C joins the cluster. The pages reach B through
  // the balancer. B dies, and C takes the room over before the pages' WebSockets come back (the
  // balancer holds them meanwhile): nobody on C was there to hear that the call moved, so only the
  // `hello` can say so (it names the node serving the call).
  c = await startHuddle(node('web-c'));
  const port = (url) => Number(new URL(url).port);
  const lb = await balancer(port(b.url));
  const { token } = await call(lb.url, 'POST', '/session', { email: 'ada@example.org', password: PASSWORD });
  const room = await call(lb.url, 'POST', '/rooms', { name: 'After the takeover' }, token);
  await call(lb.url, 'POST', `/rooms/${room.id}/members`, { email: 'p1@example.org' }, token);
  assert.ok(await serves(b.url, token, room.id), 'node B serves the room it created');
  const pages = await inCall(lb.url, room, 'After the takeover');
  await expectRoom(pages.Ada, ['P1'], 'on B');
  await expectRoom(pages.P1, ['Ada'], 'on B');

  lb.hold();
  await b.kill();
  // A message through C reaches nobody on B: C takes the room over and answers.
  const posted = await fetch(`${c.url}/api/v1/rooms/${room.id}/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ text: 'Still here' }),
  });
  assert.equal(posted.status, 201, await posted.text());
  assert.ok(await serves(c.url, token, room.id), 'node C took the room over');
  lb.pointAt(port(c.url));

  // Each page's WebSocket comes back to C, whose hello names C as the call's node: the page joins
  // again there at once, without waiting for its old connection's ICE to fail (no ICE restart).
  await rejoined(pages);
  await expectRoom(pages.Ada, ['P1'], 'on C');
  await expectRoom(pages.P1, ['Ada'], 'on C');
  for (const name of ['Ada', 'P1']) {
    const restarts = await pages[name].evaluate(() => window.__activeCalls()[0].restarts ?? 0);
    assert.equal(restarts, 0, `${name}'s page joined again from its hello, not after an ICE failure`);
  }
  lb.close();
});
