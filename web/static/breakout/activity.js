// @ts-check
// Activities (a task per breakout room, and the result each room hands back). Moderators write a
// task with documents from the main room for every room or one, in the breakout dashboard; the
// people of a room see their task at the top of the room while a round runs, and hand in a text
// or a file. At the end of the round the results land in the main room's content, named by room.

import { html, useState } from '../vendor/preact-htm.js';
import { api, send } from '../lib/api.js';

/** What the task editor says of tasks. */
const TASK_HINT = 'Each room sees its task at the top of the room when the round starts, and can hand in a result; '
  + "at the end of the round the results land in the main room's content, named by room. An empty task clears it.";

/** The moderators' editor: a task, its documents, and which rooms get it. */
export function ActivityEditor({ mainId, session, docs, onChanged, onError }) {
  const [task, setTask] = useState('');
  const [chosen, setChosen] = useState(() => new Set());
  const [rooms, setRooms] = useState('all');
  const [said, setSaid] = useState('');
  if (session.rooms.length === 0) return null;
  const toggle = (id) => { const next = new Set(chosen); if (next.has(id)) next.delete(id); else next.add(id); setChosen(next); };
  const give = async (e) => {
    e.preventDefault();
    try {
      onError(null);
      const body = { task, documents: [...chosen], rooms: rooms === 'all' ? [] : [rooms] };
      await api('PUT', `/rooms/${mainId}/breakout/activity`, body);
      const where = rooms === 'all' ? 'every room' : session.rooms.find((r) => r.id === rooms)?.name;
      setSaid(task.trim() || chosen.size ? `Task given to ${where}.` : `Task cleared for ${where}.`);
      onChanged();
    } catch (err) {
      onError(err);
    }
  };
  return html`<details class="activity-box"><summary>Tasks for the rooms</summary>
    <form class="activity-editor" aria-label="Room tasks" onSubmit=${give}>
      <p class="hint">${TASK_HINT}</p>
      <label for="activity-task">Task</label>
      <textarea id="activity-task" rows="3" maxlength="4000" value=${task} onInput=${(e) => setTask(e.target.value)}></textarea>
      ${docs.length > 0 && html`<fieldset><legend>Documents</legend>
        ${docs.map((d) => html`<label key=${d.id}><input type="checkbox" checked=${chosen.has(d.id)} onChange=${() => toggle(d.id)} /> ${d.title}</label>`)}
      </fieldset>`}
      <label>For <select value=${rooms} onChange=${(e) => setRooms(e.target.value)}>
        <option value="all">Every room</option>
        ${session.rooms.map((r) => html`<option key=${r.id} value=${r.id}>${r.name}</option>`)}
      </select></label>
      <button type="submit">Give the task</button>
      <span role="status">${said}</span>
    </form>
  </details>`;
}

/** A room card's line about its task and result (moderators). */
export function TaskLine({ room }) {
  const a = room.activity;
  if (!a) return null;
  return html`<p class="task-line" data-task=${room.name}><span class="muted">Task:</span> ${a.task || '(documents only)'}
    ${a.result ? html` · <span class="result-in">Result: ${a.result.title} from ${a.result.by_name}</span>` : html` · <span class="muted">no result yet</span>`}</p>`;
}

/**
 * The task of the breakout room a person is in, at the top of the room during a round: its text,
 * its documents, and handing in a result (a text, or a file of the room).
 */
export function RoomTask({ b, room }) {
  const [text, setText] = useState('');
  const [busy, setBusy] = useState(false);
  const [said, setSaid] = useState('');
  const session = b.session;
  if (!session || session.status === 'idle' || !room.parent_id) return null;
  const a = session.rooms.find((r) => r.id === room.id)?.activity;
  if (!a) return null;
  const handIn = async (body) => {
    setBusy(true);
    try {
      b.setError(null);
      const handed = await api('POST', `/rooms/${room.parent_id}/breakout/result`, body);
      setSaid(`Handed in at ${new Date(handed.at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}.`);
      setText('');
      b.load();
      return true;
    } catch (err) {
      b.setError(err);
      setSaid(err.message);
      return false;
    } finally {
      setBusy(false);
    }
  };
  const upload = async (file) => {
    const form = new FormData();
    form.append('file', file);
    try {
      const item = await send('POST', `/rooms/${room.id}/content`, form);
      await handIn({ content_id: item.id });
    } catch (err) {
      setSaid(err.message);
    }
  };
  return html`<section class="room-task" aria-label="Your task">
    <h2>Your task</h2>
    ${a.task && html`<p class="task-text">${a.task}</p>`}
    ${a.documents.length > 0 && html`<ul class="task-docs" aria-label="Documents for the task">${a.documents.map((d) => html`<li key=${d.id}>
      <a href=${`/api/v1/rooms/${room.id}/content/${d.id}`} target="_blank" rel="noopener">${d.title}</a></li>`)}</ul>`}
    ${a.result && html`<p class="muted">Handed in: ${a.result.title} by ${a.result.by_name}. Handing in again replaces it.</p>`}
    <form class="hand-in" onSubmit=${(e) => { e.preventDefault(); if (text.trim()) handIn({ text }); }}>
      <label for="result-text">Your room's result</label>
      <textarea id="result-text" rows="2" value=${text} onInput=${(e) => setText(e.target.value)}></textarea>
      <button type="submit" disabled=${busy || !text.trim()}>Hand in</button>
      <label class="file-pick">or a file <input type="file" disabled=${busy} onChange=${(e) => { const f = e.target.files[0]; if (f) upload(f); e.target.value = ''; }} /></label>
      <span role="status">${said}</span>
    </form>
  </section>`;
}
