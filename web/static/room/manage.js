// @ts-check
// The Manage tab's room settings: rename, members and their roles, delete.

import { html, useState } from '../vendor/preact-htm.js';
import { api } from '../lib/api.js';
import { Field } from '../lib/field.js';

export function RoomAdmin({ room, members, me, navigate, reload }) {
  const [name, setName] = useState(room.name);
  const [email, setEmail] = useState('');
  const [role, setRole] = useState('participant');
  const [error, setError] = useState(null);
  const act = async (fn) => {
    try { setError(null); await fn(); reload(); } catch (err) { setError(err); }
  };
  // Several addresses at once (commas, spaces or lines between them): each is added on its own,
  // and the ones that could not be stay in the field with what was wrong beside it.
  const [refused, setRefused] = useState(null);
  const [added, setAdded] = useState(null);
  const addMembers = async (e) => {
    e.preventDefault();
    const emails = [...new Set(email.split(/[\s,;]+/).filter(Boolean))];
    const failed = [];
    let count = 0;
    for (const address of emails) {
      try {
        await api('POST', `/rooms/${room.id}/members`, { email: address, role });
        count += 1;
      } catch (err) {
        failed.push([address, err.message]);
      }
    }
    setEmail(failed.map(([address]) => address).join(', '));
    setRefused(failed.length ? failed.map(([address, why]) => `${address}: ${why}`).join('; ') : null);
    setAdded(count ? `Added ${count} member${count === 1 ? '' : 's'}.` : null);
    reload();
  };
  return html`<section class="room-admin" aria-label="Manage room">
    <h2>Manage</h2>
    ${error && html`<p class="error" role="alert">${error.message}</p>`}
    <form class="inline" onSubmit=${(e) => { e.preventDefault(); act(() => api('PATCH', `/rooms/${room.id}`, { name })); }}>
      <${Field} label="Room name" value=${name} onInput=${setName} />
      <button type="submit">Rename</button>
    </form>
    <form class="inline" onSubmit=${addMembers}>
      <${Field} label="Add members by email" value=${email} onInput=${(v) => { setEmail(v); setRefused(null); }}
        error=${refused} autocomplete="off" />
      <label>Role <select aria-label="Role of the new member" value=${role} onChange=${(e) => setRole(e.target.value)}>
        <option value="participant">Participant</option><option value="moderator">Moderator</option><option value="owner">Owner</option>
      </select></label>
      <button type="submit">Add members</button>
      ${added && html`<span class="saved" role="status">${added}</span>`}
    </form>
    <ul class="member-admin">${members.filter((m) => m.person_id !== me.id).map((m) => html`<li key=${m.person_id}>
      ${m.display_name}
      <select aria-label=${`Role of ${m.display_name}`} value=${m.role}
        onChange=${(e) => act(() => api('PATCH', `/rooms/${room.id}/members/${m.person_id}`, { role: e.target.value }))}>
        <option value="participant">Participant</option><option value="moderator">Moderator</option><option value="owner">Owner</option>
      </select>
      <button type="button" onClick=${() => confirm(`Remove ${m.display_name} from ${room.title}? They lose its chat, files and call at once.`)
        && act(() => api('DELETE', `/rooms/${room.id}/members/${m.person_id}`))}>Remove ${m.display_name}</button>
    </li>`)}</ul>
    ${room.role === 'owner' && !room.parent_id && html`<button type="button" class="danger"
      onClick=${() => confirm(deleteQuestion(room))
        && act(async () => { await api('DELETE', `/rooms/${room.id}`); navigate('/'); })}>Delete room</button>`}
  </section>`;
}

/** What deleting a room asks first, naming its breakout rooms. */
function deleteQuestion(room) {
  const n = room.breakout_rooms.length;
  const with_ = n ? ` and its ${n} breakout room${n === 1 ? '' : 's'}` : '';
  return `Delete ${room.name}${with_}? Every chat message, file, recording and meeting in them is deleted, for everyone, and cannot be brought back.`;
}
