// @ts-check
// The dashboard's CSV pre-assignment: the template, the export, and an import with every problem
// of the file listed.

import { html, useState } from '../vendor/preact-htm.js';
import { send } from '../lib/api.js';

function plural(n, word) {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** CSV pre-assignment on the breakout dashboard: template, export, import with every error. */
/** `why`: `null` when an import may be made now, else why not (from the dashboard). */
export function RosterCsv({ mainId, why, onImported }) {
  const [result, setResult] = useState(null);
  const [error, setError] = useState(null);
  const base = `/api/v1/rooms/${mainId}/breakout`;
  const importFile = async (file) => {
    setResult(null);
    setError(null);
    try {
      const summary = await send('POST', `/rooms/${mainId}/breakout/assignments.csv`, file, 'text/csv');
      setResult(summary);
      onImported();
    } catch (err) { setError(err); }
  };
  return html`<div class="csv" aria-label="CSV pre-assignment">
    <a href=${`${base}/template.csv`} download="breakout-template.csv">Download the CSV template</a>
    <a href=${`${base}/assignments.csv`} download="breakout-assignments.csv">Export assignments (CSV)</a>
    <label class="button">Import CSV…<input type="file" accept=".csv,text/csv" class="visually-hidden" disabled=${why !== null}
      aria-label="Import a CSV file of assignments" aria-describedby=${why !== null ? 'csv-why' : undefined}
      onChange=${(e) => { if (e.target.files[0]) importFile(e.target.files[0]); e.target.value = ''; }} /></label>
    ${why !== null && html`<span class="hint" id="csv-why">Import: ${why}.</span>`}
    ${result && html`<p role="status">${imported(result)}</p>`}
    ${error && html`<div class="error" role="alert"><p>${error.message}</p>
      ${error.details?.length > 0 && html`<table class="csv-errors"><thead><tr><th>Row</th><th>Column</th><th>Problem</th></tr></thead>
        <tbody>${error.details.map((d, i) => html`<tr key=${i}><td>${d.row || 'file'}</td><td>${d.column ?? ''}</td><td>${d.message}</td></tr>`)}</tbody></table>`}
    </div>`}
  </div>`;
}

/** What an import says it did. */
function imported(r) {
  return `Imported ${plural(r.rows, 'row')}: ${plural(r.rooms_created, 'room')} created, ${r.assigned} assigned, `
    + `${r.members_added} added to the room, ${r.invited} invited by email.`;
}
