// @ts-check
// The list of my rooms, kept current from the event stream, and creating a room.

import { html, useState, useEffect } from '../vendor/preact-htm.js';
import { api } from '../lib/api.js';
import { store } from '../lib/store.js';
import { Field } from '../lib/field.js';

export function RoomsPage({ navigate, me }) {
  const [rooms, setRooms] = useState(null);
  const [name, setName] = useState('');
  const [error, setError] = useState(null);
  const load = () => api('GET', '/rooms').then((r) => setRooms(r.rooms));
  useEffect(() => {
    load();
    return store.live.on((event) => {
      if (['room_created', 'member_added', 'members_added', 'member_removed', 'room_renamed', 'room_deleted'].includes(event.type)) load();
    });
  }, []);
  const create = async (e) => {
    e.preventDefault();
    try {
      const room = await api('POST', '/rooms', { name });
      setName('');
      navigate(`/rooms/${room.id}`);
    } catch (err) {
      setError(err);
    }
  };
  return html`<main>
    <h1>My rooms</h1>
    ${rooms === null ? html`<p>Loading…</p>` : rooms.length === 0 ? html`<p>No rooms yet.</p>` : html`
      <ul class="rooms">
        ${rooms.map((r) => html`<li key=${r.id}>
          <a href=${`/rooms/${r.id}`} onClick=${(e) => { e.preventDefault(); navigate(`/rooms/${r.id}`); }}>${r.title}</a>
          <span class="role">${r.role}</span>
        </li>`)}
      </ul>`}
    ${!me.is_guest && html`<form class="inline" onSubmit=${create}>
      <${Field} label="New room name" value=${name} onInput=${setName} error=${error?.message} />
      <button type="submit">Create room</button>
    </form>`}
  </main>`;
}
