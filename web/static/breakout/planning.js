// @ts-check
// Planning rounds ahead, for moderators, inside the breakout dashboard: stored group plans (save
// the current assignment, load one, download it as CSV, delete it), a rotation round planned so
// that people meet new people (with constraints: groups kept together or apart, and a column of a
// CSV file, such as a class or a team, spread evenly), and a schedule of such rounds that runs by
// itself.

import { html, useState, useEffect } from '../vendor/preact-htm.js';
import { api } from '../lib/api.js';
import { csvRows } from '../lib/csv.js';

function summary(plan) {
  const people = plan.rooms.reduce((n, r) => n + r.people.length, 0);
  return `${plan.rooms.length} ${plan.rooms.length === 1 ? 'room' : 'rooms'}, ${people} ${people === 1 ? 'person' : 'people'}`;
}

/** A plan's rooms as text: one room per line, `Room name: address, address`. */
function roomsText(plan) {
  return plan.rooms.map((r) => `${r.name}: ${r.people.map((p) => p.email).join(', ')}`).join('\n');
}

/**
 * Rooms typed as text (see `roomsText`) as the API takes them; people already in the plan keep
 * the names it has for them. A line without a colon is an error naming it.
 */
function roomsFromText(text, plan) {
  const known = new Map(plan.rooms.flatMap((r) => r.people).map((p) => [p.email.toLowerCase(), p]));
  return text.split('\n').map((line, i) => [line.trim(), i + 1]).filter(([line]) => line).map(([line, n]) => {
    const colon = line.indexOf(':');
    if (colon < 1) throw new Error(`Line ${n}: write the room's name, a colon, then the addresses.`);
    const emails = line.slice(colon + 1).split(',').map((e) => e.trim()).filter(Boolean);
    return {
      name: line.slice(0, colon).trim(),
      people: emails.map((email) => known.get(email.toLowerCase()) ?? { email }),
    };
  });
}

/** Editing a plan's name and rooms; the live assignment stays as it is. */
function PlanEditor({ plan, save, cancel }) {
  const [name, setName] = useState(plan.name);
  const [text, setText] = useState(() => roomsText(plan));
  const id = `plan-rooms-${plan.id}`;
  return html`<form class="plan-editor" aria-label=${`Edit ${plan.name}`} onSubmit=${(e) => { e.preventDefault(); save(() => ({ name: name.trim(), rooms: roomsFromText(text, plan) })); }}>
    <label>Name <input value=${name} onInput=${(e) => setName(e.target.value)} /></label>
    <label for=${id}>Rooms: one per line, the room's name, a colon, then the addresses</label>
    <textarea id=${id} rows=${Math.min(Math.max(plan.rooms.length + 1, 3), 12)} value=${text} onInput=${(e) => setText(e.target.value)}></textarea>
    <button type="submit">Save ${plan.name}</button>
    <button type="button" class="link" onClick=${cancel}>Cancel</button>
  </form>`;
}

/** `why`: `null` when a plan may be loaded now, else why not (from the dashboard). */
function Plans({ mainId, why, onChanged, onError }) {
  const [plans, setPlans] = useState(null);
  const [editing, setEditing] = useState(null);
  const [name, setName] = useState('');
  const [said, setSaid] = useState('');
  const base = `/rooms/${mainId}/breakout/plans`;
  const reload = () => api('GET', base).then(setPlans).catch(onError);
  useEffect(() => { reload(); }, [mainId]);
  const act = async (what, done) => {
    try {
      onError(null);
      const result = await what();
      setSaid(done(result));
      reload();
      onChanged();
    } catch (err) {
      onError(err);
    }
  };
  return html`<section class="plans" aria-label="Group plans">
    <h4>Group plans</h4>
    <p class="hint">A plan keeps rooms by name and people by address: load it in a later session, even after the rooms were deleted.</p>
    ${plans && plans.length === 0 && html`<p>No plans yet.</p>`}
    ${plans && plans.length > 0 && html`<ul class="plan-list">${plans.map((p) => html`<li key=${p.id}>
      <span class="plan-name">${p.name}</span> <span class="hint">${summary(p)}</span>
      <button type="button" disabled=${why !== null} title=${why ?? undefined} onClick=${() => act(() => api('POST', `${base}/${p.id}/load`),
        (s) => `Loaded ${p.name}: ${s.assigned} assigned${s.rooms_created ? `, ${s.rooms_created} rooms made` : ''}${s.invited ? `, ${s.invited} invited` : ''}.`)}>Load ${p.name}</button>
      <a href=${`/api/v1${base}/${p.id}/csv`} download=${`${p.name}.csv`}>Download ${p.name}</a>
      <button type="button" class="link" onClick=${() => setEditing(editing === p.id ? null : p.id)}>Edit ${p.name}</button>
      <button type="button" class="link" onClick=${() => confirm(`Delete the plan ${p.name}? The live assignment stays as it is.`)
        && act(() => api('DELETE', `${base}/${p.id}`), () => `Deleted ${p.name}.`)}>Delete ${p.name}</button>
      ${editing === p.id && html`<${PlanEditor} plan=${p} cancel=${() => setEditing(null)}
        save=${(changes) => act(() => api('PUT', `${base}/${p.id}`, changes()), (saved) => { setEditing(null); return `Saved ${saved.name}: ${summary(saved)}.`; })} />`}
    </li>`)}</ul>`}
    <form class="inline" onSubmit=${(e) => {
      e.preventDefault();
      const wanted = name.trim();
      if (wanted) act(() => api('POST', base, { name: wanted, from_current: true }), () => { setName(''); return `Saved the current assignment as ${wanted}.`; });
    }}>
      <label>Plan name <input value=${name} onInput=${(e) => setName(e.target.value)} /></label>
      <button type="submit">Save current assignment as a plan</button>
    </form>
    <p class="said" role="status">${said}</p>
  </section>`;
}

/**
 * Groups typed as names, one group per line, separated by commas, as lists of person ids. A name
 * nobody in the room has, or that two people share, is an error naming it.
 */
function namedGroups(text, people, what) {
  const byName = new Map();
  for (const p of people) {
    const key = p.display_name.trim().toLowerCase();
    byName.set(key, byName.has(key) ? null : p.person_id);
  }
  const groups = [];
  for (const line of text.split('\n')) {
    const names = line.split(',').map((n) => n.trim()).filter(Boolean);
    if (names.length === 0) continue;
    const ids = names.map((name) => {
      const id = byName.get(name.toLowerCase());
      if (id === undefined) throw new Error(`${what}: nobody here is called ${name}.`);
      if (id === null) throw new Error(`${what}: more than one person is called ${name}; use the CSV import to tell them apart.`);
      return id;
    });
    groups.push(ids);
  }
  return groups;
}

/** Constraints for rotation rounds: who stays together, who apart, what is spread evenly. */
function Constraints({ value, onChange }) {
  const { together, apart, csv, column } = value;
  const set = (patch) => onChange({ ...value, ...patch });
  const readCsv = async (file) => {
    const rows = csvRows(await file.text());
    const header = (rows[0] ?? []).map((h) => h.trim());
    const email = header.findIndex((h) => h.toLowerCase() === 'email');
    if (email < 0) { set({ csv: null, column: '', csvError: 'The CSV file needs an email column.' }); return; }
    const columns = header.filter((h, i) => i !== email && h);
    set({ csv: { header, email, rows: rows.slice(1), name: file.name }, column: columns[0] ?? '', csvError: '' });
  };
  const columns = csv ? csv.header.filter((h, i) => i !== csv.email && h) : [];
  const values = csv && column ? new Set(csv.rows.map((r) => (r[csv.header.indexOf(column)] ?? '').trim()).filter(Boolean)) : new Set();
  return html`<details class="constraints"><summary>Constraints</summary>
    <label for="keep-together">Keep together: one group per line, names separated by commas</label>
    <textarea id="keep-together" rows="2" value=${together} onInput=${(e) => set({ together: e.target.value })}></textarea>
    <label for="keep-apart">Keep apart: one group per line, names separated by commas</label>
    <textarea id="keep-apart" rows="2" value=${apart} onInput=${(e) => set({ apart: e.target.value })}></textarea>
    <label>Spread evenly by a column of a CSV file with an email column
      <input type="file" accept=".csv,text/csv" onChange=${(e) => { const f = e.target.files[0]; if (f) readCsv(f); }} /></label>
    ${value.csvError && html`<p class="error">${value.csvError}</p>`}
    ${columns.length > 0 && html`<label>Column <select value=${column} onChange=${(e) => set({ column: e.target.value })}>
      ${columns.map((c) => html`<option key=${c} value=${c}>${c}</option>`)}</select></label>
      <p class="hint">${`${csv.name}: ${values.size} ${values.size === 1 ? 'value' : 'values'} of ${column} `
        + `over ${csv.rows.length} ${csv.rows.length === 1 ? 'person' : 'people'}, spread evenly over the rooms.`}</p>`}
  </details>`;
}

/** The constraints as the rotation API takes them (an error names a name it cannot place). */
function constraintsBody(value, people) {
  const body = {};
  const together = namedGroups(value.together, people, 'Keep together');
  const apart = namedGroups(value.apart, people, 'Keep apart');
  if (together.length) body.together = together;
  if (apart.length) body.apart = apart;
  const { csv, column } = value;
  if (csv && column) {
    const at = csv.header.indexOf(column);
    const byEmail = {};
    for (const row of csv.rows) {
      const email = (row[csv.email] ?? '').trim();
      const v = (row[at] ?? '').trim();
      if (email && v) byEmail[email] = v;
    }
    body.attribute_by_email = byEmail;
  }
  return body;
}

function Rotation({ mainId, session, onChanged, onError }) {
  const [constraints, setConstraints] = useState({ together: '', apart: '', csv: null, column: '', csvError: '' });
  const [size, setSize] = useState('2');
  const [presentOnly, setPresentOnly] = useState(false);
  const [rounds, setRounds] = useState('3');
  const [minutes, setMinutes] = useState('5');
  const [pause, setPause] = useState('60');
  const [said, setSaid] = useState('');
  const base = `/rooms/${mainId}/breakout`;
  const live = session.status !== 'idle';
  const schedule = session.schedule;
  const rotation = () => ({ size: Number(size), present_only: presentOnly, ...constraintsBody(constraints, session.people) });
  const act = async (what, done) => {
    try {
      onError(null);
      setSaid(done(await what()));
      onChanged();
    } catch (err) {
      setSaid('');
      onError(err);
    }
  };
  return html`<section class="rotation" aria-label="Rotation rounds">
    <h4>Rotation rounds</h4>
    <p class="hint">Huddle plans each round so that people meet as few of the same people again as possible.</p>
    <label>People per room <input type="number" min="1" value=${size} onInput=${(e) => setSize(e.target.value)} /></label>
    <label><input type="checkbox" checked=${presentOnly} onChange=${(e) => setPresentOnly(e.target.checked)} /> Only those here now</label>
    <${Constraints} value=${constraints} onChange=${setConstraints} />
    <button type="button" disabled=${session.may.plan !== null} title=${session.may.plan ?? undefined}
      onClick=${() => act(() => api('POST', `${base}/rotate`, rotation()), planned)}>Plan a rotation round</button>
    ${schedule
      ? html`<p class="schedule-state">${live ? `Round ${schedule.done + 1} of ${schedule.rounds} under way.`
          : `Round ${schedule.done} of ${schedule.rounds} done; the next starts at ${new Date(schedule.next_at).toLocaleTimeString()}.`}</p>
        <button type="button" class="stop" onClick=${() => act(() => api('DELETE', `${base}/schedule`), () => 'Schedule stopped.')}>Stop the schedule</button>`
      : html`<fieldset class="schedule-form"><legend>A schedule that runs by itself</legend>
        <label>Rounds <input type="number" min="1" max="50" value=${rounds} onInput=${(e) => setRounds(e.target.value)} /></label>
        <label>Minutes per round <input type="number" min="1" value=${minutes} onInput=${(e) => setMinutes(e.target.value)} /></label>
        <label>Break in seconds <input type="number" min="0" max="3600" value=${pause} onInput=${(e) => setPause(e.target.value)} /></label>
        <button type="button" class="start" disabled=${session.may.schedule !== null} title=${session.may.schedule ?? undefined} onClick=${() => act(() => api('POST', `${base}/schedule`, {
          rounds: Number(rounds), duration_secs: Math.round(Number(minutes) * 60), break_secs: Number(pause), rotation: rotation(),
        }), () => `Schedule started: ${rounds} rounds.`)}>Start the schedule</button>
      </fieldset>`}
    <p class="said" role="status">${said}</p>
  </section>`;
}

/** The moderators' planning box: group plans, rotation rounds and schedules. */
export function Planning({ mainId, session, onChanged, onError }) {
  return html`<details class="planning"><summary>Plans and rotation</summary>
    <${Plans} mainId=${mainId} why=${session.may.plan} onChanged=${onChanged} onError=${onError} />
    <${Rotation} mainId=${mainId} session=${session} onChanged=${onChanged} onError=${onError} />
  </details>`;
}

/** What a planned rotation round says. */
function planned(r) {
  const repeats = r.repeats === 0 ? 'nobody meets anyone again' : `${r.repeats} repeated ${r.repeats === 1 ? 'meeting' : 'meetings'}`;
  return `Planned: ${r.placed} placed, ${repeats} (${r.rounds_considered} earlier ${r.rounds_considered === 1 ? 'round' : 'rounds'} today).`;
}
