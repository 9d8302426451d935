// Media helpers for the call tests: people whose camera is a canvas of one colour and whose
// microphone is an oscillator of one pitch, and what a page decodes and hears, so that a test can
// tell from the pixels and the pitches exactly whom each page receives.

import assert from 'node:assert/strict';
import { call, PASSWORD } from './harness.mjs';

export const PEOPLE = {
  Ada: { color: [220, 40, 40], pitch: 330 },
  P1: { color: [40, 200, 60], pitch: 550 },
  P2: { color: [40, 80, 230], pitch: 770 },
  P3: { color: [235, 205, 30], pitch: 990 },
};
export const SCREEN = [200, 40, 200];

/** Sets up Ada (the first administrator) and P1–P3 as members of a new main room `name` with
 * two breakout rooms in manual mode; returns Ada's token, the room, the people's ids, a path
 * maker for the room's breakout routes and the two breakout room ids. */
export async function studio(url, name) {
  await call(url, 'POST', '/setup', { email: 'ada@example.org', password: PASSWORD, display_name: 'Ada' });
  const { token } = await call(url, 'POST', '/session', { email: 'ada@example.org', password: PASSWORD });
  const room = await call(url, 'POST', '/rooms', { name }, token);
  const ids = {};
  for (const person of ['P1', 'P2', 'P3']) {
    const email = `${person.toLowerCase()}@example.org`;
    const account = await call(url, 'POST', '/accounts', { email, password: PASSWORD, display_name: person }, token);
    ids[person] = account.id;
    await call(url, 'POST', `/rooms/${room.id}/members`, { email }, token);
  }
  const breakout = (tail) => `/rooms/${room.id}/breakout${tail}`;
  await call(url, 'PUT', breakout(''), { enabled: true, mode: 'manual' }, token);
  const created = await call(url, 'POST', breakout('/rooms'), { count: 2 }, token);
  const [r1, r2] = created.rooms.map((r) => r.id);
  return { token, room, ids, breakout, r1, r2 };
}

/** A signed-in page whose devices are a canvas of one colour and an oscillator of one pitch.
 * `network` limits how its PeerConnections may reach the server:
 * - 'turn-udp': only TURN relay candidates, as on a network that lets nothing through but to a
 *   TURN server;
 * - 'turn-tcp': only TURN over TCP, as on a network that blocks UDP;
 * - 'ice-tcp': no TURN, and the server's UDP candidates are taken out of its answers, so only
 *   ICE over TCP to the media port is left (UDP blocked, no TURN server).
 * `camera` is the camera's size in pixels (160×120 unless given); with `noise`, its picture is
 * blocks of random grey that change every frame (what costs an encoder most), not one colour. */
export async function person(browser, url, name, { network, camera = [160, 120], noise = false } = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.addInitScript(({ color, pitch, screen, network, camera: [width, height], noise }) => {
    const canvasTrack = (rgb) => {
      const canvas = document.createElement('canvas');
      canvas.width = width;
      canvas.height = height;
      const g = canvas.getContext('2d');
      let n = 0;
      const blocks = noise && new ImageData(width / 8, height / 8);
      const scratch = noise && new OffscreenCanvas(width / 8, height / 8);
      setInterval(() => {
        if (noise) {
          for (let i = 0; i < blocks.data.length; i += 4) {
            const v = Math.random() * 255;
            blocks.data.set([v, v, v, 255], i);
          }
          scratch.getContext('2d').putImageData(blocks, 0, 0);
          g.imageSmoothingEnabled = false;
          g.drawImage(scratch, 0, 0, width, height);
          return;
        }
        g.fillStyle = `rgb(${rgb.join(',')})`;
        g.fillRect(0, 0, width, height);
        g.fillStyle = n++ % 2 ? '#000' : '#fff'; // a changing corner keeps frames coming
        g.fillRect(0, 0, 4, 4);
      }, 50);
      return canvas.captureStream(20).getVideoTracks()[0];
    };
    navigator.mediaDevices.getUserMedia = async (constraints) => {
      const tracks = [];
      if (constraints.audio) {
        const ctx = new AudioContext();
        const osc = ctx.createOscillator();
        osc.frequency.value = pitch;
        const out = ctx.createMediaStreamDestination();
        osc.connect(out);
        osc.start();
        tracks.push(out.stream.getAudioTracks()[0]);
      }
      if (constraints.video) tracks.push(canvasTrack(color));
      return new MediaStream(tracks);
    };
    navigator.mediaDevices.getDisplayMedia = async () => new MediaStream([canvasTrack(screen)]);
    if (network) {
      const tcpOnly = (servers) => (servers ?? [])
        .map((s) => ({ ...s, urls: [s.urls].flat().filter((u) => u.endsWith('?transport=tcp')) }))
        .filter((s) => s.urls.length > 0);
      const only = (config) => (network === 'ice-tcp'
        ? { ...config, iceServers: [] }
        : { ...config, iceTransportPolicy: 'relay', iceServers: network === 'turn-tcp' ? tcpOnly(config.iceServers) : config.iceServers });
      const withoutUdp = (description) => (network === 'ice-tcp' && description?.sdp
        ? { type: description.type, sdp: description.sdp.split('\r\n').filter((l) => !(l.startsWith('a=candidate:') && / udp /i.test(l))).join('\r\n') }
        : description);
      const Native = window.RTCPeerConnection;
      window.RTCPeerConnection = class extends Native {
        constructor(config = {}, ...rest) { super(only(config), ...rest); }
        setConfiguration(config = {}) { super.setConfiguration(only(config)); }
        setRemoteDescription(description, ...rest) { return super.setRemoteDescription(withoutUdp(description), ...rest); }
      };
    }
  }, { ...PEOPLE[name], screen: SCREEN, network, camera, noise });
  const page = await context.newPage();
  if (process.env.DEBUG_CALL) {
    page.on('console', (m) => console.log(name, 'console', m.text()));
    page.on('pageerror', (e) => console.log(name, 'error', e.message));
    page.on('websocket', (ws) => {
      ws.on('framereceived', (f) => { if (String(f.payload).includes('call_')) console.log(name, '<', String(f.payload).slice(0, 300)); });
      ws.on('framesent', (f) => console.log(name, '>', String(f.payload).slice(0, 200)));
    });
  }
  const failed = [];
  page.on('requestfailed', (r) => failed.push(`${r.url()}: ${r.failure()?.errorText}`));
  await page.goto(`${url}/signin`);
  await page.getByLabel('Email').fill(`${name.toLowerCase()}@example.org`).catch((e) => {
    throw new Error(`${name}'s sign-in page did not draw (failed requests: ${failed.join(', ') || 'none'}): ${e.message}`);
  });
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'My rooms' }).waitFor();
  page.personName = name;
  return page;
}

/** What a page shows and hears now: each video tile's person and decoded colour, and the pitches
 * playing on its audio slots. */
export async function senses(page) {
  return page.evaluate(async () => {
    const tiles = [...document.querySelectorAll('.call .tile')].map((tile) => {
      const video = tile.querySelector('video');
      let rgb = null;
      if (video && video.videoWidth > 0) {
        const canvas = document.createElement('canvas');
        canvas.width = 32;
        canvas.height = 24;
        const g = canvas.getContext('2d');
        g.drawImage(video, 0, 0, 32, 24);
        rgb = [...g.getImageData(16, 12, 1, 1).data.slice(0, 3)];
      }
      return { person: tile.dataset.person, source: tile.dataset.source, rgb };
    });
    // One analyser per audio slot, made once per page.
    window.__ears ??= new Map();
    window.__earsCtx ??= new AudioContext();
    const ctx = window.__earsCtx;
    const pitches = [];
    for (const el of document.querySelectorAll('#call-audio audio')) {
      if (!el.srcObject) continue;
      let ear = window.__ears.get(el.dataset.mid);
      if (!ear) {
        const analyser = ctx.createAnalyser();
        analyser.fftSize = 4096;
        ctx.createMediaStreamSource(el.srcObject).connect(analyser);
        ear = { analyser, data: new Float32Array(analyser.frequencyBinCount) };
        window.__ears.set(el.dataset.mid, ear);
      }
      ear.analyser.getFloatFrequencyData(ear.data);
      let best = 0;
      for (let i = 1; i < ear.data.length; i++) if (ear.data[i] > ear.data[best]) best = i;
      if (ear.data[best] > -70) pitches.push(best * ctx.sampleRate / ear.analyser.fftSize);
    }
    return { tiles, pitches, callId: document.querySelector('.call')?.dataset.callId };
  });
}

export const near = (a, b, d) => a.every((v, i) => Math.abs(v - b[i]) <= d);
export const whoseColor = (rgb) => Object.keys(PEOPLE).find((n) => near(rgb, PEOPLE[n].color, 60));
export const whosePitch = (hz) => Object.keys(PEOPLE).find((n) => Math.abs(PEOPLE[n].pitch - hz) < 40);

/** Waits until a page sees exactly `names` (each tile showing its own person's colour) and hears
 * exactly them; returns the call id it is on. */
export async function expectRoom(page, names, what) {
  const want = [...names].sort().join(',');
  let last;
  for (let i = 0; i < 60; i++) {
    const s = await senses(page);
    const cameras = s.tiles.filter((t) => t.source === 'camera');
    const seen = cameras.filter((t) => t.rgb && whoseColor(t.rgb) === t.person).map((t) => t.person).sort().join(',');
    const heard = [...new Set(s.pitches.map(whosePitch).filter(Boolean))].sort().join(',');
    const tiles = cameras.map((t) => t.person).sort().join(',');
    last = { seen, heard, tiles, raw: s };
    if (seen === want && heard === want && tiles === want) return s.callId;
    await page.waitForTimeout(500);
  }
  assert.fail(`${page.personName} ${what}: wanted ${want}, saw [${last.seen}], heard [${last.heard}], tiles [${last.tiles}] ${JSON.stringify(last.raw.tiles)} ${JSON.stringify(last.raw.pitches)}`);
}

/** Waits until a page hears exactly `names`. */
export async function expectRoomHearing(page, names, what) {
  const want = [...names].sort().join(',');
  let heard;
  for (let i = 0; i < 60; i++) {
    const s = await senses(page);
    heard = [...new Set(s.pitches.map(whosePitch).filter(Boolean))].sort().join(',');
    if (heard === want) return;
    await page.waitForTimeout(500);
  }
  assert.fail(`${page.personName} ${what}: wanted to hear ${want}, heard [${heard}]`);
}
