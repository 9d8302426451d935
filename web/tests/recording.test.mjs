// Recording in real browsers: three people talk in a breakout room, each with a tone and a colour
// of their own; Ada (a moderator, not in the call) records the room for 20 s and stops. Huddle is
// killed (SIGKILL) while it composes the file and started again; the recording still lands in the
// room as one file, which ffprobe reads (VP8 and Opus, 20 s), whose audio holds the three tones
// and not Ada's, and which Chromium plays.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useHuddle, call, tab } from './harness.mjs';
import { person, studio, expectRoom, whoseColor, PEOPLE } from './media.mjs';

let huddle;
let browser;
useHuddle((h, b) => { huddle = h; browser = b; });

/** The strength of `hz` in 16-bit mono PCM at `rate` (Goertzel), as a fraction of full scale. */
function tone(pcm, rate, hz) {
  const w = 2 * Math.PI * hz / rate;
  const coeff = 2 * Math.cos(w);
  let s1 = 0;
  let s2 = 0;
  for (let i = 0; i < pcm.length; i++) {
    const s = pcm[i] / 32768 + coeff * s1 - s2;
    s2 = s1;
    s1 = s;
  }
  return Math.sqrt(s1 * s1 + s2 * s2 - coeff * s1 * s2) / (pcm.length / 2);
}

/** Polls `check` every 200 ms until it returns something (at most `seconds`). */
async function until(what, seconds, check) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const value = await check().catch(() => null);
    if (value) return value;
    if (Date.now() > deadline) assert.fail(`${what}: not within ${seconds} s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('a moderator records a breakout room into one file with every voice, through a crash while composing', async () => {
  const { token, room, ids, breakout, r1 } = await studio(huddle.url, 'Recorded');
  const pages = {};
  for (const name of ['P1', 'P2', 'P3']) {
    const page = await person(browser, huddle.url, name, { camera: [320, 240] });
    await page.goto(`${huddle.url}/rooms/${room.id}`);
    await page.getByRole('region', { name: 'Call' }).getByRole('button', { name: 'Join call' }).click();
    pages[name] = page;
  }
  for (const name of ['P1', 'P2', 'P3']) {
    await call(huddle.url, 'PUT', breakout(`/assignments/${ids[name]}`), { breakout: r1 }, token);
  }
  await call(huddle.url, 'POST', breakout('/start'), null, token);
  await expectRoom(pages.P1, ['P2', 'P3'], 'in the breakout room');

  // Ada opens the breakout room (she is not in its call) and records it.
  const ada = await person(browser, huddle.url, 'Ada');
  await ada.goto(`${huddle.url}/rooms/${r1}`);
  await ada.getByRole('button', { name: 'Record', exact: true }).click();
  await ada.getByRole('button', { name: 'Stop recording' }).waitFor();
  const started = Date.now();
  // Everyone in the room sees it in the room's bar and in their call.
  for (const name of ['P1', 'P2', 'P3']) {
    await pages[name].locator('.recording[data-recording="on"] .rec').waitFor();
    await pages[name].locator('.call[data-recorded="yes"]').waitFor();
    assert.equal(await pages[name].getByRole('button', { name: 'Record', exact: true }).count(), 0,
      `${name} (a participant) has no Record button`);
  }
  const listed = await call(huddle.url, 'GET', `/rooms/${r1}/recordings`, null, token);
  const id = listed.recordings[0].id;
  assert.equal(listed.recordings[0].state, 'recording');

  await ada.waitForTimeout(Math.max(0, 20_000 - (Date.now() - started)));
  await ada.getByRole('button', { name: 'Stop recording' }).click();
  await ada.getByRole('button', { name: 'Record', exact: true }).waitFor();
  for (const name of ['P1', 'P2', 'P3']) {
    await pages[name].locator('.recording[data-recording="off"]').waitFor({ state: 'attached' });
  }

  // Huddle is killed while ffmpeg composes, and started again.
  await until('composing', 30, async () => {
    const rows = (await call(huddle.url, 'GET', `/rooms/${r1}/recordings`, null, token)).recordings;
    return rows.find((r) => r.id === id)?.progress?.state === 'composing';
  });
  await huddle.restart();
  const row = await until('composed after the restart', 180, async () => {
    const rows = (await call(huddle.url, 'GET', `/rooms/${r1}/recordings`, null, token)).recordings;
    const r = rows.find((x) => x.id === id);
    assert.notEqual(r.state, 'failed', JSON.stringify(r));
    return r.state === 'composed' && r;
  });
  assert.equal(row.stop_reason, 'stopped');

  // The item is in the room: one file, 20 s, VP8 and Opus.
  const { items } = await call(huddle.url, 'GET', `/rooms/${r1}/content`, null, token);
  const item = items.find((i) => i.id === id);
  assert.equal(item.kind, 'recording');
  assert.ok(Math.abs(item.file.duration_ms - 20_000) < 1_500, `duration ${item.file.duration_ms} ms`);
  const response = await fetch(`${huddle.url}/api/v1/rooms/${r1}/content/${id}`, { headers: { authorization: `Bearer ${token}` } });
  const bytes = Buffer.from(await response.arrayBuffer());
  assert.equal(bytes.length, item.file.size);
  const dir = mkdtempSync(join(tmpdir(), 'huddle-recording-'));
  try {
    const file = join(dir, 'recording.webm');
    writeFileSync(file, bytes);
    const probe = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', file]));
    const codecs = probe.streams.map((s) => s.codec_name).sort();
    assert.deepEqual(codecs, ['opus', 'vp8'], JSON.stringify(probe.streams));
    assert.ok(Math.abs(Number(probe.format.duration) - 20) < 1.5, `ffprobe says ${probe.format.duration} s`);

    // Every voice in the room is in the mix; Ada's pitch (she is not in the call) is not, nor
    // anything a clipped mix would add (330 Hz is also 2 × 550 − 770).
    const raw = execFileSync('ffmpeg', ['-v', 'error', '-i', file, '-ac', '1', '-ar', '48000', '-f', 's16le', '-'], { maxBuffer: 64 << 20 });
    const pcm = new Int16Array(raw.buffer, raw.byteOffset, raw.length / 2);
    const strength = Object.fromEntries(['Ada', 'P1', 'P2', 'P3'].map((n) => [n, tone(pcm, 48_000, PEOPLE[n].pitch)]));
    const off = Math.max(tone(pcm, 48_000, 1234), tone(pcm, 48_000, 400));
    for (const n of ['P1', 'P2', 'P3']) {
      assert.ok(strength[n] > 20 * off && strength[n] > 10 * strength.Ada,
        `${n}'s ${PEOPLE[n].pitch} Hz tone: ${JSON.stringify(strength)}, 1234 Hz: ${off}`);
    }
    // The picture is a grid of their three colours: two cells above, one below, at 10 s.
    const frame = execFileSync('ffmpeg', ['-v', 'error', '-ss', '10', '-i', file, '-frames:v', '1', '-vf', 'scale=32:18', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-']);
    const at = (x, y) => [...frame.subarray((y * 32 + x) * 3, (y * 32 + x) * 3 + 3)];
    const colours = [at(8, 4), at(24, 4), at(8, 13)].map(whoseColor).sort();
    assert.deepEqual(colours, ['P1', 'P2', 'P3'], JSON.stringify([at(8, 4), at(24, 4), at(8, 13)]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  // Chromium plays it from the Content tab of the room.
  const viewer = await person(browser, huddle.url, 'Ada');
  await viewer.goto(`${huddle.url}/rooms/${r1}`);
  await tab(viewer, 'Content');
  await viewer.getByRole('button', { name: `Play ${item.title}` }).click();
  const played = await until('the recording plays', 30, () => viewer.evaluate(() => {
    const v = document.querySelector('video.recording-player');
    return v && v.currentTime > 1 && v.videoWidth > 0 && { time: v.currentTime, width: v.videoWidth, duration: v.duration };
  }));
  assert.equal(played.width, 1280);
  // A moderator promotes it to the main room.
  await viewer.getByRole('button', { name: `Promote ${item.title}` }).click();
  await until('promoted', 10, async () => {
    const main = await call(huddle.url, 'GET', `/rooms/${room.id}/content`, null, token);
    return main.items.some((i) => i.kind === 'recording' && i.promoted_from?.item === id);
  });
});
