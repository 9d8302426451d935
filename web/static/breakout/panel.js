// @ts-check
// The breakout dashboard: one panel for moderators (settings, rooms, drag-and-drop assignment with a
// keyboard alternative, start/stop, broadcast) and, read-only with the few actions the server says
// they may take, for participants. What anyone may do, and why not, comes with the session.

import { html, useState } from '../vendor/preact-htm.js';
import { ActivityEditor, TaskLine } from './activity.js';
import { RosterCsv } from './csv.js';
import { useMainDocuments, DocumentShelf } from './documents.js';
import { Person, DropZone } from './person.js';
import { Planning } from './planning.js';
import { SessionReport } from './report.js';
import { Settings } from './settings.js';
import { api } from '../lib/api.js';

export function BreakoutPanel({ b, mainId, here, me, live, navigate }) {
  const { error, setError, load, run, sayMove } = b;
  // While a card is dragged the dashboard stands still (updates show when it is dropped), so that
  // neither the card nor the room it is dropped on moves under the pointer.
  const [held, setHeld] = useState(null);
  const session = held ?? b.session;
  const drag = {
    start: () => setHeld(b.session),
    end: () => setHeld(null),
    refused: (person) => setError(new Error(`${person.display_name} moved just as you picked them up: nobody was moved. Drag again.`)),
  };
  const [count, setCount] = useState('2');
  const [text, setText] = useState('');
  const [names, setNames] = useState('');
  // Participants may put the read-only dashboard away (seed 002); it stays away for the visit.
  const [hidden, setHidden] = useState(() => sessionStorage.getItem('huddle-dashboard-hidden') === '1');
  const hide = (on) => { sessionStorage.setItem('huddle-dashboard-hidden', on ? '1' : '0'); setHidden(on); };
  const [ctaLabel, setCtaLabel] = useState('');
  const [ctaUrl, setCtaUrl] = useState('');
  const [docs, shareDoc] = useMainDocuments(mainId, live, session?.can_manage === true);

  if (!session) return error ? html`<p class="error" role="alert">${error.message}</p>` : null;
  const manage = session.can_manage;
  if (!manage && !session.settings.enabled && session.rooms.length === 0) return null;
  const running = session.status !== 'idle';
  const people = session.people.filter((p) => p.role !== 'owner' && p.role !== 'moderator' || p.assignment);
  const assign = async (personId, room, name) => {
    const done = await (room
      ? run('PUT', `/assignments/${personId}`, { breakout: room })
      : run('DELETE', `/assignments/${personId}`));
    const who = name ?? session.people.find((p) => p.person_id === personId)?.display_name;
    if (done && who) {
      const where = room ? session.rooms.find((r) => r.id === room)?.name : null;
      sayMove(personId, where ? `${who} is now in ${where}.` : `${who} is now unassigned.`);
    }
    return done;
  };
  const mine = session.people.find((p) => p.person_id === me.id);
  const s = session.settings;
  // What the person may do comes with the dashboard, each with the reason it may not be done.
  const may = session.may;
  const choosable = (room) => !manage && room.may_join === null;
  const mayChoose = session.rooms.some(choosable);
  // Back to one's own room during a round, after a visit to the main room.
  const rejoins = (room) => running && mine?.assignment === room.id && mine.location === mainId;
  const card = (p, here) => html`<${Person} key=${p.person_id} person=${p} rooms=${session.rooms} manage=${manage}
    mine=${mayChoose && p.person_id === me.id} assign=${assign} here=${here} drag=${drag} />`;
  // What a room card's buttons do.
  const act = {
    join: async (room) => { if (await run('POST', '/join', { breakout: room.id }) && manage) navigate(`/rooms/${room.id}`); },
    leave: async () => { if (await run('POST', '/leave')) navigate(`/rooms/${mainId}`); },
    rename: (room) => {
      const name = prompt('New name', room.name);
      if (name) api('PATCH', `/rooms/${mainId}/breakout/rooms/${room.id}`, { name }).catch(setError);
    },
    message: (room) => {
      const text = prompt(`Message to ${room.name}`);
      if (text) run('POST', '/broadcast', { text, breakout: room.id });
    },
    remove: (room) => confirm(deleteQuestion(room)) && run('DELETE', `/rooms/${room.id}`),
  };

  return html`<section class="breakout" aria-label="Breakout rooms">
    <h2>Breakout rooms <span class="state">${session.status === 'idle' ? '' : session.status === 'running' ? '· running' : '· closing'}</span></h2>
    ${error && html`<p class="error" role="alert">${error.message}</p>`}
    ${manage && html`<details class="settings-box"><summary>Settings</summary>
      <${Settings} session=${session} save=${(settings) => run('PUT', '', settings)} /></details>`}
    ${manage && html`<div class="toolbar">
      <label>Number of rooms <input type="number" min="1" max="300" value=${count} onInput=${(e) => setCount(e.target.value)} /></label>
      <button type="button" onClick=${() => run('POST', '/rooms', { count: Number(count) })}>Create rooms</button>
      <details class="named-rooms"><summary>Create rooms with names</summary>
        <label for="room-names">Room names, one per line</label>
        <textarea id="room-names" rows="4" value=${names} onInput=${(e) => setNames(e.target.value)}></textarea>
        <button type="button" onClick=${async () => {
          const list = names.split('\n').map((n) => n.trim()).filter(Boolean);
          if (list.length && await run('POST', '/rooms', { names: list })) setNames('');
        }}>Create named rooms</button>
      </details>
      <button type="button" onClick=${() => confirm(resetQuestion(session.people.filter((p) => p.assignment).length)) && run('POST', '/reset')}
        disabled=${may.reset !== null} aria-describedby=${may.reset !== null ? 'reset-why' : undefined}>Reset assignments</button>
      ${may.reset !== null && html`<span class="hint" id="reset-why">Reset: ${may.reset}.</span>`}
      <button type="button" onClick=${() => confirm(deleteAllQuestion(session.rooms.length)) && run('DELETE', '/rooms')}>Delete all rooms</button>
      ${running
        ? html`<button type="button" class="stop" onClick=${() => run('POST', '/stop')}>Stop breakout rooms</button>`
        : !s.enabled
          ? html`<span class="hint">Breakout rooms are off for this room.</span>
            <button type="button" class="start" onClick=${() => run('PUT', '', { ...s, enabled: true })}>Turn on breakout rooms</button>`
          : html`<button type="button" class="start" onClick=${() => run('POST', '/start')} disabled=${may.start !== null}
              aria-describedby=${may.start !== null ? 'start-why' : undefined}>Start breakout rooms</button>
            ${may.start !== null && html`<span class="hint" id="start-why">Start: ${may.start}.</span>`}`}
    </div>`}
    ${manage && html`<${RosterCsv} mainId=${mainId} why=${may.import} onImported=${load} />`}
    ${manage && html`<${Planning} mainId=${mainId} session=${session} onChanged=${load} onError=${setError} />`}
    ${manage && html`<${ActivityEditor} mainId=${mainId} session=${session} docs=${docs} onChanged=${load} onError=${setError} />`}
    ${html`<${SessionReport} mainId=${mainId} own=${!manage} onError=${setError} />`}
    ${manage && html`<${DocumentShelf} items=${docs} share=${shareDoc} onError=${setError} />`}
    ${!manage && html`<button type="button" class="link" aria-expanded=${!hidden} onClick=${() => hide(!hidden)}>${hidden ? 'Show the breakout rooms' : 'Hide the breakout rooms'}</button>`}
    ${!(hidden && !manage) && html`<div class="grid">
      ${running && html`<section class="room main-room" aria-label="Main room">
        <h3>Main room <span class="count">${session.people.filter((p) => p.location === mainId).length} here</span></h3>
        <ul>${session.people.filter((p) => p.location === mainId).map((p) => html`<li key=${p.person_id} class="person present"
          data-person=${p.display_name}><span class="name">${p.display_name}</span></li>`)}</ul>
      </section>`}
      <${DropZone} className="room unassigned" label="Unassigned" droppable=${manage} onDrop=${(id) => assign(id, null)}>
        <h3>Unassigned</h3>
        <ul>${people.filter((p) => !p.assignment && p.role === 'participant').map((p) => card(p, mainId))}</ul>
      </${DropZone}>
      ${session.rooms.map((room) => html`<${DropZone} key=${room.id} className=${`room ${room.id === here ? 'current' : ''} ${room.closed ? 'closed' : ''}`}
          label=${room.name} droppable=${manage || choosable(room)}
          onDrop=${(id) => {
            const doc = id.startsWith('doc:') && docs.find((d) => d.id === id.slice(4));
            if (doc) return doc.shared_with.includes(room.id) || shareDoc(doc.id, [...doc.shared_with, room.id]).catch(setError);
            return manage ? assign(id, room.id) : id === me.id && run('POST', '/join', { breakout: room.id });
          }}>
        <h3>${room.name} <span class="count">${room.present.length} here</span>
          ${room.closed && html`<span class="closed-label">closed</span>`}
          ${manage && session.help.some((h) => h.breakout === room.id) && html`<span class="badge help-mark" role="img" aria-label="asks for help">help</span>`}</h3>
        <ul>${session.people.filter((p) => p.assignment === room.id || p.location === room.id).map((p) => card(p, room.id))}</ul>
        ${manage && html`<${TaskLine} room=${room} />`}
        ${manage && docs.some((d) => d.shared_with.includes(room.id)) && html`<ul class="room-docs" aria-label=${`Documents shared with ${room.name}`}>
          ${docs.filter((d) => d.shared_with.includes(room.id)).map((d) => html`<li key=${d.id}>${d.title}
            <button type="button" class="link" title="Stop sharing" aria-label=${`Stop sharing ${d.title} with ${room.name}`}
              onClick=${() => shareDoc(d.id, d.shared_with.filter((r) => r !== room.id)).catch(setError)}>×</button></li>`)}
        </ul>`}
        <div class="room-actions">
          ${(manage || choosable(room)) && room.id !== here
            && html`<button type="button" onClick=${() => act.join(room)}>${manage ? 'Join' : rejoins(room) ? 'Rejoin' : 'Choose'} ${room.name}</button>`}
          ${manage && room.id === here && html`<button type="button" onClick=${act.leave}>Leave ${room.name}</button>`}
          ${manage && running && !room.closed && html`<button type="button" onClick=${() => run('POST', '/stop', { rooms: [room.id] })}>Bring back ${room.name}</button>`}
          ${manage && html`<button type="button" onClick=${() => act.rename(room)}>Rename ${room.name}</button>`}
          ${manage && html`<button type="button" onClick=${() => act.message(room)}>Message ${room.name}</button>`}
          ${manage && html`<button type="button" onClick=${() => act.remove(room)}>Delete ${room.name}</button>`}
        </div>
      </${DropZone}>`)}
    </div>`}
    ${manage && running && html`<form class="broadcast-form" onSubmit=${async (e) => {
        e.preventDefault();
        const cta = ctaLabel && ctaUrl ? { label: ctaLabel, url: ctaUrl } : undefined;
        if (await run('POST', '/broadcast', { text, cta })) { setText(''); setCtaLabel(''); setCtaUrl(''); }
      }} aria-label="Broadcast">
      <label for="broadcast-text">Broadcast to all rooms</label>
      <textarea id="broadcast-text" rows="2" value=${text} onInput=${(e) => setText(e.target.value)}></textarea>
      <label>Button label <input value=${ctaLabel} onInput=${(e) => setCtaLabel(e.target.value)} /></label>
      <label>Button link <input type="url" value=${ctaUrl} onInput=${(e) => setCtaUrl(e.target.value)} /></label>
      <button type="submit">Broadcast</button>
    </form>`}
    ${manage && session.help.length > 0 && html`<section class="help-queue" aria-label="Help requests">
      <h3>Help requests</h3>
      <ul>${session.help.map((h) => {
        const room = session.rooms.find((r) => r.id === h.breakout);
        return html`<li key=${h.id}>${h.display_name} in ${room?.name ?? 'a room'}
          <button type="button" onClick=${async () => { if (await run('PATCH', `/help/${h.id}`, { action: 'accept' })) navigate(`/rooms/${h.breakout}`); }}>Accept</button>
          <button type="button" onClick=${() => run('PATCH', `/help/${h.id}`, { action: 'dismiss' })}>Dismiss</button></li>`;
      })}</ul>
    </section>`}
  </section>`;
}

/** What resetting the assignments loses, said before it happens. */
function resetQuestion(assigned) {
  const who = assigned === 1 ? 'The 1 assigned person becomes' : `All ${assigned} assigned people become`;
  return `Reset assignments? ${who} unassigned; the rooms stay.`;
}

/** What deleting one breakout room asks first, naming what is lost. */
function deleteQuestion(room) {
  const assigned = room.assigned.length;
  const who = assigned ? `, and its ${assigned} assigned ${assigned === 1 ? 'person becomes' : 'people become'} unassigned` : '';
  const present = room.present.length ? '; whoever is in it now goes back to the main room' : '';
  return `Delete ${room.name}? Its chat, files and meetings are deleted for everyone${who}${present}.`;
}

/** What deleting every breakout room asks first. */
function deleteAllQuestion(count) {
  return `Delete all ${count} breakout rooms? Their chats, files and meetings are deleted for everyone, and every assignment is cleared.`;
}
