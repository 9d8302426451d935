// The session report inside the moderators' dashboard: who was in which room when, as a timeline
// picture (people down the side, time across, a colour per room) drawn as SVG in the page, with
// each person's minutes per room, and the CSV and JSON downloads. It reads
// `GET …/breakout/report` (the last 24 hours) when opened and on "Refresh".

import { html, useState } from './vendor/preact-htm.js';
import { api } from './api.js';

// Colours for rooms, the main room first (grey); distinct enough side by side.
const COLOURS = ['#9aa3ad', '#2f6fde', '#e07a1f', '#2a9d5b', '#b03fb0', '#d1453b', '#1fa3b8', '#8a6d1f', '#5a4fcf', '#c2186b'];

function minutes(ms) {
  const m = Math.round(ms / 60000);
  return m < 1 && ms > 0 ? '<1 min' : `${m} min`;
}

function clockTime(ms, seconds = false) {
  return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', ...(seconds ? { second: '2-digit' } : {}) });
}

/** The timeline: one row per person, a bar per stay, coloured by room. */
function Timeline({ report }) {
  const people = report.people;
  if (people.length === 0) return html`<p>Nobody was here in this time.</p>`;
  const start = Math.min(...people.flatMap((p) => p.stays.map((s) => s.from)));
  const end = Math.max(...people.flatMap((p) => p.stays.map((s) => s.to)));
  const span = Math.max(end - start, 1);
  const colour = new Map(report.rooms.map((r, i) => [r.id, COLOURS[i % COLOURS.length]]));
  const name = new Map(report.rooms.map((r) => [r.id, r.name]));
  const left = 140;
  const width = 760;
  const row = 24;
  const height = people.length * row + 30;
  const x = (ms) => left + ((ms - start) / span) * (width - left - 10);
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => start + f * span);
  return html`<figure class="timeline">
    <svg role="img" aria-label=${`Timeline of ${people.length} ${people.length === 1 ? 'person' : 'people'} from ${clockTime(start)} to ${clockTime(end)}`}
        viewBox=${`0 0 ${width} ${height}`} width="100%">
      ${people.map((p, i) => html`<g key=${p.person_id} class="timeline-row" data-person=${p.display_name}>
        <text x="4" y=${i * row + 16} class="timeline-name">${p.display_name}</text>
        ${p.stays.map((s) => html`<rect x=${x(s.from)} y=${i * row + 4} width=${Math.max(x(s.to) - x(s.from), 1)} height=${row - 8}
            fill=${colour.get(s.room_id) ?? '#666'} data-room=${name.get(s.room_id)}>
          <title>${p.display_name}: ${name.get(s.room_id)}, ${clockTime(s.from)}–${clockTime(s.to)} (${minutes(s.to - s.from)})</title></rect>`)}
      </g>`)}
      ${ticks.map((t, i) => html`<text key=${t} x=${x(t)} y=${height - 6} class="timeline-tick"
          text-anchor=${i === 0 ? 'start' : i === ticks.length - 1 ? 'end' : 'middle'}>${clockTime(t, span < 600000)}</text>`)}
    </svg>
    <figcaption><ul class="legend">${report.rooms.map((r) => html`<li key=${r.id}>
      <svg class="swatch" width="12" height="12" aria-hidden="true"><rect width="12" height="12" fill=${colour.get(r.id)} /></svg>${r.name}</li>`)}</ul></figcaption>
  </figure>`;
}

/** Minutes per person and room, as a table (the same facts as the picture, for reading). */
function Minutes({ report }) {
  const name = new Map(report.rooms.map((r) => [r.id, r.name]));
  return html`<table class="report-table">
    <caption>Minutes per room</caption>
    <thead><tr><th scope="col">Person</th><th scope="col">Connected</th><th scope="col">Where</th></tr></thead>
    <tbody>${report.people.map((p) => html`<tr key=${p.person_id}>
      <th scope="row">${p.display_name}</th><td>${minutes(p.connected_ms)}</td>
      <td>${p.by_room.map((t) => `${name.get(t.room_id)}: ${minutes(t.ms)}`).join(', ')}</td></tr>`)}</tbody>
  </table>`;
}

/** The moderators' report box. */
export function SessionReport({ mainId, onError }) {
  const [report, setReport] = useState(null);
  const base = `/rooms/${mainId}/breakout/report`;
  const load = () => api('GET', base).then(setReport).catch(onError);
  return html`<details class="report" onToggle=${(e) => { if (e.target.open && !report) load(); }}>
    <summary>Session report</summary>
    <section aria-label="Session report">
      <p class="hint">Who was in which room over the last 24 hours.
        <button type="button" class="link" onClick=${load}>Refresh</button>${' '}
        <a href=${`/api/v1${base}.csv`} download="session-report.csv">Download CSV</a>${' '}
        <a href=${`/api/v1${base}`} download="session-report.json">Download JSON</a></p>
      ${report && html`<${Timeline} report=${report} /><${Minutes} report=${report} />`}
    </section>
  </details>`;
}
