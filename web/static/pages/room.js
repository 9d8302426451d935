// @ts-check
// A room's page: it loads the room, its chat (paged back on demand) and members, follows the
// stream's events for them, and goes where its person is moved. Its layout is room/layout.js.

import { html, useState, useEffect, useRef } from '../vendor/preact-htm.js';
import { ApiError, api } from '../lib/api.js';
import { store, update, roundLive } from '../lib/store.js';
import { titleRoom } from '../lib/title.js';
import { RoomLayout } from './room-layout.js';

function time(ms) {
  return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/** Events of a main room that change who is in its breakout rooms. */
const PLACE_EVENTS = new Set(['assigned', 'located', 'connected', 'disconnected', 'breakout_started',
  'breakout_stopped', 'rooms_brought_back', 'assignments_reset', 'assignments_imported']);

/** Where an event of the main room `mainId`'s stream takes the person `me` now, if it moves
 * them: the id of the room they are in after it.
 * @param {any} event
 * @param {string} me
 * @param {string} mainId
 * @returns {string | null} */
function movedTo(event, me, mainId) {
  if (event.person_id !== me) return null;
  if (event.type === 'located') return event.location ?? null;
  // During a round, an assignment takes the person along (there is no `located` then).
  if (event.type === 'assigned' && roundLive()) return event.breakout ?? mainId;
  return null;
}

export function RoomPage({ id, me, navigate }) {
  const [room, setRoom] = useState(null);
  const [messages, setMessages] = useState([]);
  const [older, setOlder] = useState(null); // cursor of the next older page, if any
  const [members, setMembers] = useState([]);
  const [missing, setMissing] = useState(false);
  const draftKey = `huddle-draft-${id}`;
  const [draft, setDraft] = useState(sessionStorage.getItem(draftKey) ?? '');
  const [error, setError] = useState(null);
  const list = useRef(null);
  const placeTimer = useRef(null);

  const load = async () => {
    try {
      const [r, page, m] = await Promise.all([
        api('GET', `/rooms/${id}`),
        api('GET', `/rooms/${id}/messages?order=newest&limit=100`),
        api('GET', `/rooms/${id}/members`),
      ]);
      setRoom(r);
      // A page already left may still be loading: only the page on screen says where we are.
      if (location.pathname === `/rooms/${id}`) update(r.parent_id ? { room: r, lastBreakout: r } : { room: r });
      setMessages(page.messages.reverse());
      setOlder(page.next_cursor);
      setMembers(m.members);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) setMissing(true);
    }
  };
  const loadRoom = async () => {
    try {
      const r = await api('GET', `/rooms/${id}`);
      setRoom(r);
      // A page already left may still be loading: only the page on screen says where we are.
      if (location.pathname === `/rooms/${id}`) update(r.parent_id ? { room: r, lastBreakout: r } : { room: r });
    } catch {
      // Moved out of this room: the breakout panel takes the page where the person is now.
    }
  };
  useEffect(() => {
    load();
    const off = store.live.on((event) => {
      if (event.type === 'resync') return load();
      // A broadcast is an event of the main room carrying the message of the recipient's room.
      const posted = event.type === 'message_posted' && event.room === id ? event.message
        : event.type === 'broadcast' && event.message?.room_id === id ? event.message : null;
      const inBreakout = store.room?.id === id && store.room.parent_id && event.stream === store.room.parent_id;
      // Moved out of this breakout room: the page goes where the person is now, and does not ask
      // for this room again (during a round it may no longer be theirs to see).
      const to = inBreakout ? movedTo(event, me.id, store.room.parent_id) : null;
      if (to && to !== id) {
        clearTimeout(placeTimer.current);
        navigate(`/rooms/${to}`);
        return;
      }
      // In a breakout room, who belongs here changes with the round's events of its main room.
      if (inBreakout && PLACE_EVENTS.has(event.type)) {
        clearTimeout(placeTimer.current);
        placeTimer.current = setTimeout(loadRoom, 100); // a burst of moves: one reload
        return;
      }
      if (!posted && event.room !== id && event.stream !== id) return;
      if (posted) {
        setMessages((ms) => (ms.some((m) => m.id === posted.id) ? ms : [...ms, { seq: event.seq, ...posted }]));
      } else if (event.type === 'room_deleted') {
        navigate('/');
      } else if (['room_renamed', 'member_added', 'members_added', 'member_removed', 'role_changed', 'breakout_rooms_created', 'breakout_rooms_deleted'].includes(event.type)) {
        load();
      }
    });
    return () => { off(); clearTimeout(placeTimer.current); };
  }, [id]);
  // The tab says which room this is.
  useEffect(() => {
    if (room) titleRoom(room.title);
    return () => titleRoom(null);
  }, [room?.title]);
  const newest = messages.length ? messages[messages.length - 1].id : null;
  useEffect(() => {
    if (list.current) list.current.scrollTop = list.current.scrollHeight;
  }, [newest]);

  const loadingOlder = useRef(false);
  const loadOlder = async () => {
    // Scrolling to the top and the button can ask at once: one page at a time.
    if (!older || loadingOlder.current) return;
    loadingOlder.current = true;
    try {
      const page = await api('GET', `/rooms/${id}/messages?order=newest&limit=100&cursor=${older}`);
      const box = list.current;
      const fromBottom = box ? box.scrollHeight - box.scrollTop : 0;
      setMessages((ms) => {
        const known = new Set(ms.map((m) => m.id));
        return [...page.messages.reverse().filter((m) => !known.has(m.id)), ...ms];
      });
      setOlder(page.next_cursor);
      // Keep the reader where they were.
      requestAnimationFrame(() => { if (box) box.scrollTop = box.scrollHeight - fromBottom; });
    } finally {
      loadingOlder.current = false;
    }
  };
  const type = (text) => {
    setDraft(text);
    sessionStorage.setItem(draftKey, text);
  };
  const send = async (e) => {
    e.preventDefault();
    if (!draft.trim()) return;
    try {
      const posted = await api('POST', `/rooms/${id}/messages`, { text: draft });
      setMessages((ms) => (ms.some((m) => m.id === posted.id) ? ms : [...ms, posted]));
      type('');
      setError(null);
    } catch (err) {
      setError(err); // the draft stays
    }
  };

  if (missing) return html`<main><h1>Room not found</h1><p><a href="/" onClick=${(e) => { e.preventDefault(); navigate('/'); }}>Back to my rooms</a></p></main>`;
  if (!room) return html`<main><p>Loading…</p></main>`;
  const chat = html`<section class="chat" aria-label="Chat">
        <ol class="messages" ref=${list} aria-live="polite" onScroll=${(e) => { if (e.target.scrollTop === 0) loadOlder(); }}>
          ${older && html`<li class="older"><button type="button" class="link" onClick=${loadOlder}>Load earlier messages</button></li>`}
          ${messages.map((m) => html`<li key=${m.id} class=${`message ${m.kind}`}>
            ${m.kind === 'system' ? '' : html`<strong>${m.author_name}</strong> `}
            <span class="text">${m.text}</span>
            <time>${time(m.created_at)}</time>
          </li>`)}
        </ol>
        <form class="composer" onSubmit=${send}>
          <label for="composer" class="visually-hidden">Message</label>
          <textarea id="composer" rows="2" value=${draft} onInput=${(e) => type(e.target.value)}
            onKeyDown=${(e) => { if (e.key === 'Enter' && !e.shiftKey) send(e); }}></textarea>
          <button type="submit">Send</button>
          ${error && html`<p class="error" role="alert">${error.message}</p>`}
        </form>
      </section>`;
  const people = html`<aside class="members" aria-label="Members">
        ${room.parent_id
          ? html`<h2>In this room</h2>
            <ul>${room.people.map((p) => html`<li key=${p.person_id} data-person=${p.display_name}>${p.display_name}${p.present ? html` <span class="role">here now</span>` : ''}</li>`)}</ul>`
          : html`<h2>Members</h2>
            <ul>${members.map((m) => html`<li key=${m.person_id}>${m.display_name} <span class="role">${m.role}</span></li>`)}</ul>`}
        ${room.breakout_rooms.length > 0 && html`<h2>Breakout rooms</h2>
          <ul>${room.breakout_rooms.map((b) => html`<li key=${b.id}>
            ${b.can_enter
              ? html`<a href=${`/rooms/${b.id}`} onClick=${(e) => { e.preventDefault(); navigate(`/rooms/${b.id}`); }}>${b.name}</a>`
              : b.name}</li>`)}</ul>`}
      </aside>`;
  return html`<${RoomLayout} key=${room.parent_id ?? room.id} room=${room} me=${me} navigate=${navigate}
    chat=${chat} people=${people} members=${members} reload=${load} />`;
}
