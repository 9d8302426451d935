// Browser benchmark of room moves: the time from a move to the first decoded video frame of the
// new room at the person who moved, with real Chromium pages on both servers.
//
//   - Huddle (built-in SFU): the mover keeps ONE PeerConnection for the whole run; the moderator's
//     `POST /api/v1/rooms/{main}/breakout/move` only changes which sources feed its receive slots.
//     t0 = Date.now() in Node immediately before that request.
//   - Janus VideoRoom (the peers' way): per move the mover leaves and detaches its subscriber
//     handle, closes that PeerConnection, attaches a new handle, joins the new room as a
//     subscriber to its three feeds and answers Janus's offer on a NEW PeerConnection (ICE+DTLS).
//     t0 = the page's clock just before the `leave` request.
//
// Same layout as examples/calls_bench: two breakout rooms of three senders each and one mover,
// moved A->B->A... `--moves` times (default 50), with a short pause between moves. Each sender is
// its own browser context whose camera is a 160x120 canvas of one colour (20 fps) and whose
// microphone is an oscillator. The mover's page watches every <video> element it has with
// requestVideoFrameCallback, reads the centre pixel of each decoded frame and stops the clock at
// the first frame whose colour is one of the new room's senders (±40 per channel), on
// performance.timeOrigin + performance.now() in that callback. On Huddle the videos are the
// room page's own tiles plus one small probe <video> per receive slot (the slot's track as is);
// on Janus, one <video> per track of the current subscription. The sample is the earliest of
// them; the per-kind times and the frame's rVFC receiveTime are printed and kept too.
// A move with no such frame within --timeout-ms is a failure, listed apart. The table also gives
// the PeerConnections the mover's page constructed (Huddle: 1 for the whole run).
//
// Run it through the wrapper, which starts Janus (and needs target/release/huddle):
//   bench/browser-moves.sh [--moves 50] [--out moves.json] [--only huddle|janus]
// or directly, with a Janus from bench/janus/start.sh:
//   node web/bench/moves.mjs --janus http://127.0.0.1:18088/janus [--moves N] [--out FILE]
//       [--only huddle|janus] [--pause-ms 300] [--timeout-ms 5000]
//       [--janus-signalling trickle|gather] [--janus-client-dtls active|passive] [--debug]
// HUDDLE_BIN overrides the server binary (default target/release/huddle); CHROMIUM the browser.

import http from 'node:http';
import { loadavg, cpus } from 'node:os';
import { writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startHuddle, launchBrowser, call, PASSWORD } from '../tests/harness.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
process.env.HUDDLE_BIN ??= join(root, 'target', 'release', 'huddle');

const { values: opts } = parseArgs({
  options: {
    janus: { type: 'string' },
    moves: { type: 'string', default: '50' },
    out: { type: 'string' },
    only: { type: 'string' },
    'pause-ms': { type: 'string', default: '300' },
    'timeout-ms': { type: 'string', default: '5000' },
    tolerance: { type: 'string', default: '40' },
    'janus-signalling': { type: 'string', default: 'trickle' },
    'janus-client-dtls': { type: 'string', default: 'active' },
    debug: { type: 'boolean', default: false },
  },
});
const MOVES = Number(opts.moves);
const PAUSE_MS = Number(opts['pause-ms']);
const TIMEOUT_MS = Number(opts['timeout-ms']);
const TOLERANCE = Number(opts.tolerance);
if (!(MOVES > 0)) throw new Error('--moves: a positive number');
if (opts.only && !['huddle', 'janus'].includes(opts.only)) throw new Error('--only huddle|janus');
if (!['trickle', 'gather'].includes(opts['janus-signalling'])) throw new Error('--janus-signalling trickle|gather');
if (!['active', 'passive'].includes(opts['janus-client-dtls'])) throw new Error('--janus-client-dtls active|passive');
const runHuddle = opts.only !== 'janus';
const runJanus = opts.only !== 'huddle';
if (runJanus && !opts.janus) throw new Error('--janus URL is needed (or --only huddle)');

/** The six senders: three per breakout room, each a camera of one colour and a tone. Saturated
 * primaries and secondaries: through Janus, Chromium decodes mid-range colours with a different
 * YUV matrix than it encoded them (e.g. [40,200,60] comes out [45,243,59]), while these stay
 * within ~10 of themselves, and any two differ by 255 in some channel. */
const SENDERS = [
  { name: 'A1', room: 0, color: [255, 0, 0], pitch: 330 },
  { name: 'A2', room: 0, color: [0, 255, 0], pitch: 440 },
  { name: 'A3', room: 0, color: [0, 0, 255], pitch: 550 },
  { name: 'B1', room: 1, color: [255, 255, 0], pitch: 660 },
  { name: 'B2', room: 1, color: [255, 0, 255], pitch: 770 },
  { name: 'B3', room: 1, color: [0, 255, 255], pitch: 880 },
];
const ROOM_NAMES = ['A', 'B'];
const colorsOf = (room) => SENDERS.filter((s) => s.room === room).map((s) => s.color);
const nameOfColor = (room, index) => SENDERS.filter((s) => s.room === room)[index]?.name;

const log = (...args) => console.error(`[${new Date().toISOString().slice(11, 23)}]`, ...args);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------
// What every page gets before its own scripts run (Playwright serialises this function).

function benchPage({ color, pitch, devices, tolerance }) {
  const now = () => performance.timeOrigin + performance.now();

  // Count every PeerConnection the page makes.
  const Native = window.RTCPeerConnection;
  let made = 0;
  window.RTCPeerConnection = class extends Native {
    constructor(...args) {
      super(...args);
      made += 1;
    }
  };

  // Devices: a canvas of one colour and an oscillator, or none at all (the mover only receives).
  navigator.mediaDevices.getUserMedia = async (constraints) => {
    if (!devices) throw new DOMException('this page has no devices', 'NotAllowedError');
    const tracks = [];
    if (constraints.audio) {
      const ctx = new AudioContext();
      const tone = ctx.createOscillator();
      tone.frequency.value = pitch;
      const gain = ctx.createGain();
      gain.gain.value = 0.3;
      const sink = ctx.createMediaStreamDestination();
      tone.connect(gain).connect(sink);
      tone.start();
      tracks.push(sink.stream.getAudioTracks()[0]);
    }
    if (constraints.video) {
      const canvas = document.createElement('canvas');
      canvas.width = 160;
      canvas.height = 120;
      const g = canvas.getContext('2d');
      let tick = 0;
      const paint = () => {
        g.fillStyle = `rgb(${color.join(',')})`;
        g.fillRect(0, 0, 160, 120);
        // A blinking corner, so that every frame differs and the capture keeps producing frames.
        g.fillStyle = tick++ % 2 ? '#000' : '#fff';
        g.fillRect(0, 0, 6, 6);
      };
      paint();
      setInterval(paint, 50);
      tracks.push(canvas.captureStream(20).getVideoTracks()[0]);
    }
    return new MediaStream(tracks);
  };

  // The detector: every <video> the page has gets a requestVideoFrameCallback loop; while a watch
  // is armed, each presented frame's centre pixel is compared with the watched colours. A video
  // marked data-bench="slot" shows a receiver's track directly; any other video is a UI tile.
  const probe = document.createElement('canvas');
  probe.width = 16;
  probe.height = 12;
  const pg = probe.getContext('2d', { willReadFrequently: true });
  const centre = (video) => {
    pg.drawImage(video, 0, 0, 16, 12);
    return [...pg.getImageData(8, 6, 1, 1).data.slice(0, 3)];
  };
  const near = (a, b) => a.every((v, i) => Math.abs(v - b[i]) <= tolerance);
  const hooked = new WeakSet();
  let videos = 0;
  let watch = null;
  const hook = (video) => {
    if (hooked.has(video)) return;
    hooked.add(video);
    const id = ++videos;
    const onFrame = (_, meta) => {
      const at = now();
      const w = watch;
      if (w && video.videoWidth > 0 && !w.seen.has(id)) {
        const kind = video.dataset.bench || 'tile';
        const rgb = centre(video);
        const index = w.colors.findIndex((c) => near(rgb, c));
        if (index >= 0) {
          // Also kept: when the frame's last packet arrived and when it is to be shown, both on
          // the page's clock.
          const hit = {
            at, rgb, color: index, video: id,
            receive: meta.receiveTime === undefined ? null : performance.timeOrigin + meta.receiveTime,
            presentation: performance.timeOrigin + meta.presentationTime,
          };
          w.seen.add(id);
          w.all.push({ kind, ...hit });
          if (!w.first) w.first = { kind, ...hit };
          if (!w.hits[kind]) {
            w.hits[kind] = hit;
            w.changed();
          }
        }
      }
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  };
  const scan = (node) => {
    if (node.nodeName === 'VIDEO') hook(node);
    else if (node.querySelectorAll) node.querySelectorAll('video').forEach(hook);
  };
  new MutationObserver((records) => {
    for (const r of records) r.addedNodes.forEach(scan);
  }).observe(document, { childList: true, subtree: true });

  window.__bench = {
    now,
    pcs: () => made,
    /** Starts watching for the first frame of one of `colors`. */
    arm(colors) {
      document.querySelectorAll('video').forEach(hook);
      watch = { colors, hits: {}, all: [], seen: new Set(), changed: () => {} };
    },
    /** Waits until every kind in `kinds` has had a matching frame, but no more than `graceMs`
     * after the first one, nor `ms` in all; then disarms. Answers the first hit of each kind
     * (kind -> {at, rgb, color, ...}), the first of all (`first`) and each video's first (`all`). */
    async wait(kinds, ms, graceMs = 1000) {
      const w = watch;
      if (!w) throw new Error('not armed');
      await new Promise((resolve) => {
        const done = () => kinds.every((k) => w.hits[k]);
        if (done()) return resolve();
        let grace = null;
        const timer = setTimeout(resolve, Math.max(0, ms));
        const finish = () => { clearTimeout(timer); clearTimeout(grace); resolve(); };
        w.changed = () => {
          if (done()) finish();
          else if (w.first && !grace) grace = setTimeout(finish, graceMs);
        };
        if (w.first) w.changed();
      });
      if (watch === w) watch = null;
      return { ...w.hits, first: w.first ?? null, all: w.all };
    },
    /** The centre colour of every video that shows something now. */
    seen() {
      return [...document.querySelectorAll('video')]
        .filter((v) => v.videoWidth > 0)
        .map((v) => ({ kind: v.dataset.bench || 'tile', rgb: centre(v) }));
    },
    /** Which of `colors` the videos of `kind` show now. */
    showing(colors, kind) {
      const found = new Set();
      for (const s of this.seen()) {
        if (kind && s.kind !== kind) continue;
        const i = colors.findIndex((c) => near(s.rgb, c));
        if (i >= 0) found.add(i);
      }
      return [...found].sort();
    },
  };
}

/** Janus's HTTP API from the page (the transport sends CORS headers), publishing and subscribing
 * with the page's own RTCPeerConnections. Written for this benchmark; janus.js was not used. */
function janusPage({ url, signalling, clientDtls }) {
  const now = () => performance.timeOrigin + performance.now();
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  let counter = 0;
  const transaction = () => `p${++counter}${Math.random().toString(36).slice(2, 8)}`;
  // A text/plain body keeps these "simple" CORS requests: no preflight.
  const post = async (path, body) => {
    const response = await fetch(`${url}${path}`, { method: 'POST', body: JSON.stringify({ ...body, transaction: transaction() }) });
    return response.json();
  };
  // Only 127.0.0.1 UDP host candidates go to Janus, so nothing but loopback is ever tried.
  const loopback = (line) => line.split(' ')[2]?.toLowerCase() === 'udp' && line.split(' ')[4]?.startsWith('127.');
  const loopbackSdp = (sdp) => sdp.split('\r\n').filter((l) => !l.startsWith('a=candidate:') || loopback(l.slice(2))).join('\r\n');
  const gathered = (pc) => new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    pc.addEventListener('icegatheringstatechange', () => { if (pc.iceGatheringState === 'complete') resolve(); });
  });

  class Session {
    async open() {
      const created = await post('', { janus: 'create' });
      if (created.janus !== 'success') throw new Error(`create: ${JSON.stringify(created)}`);
      this.id = created.data.id;
      this.waiters = new Map();
      this.alive = true;
      this.poll();
      this.keepalive = setInterval(() => post(`/${this.id}`, { janus: 'keepalive' }), 20000);
      return this;
    }

    async poll() {
      while (this.alive) {
        let events;
        try {
          const response = await fetch(`${url}/${this.id}?maxev=20&rid=${Date.now()}`, { cache: 'no-store' });
          events = await response.json();
        } catch {
          await sleep(100);
          continue;
        }
        for (const event of Array.isArray(events) ? events : [events]) {
          const waiter = event.transaction && this.waiters.get(event.transaction);
          if (waiter) {
            this.waiters.delete(event.transaction);
            waiter(event);
          }
        }
      }
    }

    async attach() {
      const r = await post(`/${this.id}`, { janus: 'attach', plugin: 'janus.plugin.videoroom' });
      if (r.janus !== 'success') throw new Error(`attach: ${JSON.stringify(r)}`);
      return r.data.id;
    }

    async detach(handle) {
      await post(`/${this.id}/${handle}`, { janus: 'detach' });
    }

    async trickle(handle, candidate) {
      await post(`/${this.id}/${handle}`, { janus: 'trickle', candidate });
    }

    /** A plugin request; for an asynchronous one, waits for the event with its transaction. */
    async message(handle, body, jsep) {
      const t = transaction();
      const reply = new Promise((resolve, reject) => {
        this.waiters.set(t, resolve);
        setTimeout(() => reject(new Error(`no reply to ${body.request} within 10 s`)), 10000);
      });
      const response = await fetch(`${url}/${this.id}/${handle}`, {
        method: 'POST', body: JSON.stringify({ janus: 'message', transaction: t, body, ...(jsep ? { jsep } : {}) }),
      });
      const r = await response.json();
      const event = r.janus === 'ack' ? await reply : r;
      if (r.janus !== 'ack') this.waiters.delete(t);
      reply.catch(() => {});
      const data = event.plugindata?.data;
      if (event.janus === 'error' || data?.error_code) {
        const err = new Error(`${body.request}: ${JSON.stringify(event.error ?? data)}`);
        err.code = data?.error_code ?? event.error?.code;
        throw err;
      }
      return event;
    }

    close() {
      this.alive = false;
      clearInterval(this.keepalive);
      return post(`/${this.id}`, { janus: 'destroy' }).catch(() => {});
    }
  }

  let session = null;
  const shelf = () => {
    let el = document.getElementById('videos');
    if (!el) {
      el = document.createElement('div');
      el.id = 'videos';
      document.body.append(el);
    }
    return el;
  };
  const videoFor = (track) => {
    const v = document.createElement('video');
    v.muted = true;
    v.autoplay = true;
    v.playsInline = true;
    v.width = 160;
    v.height = 120;
    v.dataset.bench = 'slot';
    v.srcObject = new MediaStream([track]);
    shelf().append(v);
    return v;
  };

  /** A subscription to `feeds` of `room` on a new handle and a new PeerConnection; `stages`
   * gets the time (ms after t0) each step finished. */
  async function subscribe(room, feeds, stages = {}, t0 = now()) {
    const mark = (what) => { stages[what] = now() - t0; };
    const handle = await session.attach();
    mark('attached');
    const body = { request: 'join', ptype: 'subscriber', room, streams: feeds.map((feed) => ({ feed })) };
    let joined;
    for (let i = 0; ; i++) {
      try {
        joined = await session.message(handle, body);
        break;
      } catch (err) {
        // 428: a feed whose media has just come up is not announced yet.
        if (err.code !== 428 || i >= 50) throw err;
        await sleep(20);
      }
    }
    mark('offer');
    const pc = new RTCPeerConnection({ iceServers: [], bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' });
    const videos = [];
    const audios = [];
    pc.ontrack = (e) => {
      if (e.track.kind === 'video') videos.push(videoFor(e.track));
      else {
        const a = document.createElement('audio');
        a.autoplay = true;
        a.srcObject = new MediaStream([e.track]);
        audios.push(a);
      }
    };
    pc.addEventListener('iceconnectionstatechange', () => {
      if (pc.iceConnectionState === 'connected' && stages.ice === undefined) mark('ice');
    });
    pc.addEventListener('connectionstatechange', () => {
      if (pc.connectionState === 'connected' && stages.dtls === undefined) mark('dtls');
    });
    const trickled = [];
    if (signalling === 'trickle') {
      // As janus.js does: each candidate as it comes, then "completed".
      pc.onicecandidate = (e) => {
        if (e.candidate && !loopback(e.candidate.candidate)) return;
        const candidate = e.candidate
          ? { candidate: e.candidate.candidate, sdpMid: e.candidate.sdpMid, sdpMLineIndex: e.candidate.sdpMLineIndex }
          : { completed: true };
        trickled.push(session.trickle(handle, candidate).catch(() => {}));
      };
    }
    await pc.setRemoteDescription(joined.jsep);
    const answer = await pc.createAnswer();
    if (clientDtls === 'passive') answer.sdp = answer.sdp.replace(/a=setup:active/g, 'a=setup:passive');
    await pc.setLocalDescription(answer);
    mark('answer');
    if (signalling === 'gather') {
      await gathered(pc);
      mark('gathered');
    }
    const sdp = signalling === 'gather' ? loopbackSdp(pc.localDescription.sdp) : answer.sdp;
    await session.message(handle, { request: 'start' }, { type: 'answer', sdp, trickle: signalling === 'trickle' });
    mark('started');
    return { handle, pc, videos, audios, trickled };
  }

  async function unsubscribe(sub, stages, t0) {
    await session.message(sub.handle, { request: 'leave' });
    stages.left = now() - t0;
    // Janus hangs the PeerConnection up; the client closes its side, as janus.js does.
    sub.pc.close();
    for (const el of [...sub.videos, ...sub.audios]) { el.srcObject = null; el.remove(); }
    await session.detach(sub.handle);
    stages.detached = now() - t0;
  }

  let mine = null; // this page's current subscription

  window.__janus = {
    async open() {
      session = await new Session().open();
    },
    /** Publishes the page's camera and microphone in `room`; answers the feed id. */
    async publish(room, display) {
      const handle = await session.attach();
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
      const pc = new RTCPeerConnection({ iceServers: [], bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' });
      for (const track of stream.getTracks()) pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
      await pc.setLocalDescription(await pc.createOffer());
      await gathered(pc);
      const jsep = { type: 'offer', sdp: loopbackSdp(pc.localDescription.sdp), trickle: false };
      const joined = await session.message(handle, { request: 'joinandconfigure', ptype: 'publisher', room, display }, jsep);
      await pc.setRemoteDescription(joined.jsep);
      const deadline = Date.now() + 10000;
      while (pc.connectionState !== 'connected') {
        if (Date.now() > deadline) throw new Error(`publisher ${display} never connected (${pc.connectionState})`);
        await sleep(20);
      }
      window.__publisher = pc;
      return joined.plugindata.data.id;
    },
    /** Subscribes (not timed) to `feeds` of `room`: the senders' view of their room mates, and
     * the mover's first room. */
    async subscribe(room, feeds) {
      mine = await subscribe(room, feeds);
    },
    /** One move, the peers' way; answers t0, the matching frame (if any) and the stage times. */
    async move(room, feeds, colors, timeoutMs) {
      const t0 = now();
      window.__bench.arm(colors);
      const stages = {};
      let error = null;
      try {
        if (mine) {
          const old = mine;
          mine = null;
          await unsubscribe(old, stages, t0);
        }
        mine = await subscribe(room, feeds, stages, t0);
      } catch (err) {
        error = String(err.message ?? err);
      }
      const hits = await window.__bench.wait(['slot'], t0 + timeoutMs - now());
      return { t0, hits, stages, error };
    },
    close() {
      return session?.close();
    },
  };
}

// ---------------------------------------------------------------------------------------------

/** Every video's first matching frame, in ms after t0 (callback time, and the frame's receive
 * and presentation times from the requestVideoFrameCallback metadata). */
const framesAfter = (all, t0) => all.map((h) => ({
  kind: h.kind, video: h.video, sender_color: h.color,
  at_ms: h.at - t0, receive_ms: h.receive === null ? null : h.receive - t0, presentation_ms: h.presentation - t0,
}));

/** One move's sample: the first matching frame on any of the mover's videos, after t0. */
function makeSample(i, from, to, t0, hits) {
  const first = hits.first;
  const ms = first ? first.at - t0 : null;
  const ok = ms !== null && ms <= TIMEOUT_MS;
  return {
    move: i + 1, from: ROOM_NAMES[from], to: ROOM_NAMES[to], t0,
    ms: ok ? ms : null,
    receive_ms: ok && first.receive !== null ? first.receive - t0 : null,
    sender: first ? nameOfColor(to, first.color) : null, rgb: first?.rgb ?? null, video_kind: first?.kind ?? null,
    frames: framesAfter(hits.all, t0),
    error: ok ? null : `no frame of room ${ROOM_NAMES[to]} within ${TIMEOUT_MS} ms`,
  };
}
const f = (v) => (Number.isFinite(v) ? v.toFixed(1) : '–');
const show = (s) => (s.ms === null ? `FAILED (${s.error})` : `${s.ms.toFixed(1)} ms, ${s.sender} on a ${s.video_kind} video, frame received at ${f(s.receive_ms)} ms`);

function percentile(sorted, p) {
  if (!sorted.length) return NaN;
  return sorted[Math.round((sorted.length - 1) * p)];
}

function summary(samples, key = 'ms') {
  const ok = samples.filter((s) => s[key] !== null && s[key] !== undefined).map((s) => s[key]).sort((a, b) => a - b);
  return {
    moves: samples.length,
    ok: ok.length,
    failures: samples.length - ok.length,
    p50: percentile(ok, 0.5),
    p95: percentile(ok, 0.95),
    p99: percentile(ok, 0.99),
    max: ok.length ? ok[ok.length - 1] : NaN,
  };
}

async function newPage(browser, init, janus) {
  const context = await browser.newContext({ viewport: { width: 640, height: 480 } });
  await context.addInitScript(benchPage, { tolerance: TOLERANCE, ...init });
  if (janus) await context.addInitScript(janusPage, janus);
  const page = await context.newPage();
  if (opts.debug) {
    page.on('console', (m) => log(init.label, 'console', m.text()));
    page.on('pageerror', (e) => log(init.label, 'error', e.message));
  }
  return page;
}

/** Waits until `page` shows every colour of `room` (on its receiver videos). */
async function expectRoom(page, room, what) {
  const want = colorsOf(room);
  let seen = [];
  for (let i = 0; i < 120; i++) {
    seen = await page.evaluate(([colors]) => window.__bench.showing(colors, 'slot'), [want]);
    if (seen.length === want.length) {
      if (opts.debug) log(what, 'sees', JSON.stringify(await page.evaluate(() => window.__bench.seen())));
      return;
    }
    await sleep(250);
  }
  const raw = await page.evaluate(() => window.__bench.seen());
  throw new Error(`${what}: wanted the ${want.length} colours of room ${ROOM_NAMES[room]}, saw ${seen.length} ${JSON.stringify(raw)}`);
}

/** The offset of the page's clock (timeOrigin + now) from Node's Date.now(), in ms. */
async function clockOffset(page) {
  const before = Date.now();
  const pageNow = await page.evaluate(() => window.__bench.now());
  const after = Date.now();
  return { offset: pageNow - (before + after) / 2, uncertainty: (after - before) / 2 };
}

// ---------------------------------------------------------------------------------------------
// Huddle

async function benchHuddle(browser) {
  const huddle = await startHuddle();
  log(`Huddle at ${huddle.url} (${process.env.HUDDLE_BIN})`);
  const pages = [];
  try {
    const url = huddle.url;
    const modEmail = 'moderator@bench.example';
    await call(url, 'POST', '/setup', { email: modEmail, password: PASSWORD, display_name: 'Moderator' });
    const { token } = await call(url, 'POST', '/session', { email: modEmail, password: PASSWORD });
    const people = [...SENDERS.map((s) => ({ ...s, devices: true })), { name: 'Mover', room: 0, devices: false, color: [0, 0, 0], pitch: 0 }];
    for (const p of people) {
      p.email = `${p.name.toLowerCase()}@bench.example`;
      p.id = (await call(url, 'POST', '/accounts', { email: p.email, password: PASSWORD, display_name: p.name }, token)).id;
    }
    const main = (await call(url, 'POST', '/rooms', { name: 'Moves' }, token)).id;
    await call(url, 'POST', `/rooms/${main}/members`, { person_ids: people.map((p) => p.id) }, token);
    const b = (tail) => `/rooms/${main}/breakout${tail}`;
    await call(url, 'PUT', b(''), { enabled: true, mode: 'manual' }, token);
    const created = await call(url, 'POST', b('/rooms'), { names: ['Room A', 'Room B'] }, token);
    const breakouts = created.rooms.map((r) => r.id);
    for (const p of people) await call(url, 'PUT', b(`/assignments/${p.id}`), { breakout: breakouts[p.room] }, token);
    await call(url, 'POST', b('/start'), null, token);

    // Everyone signs in, opens the room page and joins the call with the call panel's button.
    for (const p of people) {
      const page = await newPage(browser, { label: p.name, color: p.color, pitch: p.pitch, devices: p.devices });
      await page.goto(`${url}/signin`);
      await page.getByLabel('Email').fill(p.email);
      await page.getByLabel('Password').fill(PASSWORD);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('heading', { name: 'My rooms' }).waitFor();
      await page.goto(`${url}/rooms/${main}`);
      await page.getByRole('region', { name: 'Call' }).getByRole('button', { name: 'Join call' }).click();
      await page.locator('.call[data-state="joined"]').waitFor({ timeout: 20000 });
      pages.push(page);
    }
    const mover = pages[pages.length - 1];
    const moverId = people[people.length - 1].id;
    // Probes: one small <video> per receive slot, showing the slot's track itself, so the first
    // decoded frame is seen whatever the UI does with its tiles. The tiles are watched too.
    const slots = await mover.evaluate(async () => {
      const { activeCalls } = await import('/assets/call/call.js');
      const [c] = activeCalls();
      const box = document.createElement('div');
      box.style.cssText = 'position:fixed;right:0;bottom:0;display:flex;gap:1px;z-index:9';
      document.body.append(box);
      let n = 0;
      for (const t of c.pc.getTransceivers()) {
        if (t.direction !== 'recvonly' || t.receiver.track.kind !== 'video') continue;
        const v = document.createElement('video');
        v.muted = true;
        v.autoplay = true;
        v.playsInline = true;
        v.width = 32;
        v.height = 24;
        v.dataset.bench = 'slot';
        v.srcObject = new MediaStream([t.receiver.track]);
        box.append(v);
        n++;
      }
      return n;
    });
    log(`Huddle: ${pages.length} pages in the call; the mover watches ${slots} video slots`);
    await expectRoom(mover, 0, 'Huddle mover before the first move');
    const clockBefore = await clockOffset(mover);

    const samples = [];
    let room = 0;
    for (let i = 0; i < MOVES; i++) {
      const to = 1 - room;
      await mover.evaluate(([colors]) => window.__bench.arm(colors), [colorsOf(to)]);
      const t0 = Date.now();
      await call(url, 'POST', b('/move'), { person_id: moverId, breakout: breakouts[to] }, token);
      const replied = Date.now() - t0;
      const hits = await mover.evaluate(([ms]) => window.__bench.wait(['slot', 'tile'], ms), [t0 + TIMEOUT_MS - Date.now()]);
      const sample = makeSample(i, room, to, t0, hits);
      Object.assign(sample, {
        slot_ms: hits.slot ? hits.slot.at - t0 : null,
        tile_ms: hits.tile ? hits.tile.at - t0 : null,
        api_reply_ms: replied,
      });
      samples.push(sample);
      log(`Huddle move ${i + 1} ${sample.from}->${sample.to}: ${show(sample)} (slot probe ${f(sample.slot_ms)}, UI tile ${f(sample.tile_ms)} ms)`);
      if (sample.tile_ms === null) {
        // What the room page showed instead (kept in the JSON).
        sample.ui = await mover.evaluate(() => ({
          path: location.pathname,
          page: document.querySelector('main')?.innerText.slice(0, 160) ?? null,
          call: document.querySelector('.call')?.dataset.state ?? null,
          tiles: [...document.querySelectorAll('.call .tile')].map((t) => {
            const v = t.querySelector('video');
            return { person: t.dataset.person, video: !!v, width: v?.videoWidth ?? null, paused: v?.paused ?? null };
          }),
          seen: window.__bench.seen(),
        }));
        log(`  no UI tile frame within 1 s of the first frame: ${JSON.stringify(sample.ui)}`);
        if (opts.debug) await mover.screenshot({ path: `/tmp/huddle-move-${i + 1}.png` });
      }
      room = to;
      await sleep(PAUSE_MS);
    }
    const clockAfter = await clockOffset(mover);
    const pcs = await mover.evaluate(async () => {
      const { activeCalls } = await import('/assets/call/call.js');
      return { constructed: window.__bench.pcs(), callConnections: activeCalls()[0]?.connections ?? null, calls: activeCalls().length };
    });
    return { samples, pcs: pcs.constructed, detail: { ...pcs, clock_before: clockBefore, clock_after: clockAfter } };
  } finally {
    for (const p of pages) await p.context().close().catch(() => {});
    await huddle.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// Janus

async function janusApi(base, path, body) {
  const response = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ...body, transaction: `n${Math.random().toString(36).slice(2)}` }),
  });
  const r = await response.json();
  if (r.janus !== 'success') throw new Error(`Janus ${JSON.stringify(body)}: ${JSON.stringify(r)}`);
  return r;
}

/** A session and a handle from Node, for the synchronous room requests. */
async function janusAdmin(base) {
  const session = (await janusApi(base, '', { janus: 'create' })).data.id;
  const handle = (await janusApi(base, `/${session}`, { janus: 'attach', plugin: 'janus.plugin.videoroom' })).data.id;
  return {
    request: async (body) => {
      const r = await janusApi(base, `/${session}/${handle}`, { janus: 'message', body });
      const data = r.plugindata.data;
      if (data.error_code) throw new Error(`Janus ${body.request}: ${JSON.stringify(data)}`);
      return data;
    },
    close: () => janusApi(base, `/${session}`, { janus: 'destroy' }).catch(() => {}),
  };
}

/** A blank page on 127.0.0.1 for the Janus pages to live on. */
async function blankOrigin() {
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><meta charset="utf-8"><title>janus bench</title><body></body>');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${server.address().port}/`, close: () => server.close() };
}

async function benchJanus(browser) {
  const base = opts.janus.replace(/\/$/, '');
  const janusOpts = { url: base, signalling: opts['janus-signalling'], clientDtls: opts['janus-client-dtls'] };
  const origin = await blankOrigin();
  const pages = [];
  let rooms = [];
  try {
    const admin = await janusAdmin(base);
    for (const name of ROOM_NAMES) {
      const created = await admin.request({
        request: 'create', description: `browser-moves-${name}`, publishers: 10, bitrate: 2000000,
        audiocodec: 'opus', videocodec: 'vp8', fir_freq: 10, is_private: false,
      });
      rooms.push(created.room);
    }
    await admin.close();
    log(`Janus at ${base}: rooms ${rooms.join(', ')}; signalling ${janusOpts.signalling}, client DTLS ${janusOpts.clientDtls}`);

    // Senders publish their camera and microphone, then subscribe to their two room mates (what
    // a Huddle sender receives too).
    const senders = [];
    for (const s of SENDERS) {
      const page = await newPage(browser, { label: s.name, color: s.color, pitch: s.pitch, devices: true }, janusOpts);
      await page.goto(origin.url);
      await page.evaluate(() => window.__janus.open());
      const feed = await page.evaluate(([room, name]) => window.__janus.publish(room, name), [rooms[s.room], s.name]);
      senders.push({ ...s, page, feed });
      pages.push(page);
    }
    const feedsOf = (room) => senders.filter((s) => s.room === room).map((s) => s.feed);
    for (const s of senders) {
      const mates = senders.filter((o) => o.room === s.room && o !== s).map((o) => o.feed);
      await s.page.evaluate(([room, feeds]) => window.__janus.subscribe(room, feeds), [rooms[s.room], mates]);
    }
    const mover = await newPage(browser, { label: 'Mover', color: [0, 0, 0], pitch: 0, devices: false }, janusOpts);
    pages.push(mover);
    await mover.goto(origin.url);
    await mover.evaluate(() => window.__janus.open());
    await mover.evaluate(([room, feeds]) => window.__janus.subscribe(room, feeds), [rooms[0], feedsOf(0)]);
    log(`Janus: 6 senders publishing; the mover subscribed to room A`);
    await expectRoom(mover, 0, 'Janus mover before the first move');

    const samples = [];
    let room = 0;
    for (let i = 0; i < MOVES; i++) {
      const to = 1 - room;
      const r = await mover.evaluate(([rm, feeds, colors, ms]) => window.__janus.move(rm, feeds, colors, ms),
        [rooms[to], feedsOf(to), colorsOf(to), TIMEOUT_MS]);
      const sample = makeSample(i, room, to, r.t0, r.hits);
      sample.stages_ms = r.stages;
      if (r.error) sample.error = sample.error ? `${r.error}; ${sample.error}` : r.error;
      samples.push(sample);
      const st = Object.entries(r.stages).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', ');
      log(`Janus move ${i + 1} ${sample.from}->${sample.to}: ${show(sample)} [${st}]`);
      room = to;
      await sleep(PAUSE_MS);
    }
    const pcs = await mover.evaluate(() => window.__bench.pcs());
    await mover.evaluate(() => window.__janus.close());
    return { samples, pcs, detail: { rooms, signalling: janusOpts.signalling, client_dtls: janusOpts.clientDtls } };
  } finally {
    for (const p of pages) {
      await p.evaluate(() => window.__janus?.close()).catch(() => {});
      await p.context().close().catch(() => {});
    }
    origin.close();
    if (rooms.length) {
      const admin = await janusAdmin(base).catch(() => null);
      for (const room of rooms) await admin?.request({ request: 'destroy', room }).catch(() => {});
      await admin?.close();
    }
  }
}

// ---------------------------------------------------------------------------------------------

const browser = await launchBrowser();
const chromiumVersion = browser.version();
const results = {};
try {
  // The load average around each run: the figures mean little if something else used the cores.
  const measured = async (bench) => {
    const before = loadavg();
    const r = await bench(browser);
    return { ...r, loadavg_before: before, loadavg_after: loadavg() };
  };
  if (runHuddle) results.huddle = await measured(benchHuddle);
  if (runJanus) results.janus = await measured(benchJanus);
} finally {
  await browser.close();
}

const label = { huddle: 'Huddle (one PeerConnection, slots rewired)', janus: 'Janus VideoRoom (leave, subscribe again)' };
const lines = [
  `Move → first decoded video frame of the new room at the mover, real Chromium, ${MOVES} moves A↔B, pause ${PAUSE_MS} ms, timeout ${TIMEOUT_MS} ms`,
  '',
  '| server | moves | ok | failures | p50 ms | p95 ms | p99 ms | max ms | mover PeerConnections |',
  '|---|---|---|---|---|---|---|---|---|',
];
for (const [key, r] of Object.entries(results)) {
  const s = summary(r.samples);
  r.summary = s;
  lines.push(`| ${label[key]} | ${s.moves} | ${s.ok} | ${s.failures} | ${f(s.p50)} | ${f(s.p95)} | ${f(s.p99)} | ${f(s.max)} | ${r.pcs} |`);
}
lines.push('', 'The same moves, other clocks (ms after t0; n = moves with a matching frame):', '',
  '| server | clock | n | p50 ms | p95 ms | p99 ms | max ms |', '|---|---|---|---|---|---|---|');
const other = (server, key, clock, samples) => {
  const x = summary(samples, key);
  lines.push(`| ${label[server]} | ${clock} | ${x.ok} | ${f(x.p50)} | ${f(x.p95)} | ${f(x.p99)} | ${f(x.max)} |`);
  return x;
};
for (const [key, r] of Object.entries(results)) {
  r.receive_summary = other(key, 'receive_ms', "the matching frame's last packet arrived (rVFC receiveTime)", r.samples);
  if (key === 'huddle') {
    r.slot_summary = other(key, 'slot_ms', 'first matching frame on a receive-slot probe <video> only', r.samples);
    r.tile_summary = other(key, 'tile_ms', "first matching frame in the UI's own tiles only", r.samples);
  }
}
if (results.janus) {
  const keys = ['left', 'detached', 'attached', 'offer', 'answer', 'gathered', 'started', 'ice', 'dtls'];
  const med = keys.map((k) => {
    const v = results.janus.samples.map((s) => s.stages_ms?.[k]).filter((x) => x !== undefined).sort((a, b) => a - b);
    return v.length ? `${k} ${percentile(v, 0.5).toFixed(0)}` : null;
  }).filter(Boolean);
  lines.push('', `Janus, median ms after t0 at which each step finished: ${med.join(', ')}.`);
}
for (const [key, r] of Object.entries(results)) {
  for (const s of r.samples.filter((x) => x.ms === null)) lines.push(`FAILED ${key} move ${s.move} ${s.from}->${s.to}: ${s.error}`);
}
if (results.huddle) {
  const { clock_before: a, clock_after: z } = results.huddle.detail;
  lines.push('', `Huddle's t0 is Node's clock, its frames the page's: page minus Node was ${a.offset.toFixed(1)} ms (±${a.uncertainty.toFixed(1)}) before the moves and ${z.offset.toFixed(1)} ms (±${z.uncertainty.toFixed(1)}) after.`);
}
lines.push('', `Load average (1 min) before/after: ${Object.entries(results).map(([k, r]) => `${k} ${r.loadavg_before[0].toFixed(2)}/${r.loadavg_after[0].toFixed(2)}`).join(', ')} (${cpus().length} cores).`);
console.log(lines.join('\n'));
if (opts.out) {
  writeFileSync(opts.out, `${JSON.stringify({
    what: 'move -> first decoded video frame of the new room at the mover (ms), real Chromium',
    moves: MOVES, pause_ms: PAUSE_MS, timeout_ms: TIMEOUT_MS, tolerance: TOLERANCE,
    senders: SENDERS, chromium: chromiumVersion, results,
  }, null, 2)}\n`);
  log(`raw samples written to ${opts.out}`);
}
