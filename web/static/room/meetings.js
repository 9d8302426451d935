// @ts-check
// A room's scheduled meetings, with their .ics files.

import { html, useState } from '../vendor/preact-htm.js';
import { api } from '../lib/api.js';
import { useReload } from '../lib/reload.js';

const MEETING_EVENTS = new Set(['meeting_scheduled', 'meeting_cancelled', 'resync']);

function when(ms) {
  return new Date(ms).toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' });
}

/** Upcoming meetings of this room, with their .ics files, and scheduling one. */
export function MeetingsPanel({ room, me, live }) {
  const stream = room.parent_id ?? room.id;
  const [meetings, setMeetings] = useState([]);
  const [error, setError] = useState(null);
  const [form, setForm] = useState({ title: '', start: '', minutes: '60', description: '', target: room.id, breakout: false });
  const load = () => api('GET', `/rooms/${room.id}/meetings`).then((r) => setMeetings(r.meetings)).catch(setError);
  useReload(live, stream, MEETING_EVENTS, load, [room.id]);
  const manages = room.role === 'owner' || room.role === 'moderator';
  const set = (key) => (e) => setForm({ ...form, [key]: e.target.value });
  const submit = async (e) => {
    e.preventDefault();
    try {
      setError(null);
      const starts_at = form.start ? new Date(form.start).toISOString() : '';
      await api('POST', `/rooms/${form.target}/meetings`, {
        title: form.title, starts_at, duration_mins: Number(form.minutes), description: form.description,
        breakout_rooms: form.breakout && form.target === stream ? true : undefined,
      });
      setForm({ ...form, title: '', start: '', description: '', breakout: false });
      load();
    } catch (err) { setError(err); }
  };
  return html`<section class="meetings" aria-label="Meetings">
    <h2>Meetings</h2>
    ${meetings.length === 0 ? html`<p class="muted">No meetings scheduled.</p>` : html`<ul class="meeting-list">
      ${meetings.map((m) => html`<li key=${m.id} data-title=${m.title}>
        <strong>${m.title}</strong> <span>${when(m.starts_at)} · ${m.duration_mins} min</span>
        ${m.description && html`<p class="muted">${m.description}</p>`}
        <a href=${`/api/v1/rooms/${room.id}/meetings/${m.id}/calendar.ics`} download=${`${m.title}.ics`}>Add ${m.title} to my calendar (.ics)</a>
        ${(manages || m.created_by === me.id) && html`<button type="button" class="link" onClick=${async () => {
          try { await api('DELETE', `/rooms/${room.id}/meetings/${m.id}`); load(); } catch (err) { setError(err); }
        }}>Cancel ${m.title}</button>`}
      </li>`)}</ul>`}
    <form class="meeting-form" onSubmit=${submit} aria-label="Schedule a meeting">
      ${room.parent_id && html`<label>Room for the meeting <select value=${form.target} onChange=${set('target')}>
        <option value=${room.id}>This room (${room.title})</option>
        ${manages && html`<option value=${room.parent_id}>The main room</option>`}
      </select></label>`}
      <label>Meeting title <input value=${form.title} onInput=${set('title')} /></label>
      <label>Starts <input type="datetime-local" value=${form.start} onInput=${set('start')} /></label>
      <label>Duration (minutes) <input type="number" min="1" max="1440" value=${form.minutes} onInput=${set('minutes')} /></label>
      <label>Description <textarea rows="2" value=${form.description} onInput=${set('description')}></textarea></label>
      ${manages && form.target === stream && html`<label class="check"><input type="checkbox" checked=${form.breakout}
        onChange=${(e) => setForm({ ...form, breakout: e.target.checked })} /> Enable breakout rooms for this meeting's room</label>`}
      <button type="submit">Schedule meeting</button>
      ${error && html`<p class="error" role="alert">${error.message}</p>`}
    </form>
  </section>`;
}
