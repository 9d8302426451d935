// Planning rounds ahead, for moderators, inside the breakout dashboard: stored group plans (save
// the current assignment, load one, download it as CSV, delete it), a rotation round planned so
// that people meet new people, and a schedule of such rounds that runs by itself.

import { html, useState, useEffect } from './vendor/preact-htm.js';
import { api } from './api.js';

function summary(plan) {
  const people = plan.rooms.reduce((n, r) => n + r.people.length, 0);
  return `${plan.rooms.length} ${plan.rooms.length === 1 ? 'room' : 'rooms'}, ${people} ${people === 1 ? 'person' : 'people'}`;
}

function Plans({ mainId, running, onChanged, onError }) {
  const [plans, setPlans] = useState(null);
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
      <button type="button" disabled=${running} onClick=${() => act(() => api('POST', `${base}/${p.id}/load`),
        (s) => `Loaded ${p.name}: ${s.assigned} assigned${s.rooms_created ? `, ${s.rooms_created} rooms made` : ''}${s.invited ? `, ${s.invited} invited` : ''}.`)}>Load ${p.name}</button>
      <a href=${`/api/v1${base}/${p.id}/csv`} download=${`${p.name}.csv`}>Download ${p.name}</a>
      <button type="button" class="link" onClick=${() => confirm(`Delete the plan ${p.name}? The live assignment stays as it is.`)
        && act(() => api('DELETE', `${base}/${p.id}`), () => `Deleted ${p.name}.`)}>Delete ${p.name}</button>
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

function Rotation({ mainId, session, onChanged, onError }) {
  const [size, setSize] = useState('2');
  const [presentOnly, setPresentOnly] = useState(false);
  const [rounds, setRounds] = useState('3');
  const [minutes, setMinutes] = useState('5');
  const [pause, setPause] = useState('60');
  const [said, setSaid] = useState('');
  const base = `/rooms/${mainId}/breakout`;
  const live = session.status !== 'idle';
  const schedule = session.schedule;
  const rotation = () => ({ size: Number(size), present_only: presentOnly });
  const act = async (what, done) => {
    try {
      onError(null);
      setSaid(done(await what()));
      onChanged();
    } catch (err) {
      onError(err);
    }
  };
  return html`<section class="rotation" aria-label="Rotation rounds">
    <h4>Rotation rounds</h4>
    <p class="hint">Huddle plans each round so that people meet as few of the same people again as possible.</p>
    <label>People per room <input type="number" min="1" value=${size} onInput=${(e) => setSize(e.target.value)} /></label>
    <label><input type="checkbox" checked=${presentOnly} onChange=${(e) => setPresentOnly(e.target.checked)} /> Only those here now</label>
    <button type="button" disabled=${live} onClick=${() => act(() => api('POST', `${base}/rotate`, rotation()),
      (r) => `Planned: ${r.placed} placed, ${r.repeats === 0 ? 'nobody meets anyone again' : `${r.repeats} repeated ${r.repeats === 1 ? 'meeting' : 'meetings'}`} (${r.rounds_considered} earlier ${r.rounds_considered === 1 ? 'round' : 'rounds'} today).`)}>Plan a rotation round</button>
    ${schedule
      ? html`<p class="schedule-state">${live ? `Round ${schedule.done + 1} of ${schedule.rounds} under way.`
          : `Round ${schedule.done} of ${schedule.rounds} done; the next starts at ${new Date(schedule.next_at).toLocaleTimeString()}.`}</p>
        <button type="button" class="stop" onClick=${() => act(() => api('DELETE', `${base}/schedule`), () => 'Schedule stopped.')}>Stop the schedule</button>`
      : html`<fieldset class="schedule-form"><legend>A schedule that runs by itself</legend>
        <label>Rounds <input type="number" min="1" max="50" value=${rounds} onInput=${(e) => setRounds(e.target.value)} /></label>
        <label>Minutes per round <input type="number" min="1" value=${minutes} onInput=${(e) => setMinutes(e.target.value)} /></label>
        <label>Break in seconds <input type="number" min="0" max="3600" value=${pause} onInput=${(e) => setPause(e.target.value)} /></label>
        <button type="button" class="start" disabled=${live || !session.settings.enabled} onClick=${() => act(() => api('POST', `${base}/schedule`, {
          rounds: Number(rounds), duration_secs: Math.round(Number(minutes) * 60), break_secs: Number(pause), rotation: rotation(),
        }), () => `Schedule started: ${rounds} rounds.`)}>Start the schedule</button>
      </fieldset>`}
    <p class="said" role="status">${said}</p>
  </section>`;
}

/** The moderators' planning box: group plans, rotation rounds and schedules. */
export function Planning({ mainId, session, onChanged, onError }) {
  return html`<details class="planning"><summary>Plans and rotation</summary>
    <${Plans} mainId=${mainId} running=${session.status !== 'idle'} onChanged=${onChanged} onError=${onError} />
    <${Rotation} mainId=${mainId} session=${session} onChanged=${onChanged} onError=${onError} />
  </details>`;
}
