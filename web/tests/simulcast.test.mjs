// Simulcast in real browsers: Ada's camera (640×480) goes in layers; P1 shows her tile as a
// thumbnail and then large, and the server switches P1 to the layer that fits each size, on the
// same connection, while P1 keeps seeing her colour.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useHuddle } from './harness.mjs';
import { person as signedIn, studio, expectRoom, senses, whoseColor } from './media.mjs';

let huddle;
let browser;
useHuddle((h, b) => { huddle = h; browser = b; });

/** The video layers a page sends now: each encoding's rid and frame height. */
async function sentLayers(page) {
  return page.evaluate(async () => {
    const { activeCalls } = await import('/assets/call/call.js');
    const stats = await activeCalls()[0].pc.getStats();
    return [...stats.values()]
      .filter((s) => s.type === 'outbound-rtp' && s.kind === 'video' && s.rid && s.frameHeight)
      .map((s) => ({ rid: s.rid, height: s.frameHeight }));
  });
}

/** The height of the frames a page decodes now from the camera in its one video tile. */
async function receivedHeight(page) {
  return page.evaluate(() => document.querySelector('.call .tile[data-source="camera"] video')?.videoHeight ?? 0);
}

/** Waits until `check(height)` holds for what the page decodes; returns the height. */
async function waitForHeight(page, check, what) {
  let height = 0;
  for (let i = 0; i < 60; i++) {
    height = await receivedHeight(page);
    if (check(height)) return height;
    await page.waitForTimeout(500);
  }
  assert.fail(`${what}: P1 decodes ${height} lines`);
}

/** Shows every camera tile of a page at `height` CSS pixels (through the CSSOM: the page's
 * content security policy refuses inline style sheets). */
async function tileHeight(page, height) {
  await page.evaluate((h) => {
    for (const video of document.querySelectorAll('.call .tile video')) {
      video.style.setProperty('height', `${h}px`, 'important');
      video.style.setProperty('width', `${Math.round(h * 4 / 3)}px`, 'important');
    }
  }, height);
}

test('each receiver gets the simulcast layer that fits its tile, switched on the same connection', async () => {
  const { room } = await studio(huddle.url, 'Layers');
  const pages = {};
  for (const name of ['Ada', 'P1']) {
    const page = await signedIn(browser, huddle.url, name, { camera: [640, 480] });
    await page.goto(`${huddle.url}/rooms/${room.id}`);
    await page.getByRole('region', { name: 'Call' }).getByRole('button', { name: 'Join call' }).click();
    pages[name] = page;
  }
  const callId = await expectRoom(pages.P1, ['Ada'], 'in the main room');
  await expectRoom(pages.Ada, ['P1'], 'in the main room');

  // Ada sends her camera in at least two layers of different sizes.
  let layers = [];
  for (let i = 0; i < 40 && layers.length < 2; i++) {
    layers = await sentLayers(pages.Ada);
    if (layers.length < 2) await pages.Ada.waitForTimeout(500);
  }
  if (process.env.DEBUG_CALL) console.log('layers', JSON.stringify(layers));
  const heights = layers.map((l) => l.height).sort((a, b) => a - b);
  assert.ok(heights.length >= 2 && heights[0] < heights.at(-1), `Ada sends layers ${JSON.stringify(layers)}`);

  // A thumbnail 60 pixels high: the smallest layer.
  await tileHeight(pages.P1, 60);
  const small = await waitForHeight(pages.P1, (h) => h > 0 && h <= heights[0], 'a thumbnail');
  // Large: a layer at least twice as tall, from a keyframe, on the same call.
  await tileHeight(pages.P1, 480);
  const large = await waitForHeight(pages.P1, (h) => h >= 2 * small, 'a large tile');
  assert.ok(large > small, `${small} lines, then ${large}`);
  const seen = await senses(pages.P1);
  const tile = seen.tiles.find((t) => t.source === 'camera');
  assert.equal(whoseColor(tile.rgb), 'Ada', `P1 still sees Ada: ${JSON.stringify(tile)}`);
  assert.equal(seen.callId, callId, 'the same call all along');
  // And back to the thumbnail.
  await tileHeight(pages.P1, 60);
  await waitForHeight(pages.P1, (h) => h > 0 && h <= heights[0], 'a thumbnail again');
});
