// @ts-check
// How the call is for each person, for moderators: loss, round trip, jitter, bitrates, layers.

import { html, useState, useEffect } from '../vendor/preact-htm.js';
import { api } from '../lib/api.js';

/** How a person's connection is, from what the server measures: `poor` where a call suffers
 * (more than 5 % lost either way, a round trip over 400 ms or audio jitter over 50 ms), `weak`
 * where it is at risk (1 % lost, 200 ms, 30 ms, or the server holds their video down), `good`
 * otherwise. */
function connectionQuality(p) {
  const loss = Math.max(p.loss_to ?? 0, p.loss_from ?? 0);
  const jitter = Math.max(p.jitter_to_ms ?? 0, p.jitter_from_ms ?? 0);
  const rtt = p.rtt_ms ?? 0;
  if (!p.connected || loss > 0.05 || rtt > 400 || jitter > 50) return 'poor';
  if (loss > 0.01 || rtt > 200 || jitter > 30 || p.ceiling_kbps !== null) return 'weak';
  return 'good';
}

const percent = (f) => (f === null || f === undefined ? '–' : `${(f * 100).toFixed(1)} %`);

const ms = (v) => (v === null || v === undefined ? '–' : `${Math.round(v)} ms`);

/** For moderators: each person's call (loss, round trip, jitter, bitrates, video layers), read
 * from the server every two seconds while `visible`, so that a teacher sees who is struggling. */
export function CallQuality({ mainId, visible }) {
  const [stats, setStats] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    if (!visible) return undefined;
    let stop = false;
    const load = async () => {
      try {
        const s = await api('GET', `/rooms/${mainId}/call/stats`);
        if (!stop) { setStats(s); setError(null); }
      } catch (err) {
        if (!stop) setError(err.message);
      }
    };
    load();
    const timer = setInterval(load, 2000);
    return () => { stop = true; clearInterval(timer); };
  }, [mainId, visible]);
  const people = stats?.people ?? [];
  return html`<section class="call-quality" aria-label="Call quality">
    <h2>Call quality</h2>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${stats && people.length === 0 && html`<p class="muted">Nobody is in the call.</p>`}
    ${people.length > 0 && html`<table>
      <thead><tr><th scope="col">Person</th><th scope="col">Connection</th><th scope="col">Lost to them</th>
        <th scope="col">Lost from them</th><th scope="col">Round trip</th><th scope="col">Jitter</th>
        <th scope="col">Receives</th><th scope="col">Sends</th><th scope="col">Video they get</th></tr></thead>
      <tbody>${people.map((p) => {
        const quality = connectionQuality(p);
        const layers = p.video.map((v) => (v.layer === null ? 'paused' : `${v.layer + 1}/${v.layers}`)).join(', ');
        return html`<tr key=${p.person_id} data-person=${p.display_name} data-quality=${quality}>
          <th scope="row">${p.display_name}</th>
          <td><span class=${`quality ${quality}`}>${quality}</span></td>
          <td>${percent(p.loss_to)}</td><td>${percent(p.loss_from)}</td><td>${ms(p.rtt_ms)}</td>
          <td>${ms(Math.max(p.jitter_to_ms ?? 0, p.jitter_from_ms ?? 0))}</td>
          <td>${p.receiving_kbps} kbit/s${p.ceiling_kbps !== null ? html` <span class="muted">(held to ${p.ceiling_kbps})</span>` : ''}</td>
          <td>${p.sending_kbps} kbit/s</td><td>${layers || '–'}</td>
        </tr>`;
      })}</tbody>
    </table>`}
  </section>`;
}
