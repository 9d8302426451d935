// @ts-check
// The breakout settings form of the dashboard.

import { html, useState, useEffect } from '../vendor/preact-htm.js';

export function Settings({ session, save }) {
  const initial = () => ({
    ...session.settings,
    minutes: session.settings.duration_secs ? String(session.settings.duration_secs / 60) : '',
  });
  const [form, setForm] = useState(initial);
  const [saved, setSaved] = useState(false);
  useEffect(() => setForm(initial()), [JSON.stringify(session.settings)]);
  const set = (key) => (e) => {
    setSaved(false);
    setForm({ ...form, [key]: e.target.type === 'checkbox' ? e.target.checked : e.target.value });
  };
  const free = form.mode === 'free';
  const submit = async (e) => {
    e.preventDefault();
    const { minutes, ...settings } = form;
    const done = await save({
      ...settings,
      duration_secs: minutes === '' ? null : Math.round(Number(minutes) * 60),
      countdown_secs: Number(form.countdown_secs),
    });
    setSaved(!!done);
  };
  return html`<form class="settings" onSubmit=${submit} aria-label="Breakout settings">
    <label><input type="checkbox" checked=${form.enabled} onChange=${set('enabled')} /> Breakout rooms enabled</label>
    <label>Mode <select value=${form.mode} onChange=${set('mode')}>
      <option value="automatic">Automatic</option><option value="manual">Manual</option><option value="free">Participants choose</option>
    </select></label>
    <label><input type="checkbox" checked=${free || form.free_movement} disabled=${free} onChange=${set('free_movement')} />
      Participants may move between rooms${free ? html` <span class="hint">(always, when participants choose)</span>` : ''}</label>
    <label><input type="checkbox" checked=${form.return_to_main} onChange=${set('return_to_main')} /> Participants may return to the main room</label>
    <label><input type="checkbox" checked=${form.everyone_broadcasts} onChange=${set('everyone_broadcasts')} /> Everyone may broadcast</label>
    <label>Duration (minutes) <input type="number" min="0" step="any" value=${form.minutes} onInput=${set('minutes')} /></label>
    <label>Countdown (seconds) <input type="number" min="0" max="600" value=${form.countdown_secs} onInput=${set('countdown_secs')} /></label>
    <button type="submit">Save settings</button>
    ${saved && html`<span class="saved" role="status">Settings saved.</span>`}
  </form>`;
}
