// @ts-check
// The session report inside the breakout panel: who was in which room when, as a timeline picture
// (people down the side, time across, a colour per room, a dark strip while in the call, a red
// mark while waiting for help, a dashed line per broadcast) drawn as SVG in the page, with each
// person's minutes per room, in the call, with camera and microphone on, their waits for help,
// the broadcasts, and the CSV and JSON downloads. One day at a time (today first). Moderators see
// everyone; a participant sees their own row ("My time in this session").

import { html, useState } from '../vendor/preact-htm.js';
import { api } from '../lib/api.js';

// Colours for rooms, the main room first (grey); distinct enough side by side.
const COLOURS = ['#9aa3ad', '#2f6fde', '#e07a1f', '#2a9d5b', '#b03fb0', '#d1453b', '#1fa3b8', '#8a6d1f', '#5a4fcf', '#c2186b'];

function minutes(ms) {
  const m = Math.round(ms / 60000);
  return m < 1 && ms > 0 ? '<1 min' : `${m} min`;
}

function clockTime(ms, seconds = false) {
  return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', ...(seconds ? { second: '2-digit' } : {}) });
}

/** `YYYY-MM-DD` of a local day. */
function dayOf(date) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

/** The window of a local day: from its midnight to the next. */
function windowOf(day) {
  const [y, m, d] = day.split('-').map(Number);
  return { from: new Date(y, m - 1, d).getTime(), to: new Date(y, m - 1, d + 1).getTime() };
}

/** The timeline: one row per person, a bar per stay, coloured by room. */
function Timeline({ report }) {
  const people = report.people;
  if (people.length === 0) return html`<p>Nobody was here on this day.</p>`;
  const times = people.flatMap((p) => [...p.stays, ...p.call, ...p.help]);
  const start = Math.min(...times.map((s) => s.from));
  const end = Math.max(...times.map((s) => s.to));
  const span = Math.max(end - start, 1);
  const colour = new Map(report.rooms.map((r, i) => [r.id, COLOURS[i % COLOURS.length]]));
  const name = new Map(report.rooms.map((r) => [r.id, r.name]));
  const left = 140;
  const width = 760;
  const row = 24;
  const height = people.length * row + 30;
  const x = (ms) => left + ((Math.min(Math.max(ms, start), end) - start) / span) * (width - left - 10);
  const bar = (from, to) => Math.max(x(to) - x(from), 1);
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => start + f * span);
  const broadcasts = report.broadcasts.filter((b) => b.at >= start && b.at <= end);
  return html`<figure class="timeline">
    <svg role="img" aria-label=${`Timeline of ${people.length} ${people.length === 1 ? 'person' : 'people'} from ${clockTime(start)} to ${clockTime(end)}`}
        viewBox=${`0 0 ${width} ${height}`} width="100%">
      ${people.map((p, i) => html`<g key=${p.person_id} class="timeline-row" data-person=${p.display_name}>
        <text x="4" y=${i * row + 16} class="timeline-name">${p.display_name}</text>
        ${p.stays.map((s) => html`<rect class="stay" x=${x(s.from)} y=${i * row + 4} width=${bar(s.from, s.to)} height=${row - 10}
            fill=${colour.get(s.room_id) ?? '#666'} data-room=${name.get(s.room_id)}>
          <title>${p.display_name}: ${name.get(s.room_id)}, ${clockTime(s.from)}–${clockTime(s.to)} (${minutes(s.to - s.from)})</title></rect>`)}
        ${p.call.filter((s) => s.kind === 'call').map((s) => html`<rect class="in-call" x=${x(s.from)} y=${i * row + row - 6} width=${bar(s.from, s.to)} height="3">
          <title>${p.display_name}: in the call, ${clockTime(s.from)}–${clockTime(s.to)}</title></rect>`)}
        ${p.help.map((h) => html`<rect class="help-wait" x=${x(h.from)} y=${i * row + 2} width=${bar(h.from, h.to)} height="3">
          <title>${p.display_name} waited ${minutes(h.waited_ms)} for help (${h.outcome})</title></rect>`)}
      </g>`)}
      ${broadcasts.map((b) => html`<line key=${b.at} class="broadcast-line" x1=${x(b.at)} x2=${x(b.at)} y1="0" y2=${height - 22}>
        <title>${clockTime(b.at)} ${b.display_name} to every room: ${b.text}</title></line>`)}
      ${ticks.map((t, i) => html`<text key=${t} x=${x(t)} y=${height - 6} class="timeline-tick"
          text-anchor=${i === 0 ? 'start' : i === ticks.length - 1 ? 'end' : 'middle'}>${clockTime(t, span < 600000)}</text>`)}
    </svg>
    <figcaption><ul class="legend">${report.rooms.map((r) => html`<li key=${r.id}>
      <svg class="swatch" width="12" height="12" aria-hidden="true"><rect width="12" height="12" fill=${colour.get(r.id)} /></svg>${r.name}</li>`)}
      <li><svg class="swatch" width="12" height="12" aria-hidden="true"><rect class="in-call" y="4" width="12" height="4" /></svg>In the call</li>
      <li><svg class="swatch" width="12" height="12" aria-hidden="true"><rect class="help-wait" y="4" width="12" height="4" /></svg>Waiting for help</li>
      ${broadcasts.length > 0 && html`<li><svg class="swatch" width="12" height="12" aria-hidden="true"><line class="broadcast-line" x1="6" x2="6" y1="0" y2="12" /></svg>Broadcast</li>`}
    </ul></figcaption>
  </figure>`;
}

/** Minutes per person: where, in the call, with camera and microphone, waiting for help. */
function Minutes({ report }) {
  const name = new Map(report.rooms.map((r) => [r.id, r.name]));
  const waits = (p) => p.help.length === 0 ? '—'
    : p.help.map((h) => `${name.get(h.room_id) ?? ''} ${clockTime(h.from)}: ${minutes(h.waited_ms)}, ${h.outcome}`).join('; ');
  return html`<table class="report-table">
    <caption>Minutes per room</caption>
    <thead><tr><th scope="col">Person</th><th scope="col">Connected</th><th scope="col">Where</th>
      <th scope="col">In the call</th><th scope="col">Camera on</th><th scope="col">Microphone on</th><th scope="col">Help requests</th></tr></thead>
    <tbody>${report.people.map((p) => html`<tr key=${p.person_id}>
      <th scope="row">${p.display_name}</th><td>${minutes(p.connected_ms)}</td>
      <td>${p.by_room.map((t) => `${name.get(t.room_id)}: ${minutes(t.ms)}`).join(', ')}</td>
      <td>${minutes(p.call_ms)}</td><td>${minutes(p.camera_ms)}</td><td>${minutes(p.mic_ms)}</td><td>${waits(p)}</td></tr>`)}</tbody>
  </table>`;
}

/** The broadcasts of the day, in order. */
function Broadcasts({ report }) {
  if (report.broadcasts.length === 0) return null;
  return html`<section aria-label="Broadcasts"><h4>Broadcasts</h4><ul class="broadcasts">
    ${report.broadcasts.map((b) => html`<li key=${b.at}><time datetime=${new Date(b.at).toISOString()}>${clockTime(b.at)}</time> ${b.display_name}: ${b.text}</li>`)}
  </ul></section>`;
}

/** The report box: everyone's for moderators, `own` (a participant's own row) otherwise. */
export function SessionReport({ mainId, own = false, onError }) {
  const [report, setReport] = useState(null);
  const [day, setDay] = useState(() => dayOf(new Date()));
  const base = `/rooms/${mainId}/breakout/report`;
  const { from, to } = windowOf(day);
  const query = `?from=${from}&to=${to}`;
  const load = (q = query) => api('GET', `${base}${q}`).then(setReport).catch(onError);
  const pick = (value) => {
    if (!value) return;
    setDay(value);
    const w = windowOf(value);
    load(`?from=${w.from}&to=${w.to}`);
  };
  const title = own ? 'My time in this session' : 'Session report';
  return html`<details class="report" onToggle=${(e) => { if (e.target.open && !report) load(); }}>
    <summary>${title}</summary>
    <section aria-label=${title}>
      <p class="hint">${own ? 'Where you were, and for how long, on' : 'Who was in which room, in the call and waiting for help, on'}${' '}
        <input type="date" aria-label="Day" value=${day} max=${dayOf(new Date())} onChange=${(e) => pick(e.target.value)} />${' '}
        <button type="button" class="link" onClick=${() => load()}>Refresh</button>${' '}
        <a href=${`/api/v1${base}.csv${query}`} download="session-report.csv">Download CSV</a>${' '}
        <a href=${`/api/v1${base}${query}`} download="session-report.json">Download JSON</a></p>
      ${report && html`<${Timeline} report=${report} /><${Minutes} report=${report} /><${Broadcasts} report=${report} />`}
    </section>
  </details>`;
}
