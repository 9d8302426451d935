// @ts-check
// The dashboard's shelf of main-room documents: drag one onto a room, or share it with all.

import { html } from '../vendor/preact-htm.js';
import { api } from '../lib/api.js';
import { withItem, useContent } from '../room/content.js';

/**
 * The main room's documents as the breakout dashboard shares them (seed 002): the items, and
 * `share(id, rooms)` with a list of breakout rooms or `'all'`. Loads only when `enabled`.
 * @returns {[any[], (id: string, rooms: string[] | 'all') => Promise<void>]}
 */
export function useMainDocuments(mainId, live, enabled) {
  const [items, update] = useContent(mainId, mainId, live, enabled);
  const share = async (id, rooms) => {
    const shared = await api('POST', `/rooms/${mainId}/content/${id}/share`, rooms === 'all' ? { all: true } : { rooms });
    update((now) => withItem(now, shared));
  };
  return [(items ?? []).filter((i) => i.room_id === mainId), share];
}

/** The dashboard's shelf of main-room documents: drag one onto a room, or share it with all. */
export function DocumentShelf({ items, share, onError }) {
  if (items.length === 0) return null;
  return html`<section class="shelf" aria-label="Shared documents">
    <h3>Share documents <span class="muted">drag one onto a room, or share it with every room</span></h3>
    <ul>${items.map((item) => html`<li key=${item.id} class="doc" draggable="true" data-doc=${item.title}
        onDragStart=${(e) => e.dataTransfer.setData('text/plain', `doc:${item.id}`)}>
      <span>${item.title}</span>
      <button type="button" onClick=${() => share(item.id, 'all').catch(onError)}>Share ${item.title} with all rooms</button>
    </li>`)}</ul>
  </section>`;
}
