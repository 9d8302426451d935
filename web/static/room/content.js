// @ts-check
// A room's content: files by drag and drop or picker, links, application content shown
// embedded; share with breakout rooms and promote to the main room. The list is read once and
// kept current from the stream's content events. Every text a person typed is rendered as text.

import { html, useState, useEffect, useRef } from '../vendor/preact-htm.js';
import { api, send } from '../lib/api.js';

const CONTENT_EVENTS = new Set(['content_added', 'content_deleted', 'content_shared', 'breakout_rooms_deleted', 'resync']);

/** `items` with `item` in its place (by creation time, then id, as the server lists them). */
export function withItem(items, item) {
  const rest = items.filter((i) => i.id !== item.id);
  return [...rest, item].sort((a, b) => a.created_at - b.created_at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/**
 * The content list of room `roomId` after a content event of its main room's stream, or `null`
 * when the event does not say enough and the list must be read again.
 * @param {any[]} items
 * @param {any} event
 * @param {string} roomId
 * @returns {any[] | null}
 */
function contentAfter(items, event, roomId) {
  if (event.type === 'content_added') {
    const item = event.item;
    // A promoted copy also marks its original, which the event does not carry.
    if (item.promoted_from) return null;
    return item.room_id === roomId || item.shared_with.includes(roomId) ? withItem(items, item) : items;
  }
  if (event.type === 'content_deleted') return items.filter((i) => i.id !== event.id);
  if (event.type === 'content_shared') {
    const known = items.find((i) => i.id === event.id);
    if (!known) return event.rooms.includes(roomId) ? null : items;
    if (known.room_id === roomId) return items.map((i) => (i.id === event.id ? { ...i, shared_with: event.rooms } : i));
    return event.rooms.includes(roomId) ? items : items.filter((i) => i.id !== event.id);
  }
  return null;
}

/**
 * The content of room `roomId` (in the stream `stream`), read once and then kept up to date from
 * the stream's content events; read again only when an event does not say enough (a resync,
 * deleted breakout rooms, a promotion). Nothing while `enabled` is false.
 * @returns {[any[] | null, (update: (items: any[]) => any[]) => void, () => Promise<void>, any]}
 */
export function useContent(roomId, stream, live, enabled = true) {
  const [items, setItems] = useState(/** @type {any[] | null} */ (null));
  // The list as last set, for the event handler (which outlives renders).
  const current = useRef(/** @type {any[] | null} */ (null));
  const set = (next) => { current.current = next; setItems(next); };
  const [error, setError] = useState(null);
  const timer = useRef(null);
  const load = () => (enabled
    ? api('GET', `/rooms/${roomId}/content`).then((r) => { set(r.items); setError(null); }).catch(setError)
    : Promise.resolve());
  useEffect(() => {
    set(null);
    load();
    const off = live.on((event) => {
      if (!enabled || !(event.stream === stream || event.room === stream) || !CONTENT_EVENTS.has(event.type)) return;
      const next = current.current && contentAfter(current.current, event, roomId);
      if (next) {
        set(next);
      } else {
        clearTimeout(timer.current);
        timer.current = setTimeout(load, 50); // a burst of such events: one read
      }
    });
    return () => { off(); clearTimeout(timer.current); };
  }, [roomId, enabled]);
  const update = (fn) => { if (current.current) set(fn(current.current)); };
  return [items, update, load, error];
}

function size(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

const KIND = { file: 'File', link: 'Link', app: 'App', recording: 'Recording' };

/** `1:05` or `1:02:03` for a length in milliseconds. */
function duration(ms) {
  const s = Math.round(ms / 1000);
  const two = (n) => String(n).padStart(2, '0');
  return s >= 3600 ? `${Math.floor(s / 3600)}:${two(Math.floor(s / 60) % 60)}:${two(s % 60)}` : `${Math.floor(s / 60)}:${two(s % 60)}`;
}

function ShareForm({ item, rooms, done, roomId }) {
  const [chosen, setChosen] = useState(new Set(item.shared_with));
  const [error, setError] = useState(null);
  const toggle = (id) => {
    const next = new Set(chosen);
    if (next.has(id)) next.delete(id); else next.add(id);
    setChosen(next);
  };
  const save = async (body) => {
    try { done(await api('POST', `/rooms/${roomId}/content/${item.id}/share`, body)); } catch (err) { setError(err); }
  };
  return html`<fieldset class="share" aria-label=${`Share ${item.title}`}>
    <legend>Share “${item.title}” with breakout rooms</legend>
    ${rooms.map((r) => html`<label key=${r.id}><input type="checkbox" checked=${chosen.has(r.id)} onChange=${() => toggle(r.id)} /> ${r.name}</label>`)}
    <div class="row">
      <button type="button" onClick=${() => save({ rooms: [...chosen] })}>Save sharing</button>
      <button type="button" onClick=${() => save({ all: true })}>Share with all rooms</button>
      <button type="button" class="link" onClick=${() => done(null)}>Cancel</button>
    </div>
    ${error && html`<p class="error" role="alert">${error.message}</p>`}
  </fieldset>`;
}

/** The room's content: list, upload by drag and drop or file picker, links, share, promote. */
export function ContentPanel({ room, me, live }) {
  const stream = room.parent_id ?? room.id;
  const [items, update, load, loadError] = useContent(room.id, stream, live);
  const [failed, setError] = useState(null);
  const error = failed ?? loadError;
  const [over, setOver] = useState(false);
  const [busy, setBusy] = useState(0);
  const [sharing, setSharing] = useState(null);
  const [open, setOpen] = useState(null);
  const [link, setLink] = useState({ kind: 'link', title: '', url: '' });
  const manages = room.role === 'owner' || room.role === 'moderator';

  // What this page adds or deletes shows at once from the answer; the stream's event for it
  // then changes nothing.
  const act = async (fn) => {
    try { setError(null); await fn(); } catch (err) { setError(err); }
  };
  const upload = async (files) => {
    for (const file of files) {
      const form = new FormData();
      form.append('file', file, file.name);
      setBusy((n) => n + 1);
      await act(async () => { const item = await send('POST', `/rooms/${room.id}/content`, form); update((now) => withItem(now, item)); });
      setBusy((n) => n - 1);
    }
  };
  const onDrop = (e) => {
    e.preventDefault();
    setOver(false);
    if (e.dataTransfer?.files?.length) upload([...e.dataTransfer.files]);
  };
  const addLink = (e) => {
    e.preventDefault();
    act(async () => {
      const item = await api('POST', `/rooms/${room.id}/content`, link);
      update((now) => withItem(now, item));
      setLink({ kind: link.kind, title: '', url: '' });
    });
  };

  return html`<section class="content" aria-label="Content">
    <h2>Content</h2>
    ${error && html`<p class="error" role="alert">${error.message}</p>`}
    ${items === null ? html`<p>Loading…</p>` : items.length === 0 ? html`<p class="muted">Nothing here yet.</p>` : html`
      <ul class="items">${items.map((item) => {
        const here = item.room_id === room.id;
        const href = `/api/v1/rooms/${room.id}/content/${item.id}`;
        const toggle = () => setOpen(open === item.id ? null : item.id);
        const length = item.file?.duration_ms ? `, ${duration(item.file.duration_ms)}` : '';
        const shares = item.shared_with?.length ?? 0;
        const promote = () => act(async () => { await api('POST', `/rooms/${room.id}/content/${item.id}/promote`); await load(); });
        const remove = () => confirm(`Delete ${item.title}? It is gone for everyone in this room${shares
          ? ` and the ${shares} breakout room${shares === 1 ? '' : 's'} it is shared with` : ''}.`)
          && act(async () => {
            await api('DELETE', `/rooms/${room.id}/content/${item.id}`);
            update((now) => now.filter((i) => i.id !== item.id));
          });
        const shared = (answer) => { setSharing(null); if (answer) update((now) => withItem(now, answer)); };
        return html`<li key=${item.id} class="item" data-title=${item.title}>
          <span class="kind">${KIND[item.kind]}</span>
          ${item.file ? html`<a href=${href} download=${item.file.name}>${item.title}</a> <span class="muted">${size(item.file.size)}${length}</span>`
            : item.kind === 'link' ? html`<a href=${item.url} target="_blank" rel="noopener noreferrer">${item.title}</a>`
            : html`<button type="button" class="link" onClick=${toggle}>${item.title}</button>`}
          ${item.promoted_from && html`<span class="muted promoted">promoted from ${item.promoted_from.room_name} by ${item.promoted_from.by_name}</span>`}
          ${!here && html`<span class="muted">shared from the main room</span>`}
          ${here && !room.parent_id && shares > 0 && html`<span class="muted">shared with ${shares} room${shares === 1 ? '' : 's'}</span>`}
          <span class="actions">
            ${item.kind === 'recording'
              && html`<button type="button" aria-pressed=${open === item.id} onClick=${toggle}>${open === item.id ? 'Close' : 'Play'} ${item.title}</button>`}
            ${manages && !room.parent_id && here && room.breakout_rooms.length > 0 && html`<button type="button" onClick=${() => setSharing(item.id)}>Share ${item.title}</button>`}
            ${room.parent_id && here && (item.promoted
              ? html`<span class="muted">in the main room</span>`
              : html`<button type="button" onClick=${promote}>Promote ${item.title}</button>`)}
            ${here && (manages || item.created_by === me.id) && html`<button type="button" class="danger" onClick=${remove}>Delete ${item.title}</button>`}
          </span>
          ${sharing === item.id && html`<${ShareForm} item=${item} rooms=${room.breakout_rooms} roomId=${room.id} done=${shared} />`}
          ${open === item.id && item.kind === 'recording' && html`<video class="recording-player" controls autoplay src=${href} aria-label=${item.title}></video>`}
          ${open === item.id && item.kind === 'app' && html`<iframe class="app-frame" title=${item.title} src=${item.url}
            sandbox="allow-scripts allow-forms allow-popups allow-same-origin" referrerpolicy="no-referrer"></iframe>`}
        </li>`;
      })}</ul>`}
    <div class=${`dropzone ${over ? 'over' : ''}`} aria-label="Upload files"
        onDragOver=${(e) => { e.preventDefault(); setOver(true); }} onDragLeave=${() => setOver(false)} onDrop=${onDrop}>
      <span>Drop files here, or</span>
      <label class="button">Choose files<input type="file" multiple class="visually-hidden" aria-label="Choose files to upload"
        onChange=${(e) => { upload([...e.target.files]); e.target.value = ''; }} /></label>
      ${busy > 0 && html`<span role="status">Uploading…</span>`}
    </div>
    <form class="inline" onSubmit=${addLink} aria-label="Add a link">
      <label>Kind <select value=${link.kind} onChange=${(e) => setLink({ ...link, kind: e.target.value })}>
        <option value="link">Link</option><option value="app">Application</option></select></label>
      <label>Title <input value=${link.title} onInput=${(e) => setLink({ ...link, title: e.target.value })} /></label>
      <label>Address <input type="url" value=${link.url} onInput=${(e) => setLink({ ...link, url: e.target.value })} /></label>
      <button type="submit">Add link</button>
    </form>
  </section>`;
}
