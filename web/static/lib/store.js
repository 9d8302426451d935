// @ts-check
// The page's shared state, in one place: the person signed in, the event connection, the room on
// screen (and the last breakout room it showed), its main room's breakout session as last known,
// whether the person was told where a round put them, and the notice line. Components that draw
// from it subscribe with `useStore`; event handlers read `store` and change it with `update`,
// which redraws every subscriber. No other module keeps state that outlives a component (the
// calls apart: `call/call.js` keeps one per main room, across pages, by design).

import { useEffect, useState } from '../vendor/preact-htm.js';

/**
 * @typedef {object} State
 * @property {any} me the person signed in (`GET /session`); `undefined` while loading, `null`
 *   when signed out
 * @property {any} live the event connection (a `Live`), while someone is signed in
 * @property {any} room the room on screen, as last loaded
 * @property {any} lastBreakout the last breakout room the page showed (when rooms are brought
 *   back, the page may be on its way out, and the notice must still say which room closed)
 * @property {any} session the breakout session of the room's main room, as last loaded, with
 *   the round's start and stop taken from their events at once
 * @property {boolean} greeted whether the person was told where the round put them
 * @property {Record<string, number>} movedSeq per stream, the `seq` of the last event that moved
 *   the person (or began or ended a round): a session from before it is stale
 * @property {any} notice the notice line: a text, `{ closesAt }`, or `null`
 * @property {string | null} noticeAbout what makes the notice stale by itself (`choose`: once
 *   the person is in a room)
 */

/** @type {State} */
export const store = {
  me: undefined,
  live: null,
  room: null,
  lastBreakout: null,
  session: null,
  greeted: false,
  movedSeq: {},
  notice: null,
  noticeAbout: null,
};

/** @type {Set<() => void>} */
const listeners = new Set();

/** Changes the store and redraws whoever draws from it.
 * @param {Partial<State>} patch */
export function update(patch) {
  Object.assign(store, patch);
  for (const listener of [...listeners]) listener();
}

/** What `pick` reads from the store, drawn again whenever the store changes.
 * @template T
 * @param {(state: State) => T} pick
 * @returns {T} */
export function useStore(pick) {
  const [value, setValue] = useState(() => pick(store));
  useEffect(() => {
    const listener = () => setValue(() => pick(store));
    listeners.add(listener);
    listener();
    return () => { listeners.delete(listener); };
  }, []);
  return value;
}

/** Says `text` in the notice line (`null`: clears it); `about` names what makes it stale.
 * @param {any} text
 * @param {string | null} [about] */
export function say(text, about = null) {
  update({ notice: text, noticeAbout: about });
}

/** The name of a breakout room, as the last known session says. */
export function roomName(id) {
  return store.session?.rooms.find((r) => r.id === id)?.name ?? null;
}

/** Whether a round is under way, as the last known session says. */
export function roundLive() {
  return !!store.session && store.session.status !== 'idle';
}

/** Whether participants choose their rooms (free mode), as the last known session says. */
export function freeMode() {
  return store.session?.settings.mode === 'free';
}
