// @ts-check
// The stage: the call's tiles (shared screens first), each person's microphone state, pinning,
// a moderator's mute, and the person's own controls; or where their call is, on a room's page
// they are not in.

import { html, useState, useEffect, useRef } from '../vendor/preact-htm.js';
import { Call } from './call.js';
import { RecordingNotice } from '../room/recording.js';

/** A slot's video; with `call` and `mid`, it tells the call how large it is shown, so that the
 * server sends the layer that fits. */
function Video({ stream, label, call, mid }) {
  const el = useRef(null);
  useEffect(() => {
    if (el.current && el.current.srcObject !== stream) el.current.srcObject = stream;
  }, [stream]);
  useEffect(() => {
    if (!call || !mid || !el.current || typeof ResizeObserver === 'undefined') return undefined;
    const observer = new ResizeObserver(([entry]) => {
      call.showAt(mid, Math.round(entry.contentRect.height * (window.devicePixelRatio || 1)));
    });
    observer.observe(el.current);
    return () => { observer.disconnect(); call.showAt(mid, 0); };
  }, [call, mid]);
  return html`<video ref=${el} autoplay playsinline muted aria-label=${label}></video>`;
}

/** The plain call panel of a room page: tiles with names and states, and the controls. */
export function CallPanel({ live, mainId, me, canModerate, room, away = null }) {
  const call = Call.of(live, mainId);
  const [, setTick] = useState(0);
  useEffect(() => call.subscribe(() => setTick((n) => n + 1)), [call]);

  // The page of a room the person is not in (a breakout room between rounds, or one a moderator
  // looks at): its call is for the people in it. One call goes on wherever the person is.
  const where = away && html`<p class="call-away" role="note">${call.status === 'idle'
    ? `This room's call is for the people in it; you are in ${away.name}.`
    : `You are in the call of ${away.name}.`}
    ${' '}<a href=${away.href} onClick=${away.go}>Go to ${away.name}</a></p>`;
  if (call.status === 'idle' && away) {
    return html`<section class="call" aria-label="Call" data-state="away">${where}</section>`;
  }
  if (call.status === 'idle') {
    return html`<section class="call" aria-label="Call" data-state="idle">
      ${room && html`<${RecordingNotice} room=${room} live=${live} />`}
      <button type="button" onClick=${() => call.join({ mic: true, camera: true })}>Join call</button>
      ${call.notice && html`<p class="notice" role="status">${call.notice}</p>`}
      ${call.error && html`<p class="error" role="alert">${call.error}</p>`}
    </section>`;
  }
  const view = call.view;
  const people = (view?.people ?? []).filter((p) => p.person_id !== me.id);
  const slotOf = (personId, source) => view?.slots.find((s) => s.person_id === personId && s.source === source);
  // Shared screens first (each across the whole row), then everyone's tile.
  const tiles = [];
  for (const p of people) {
    const screen = slotOf(p.person_id, 'screen');
    if (screen) tiles.push({ key: `${p.person_id}-screen`, person: p, slot: screen, screen: true });
  }
  for (const p of people) tiles.push({ key: p.person_id, person: p, slot: slotOf(p.person_id, 'camera'), screen: false });
  const self = view?.people.find((p) => p.person_id === me.id);
  return html`<section class="call" aria-label="Call" data-state=${call.status} data-call-id=${call.callId ?? ''}
      data-recorded=${view?.recording ? 'yes' : 'no'}>
    ${where}
    ${call.status === 'joining' && html`<p class="muted">Joining the call…</p>`}
    ${view?.recording && html`<p class="rec-call" role="status"><span class="dot" aria-hidden="true"></span>This call is being recorded</p>`}
    ${call.notice && html`<p class="notice" role="status">${call.notice}</p>`}
    ${call.error && html`<p class="error" role="alert">${call.error}</p>`}
    <ul class="tiles">
      ${tiles.map((t) => html`<li key=${t.key} class=${`tile${t.screen ? ' screen' : ''}${t.person.speaking && !t.screen ? ' speaking' : ''}`}
          data-person=${t.person.display_name} data-source=${t.screen ? 'screen' : 'camera'}>
        ${t.slot && call.streams.get(t.slot.mid)
          ? html`<${Video} stream=${call.streams.get(t.slot.mid)} call=${call} mid=${t.slot.mid} label=${`${t.person.display_name}${t.screen ? ' (screen)' : ''}`} />`
          : html`<div class="no-video" aria-hidden="true">${t.person.display_name.slice(0, 1)}</div>`}
        <span class="name">${t.person.display_name}${t.screen ? ' (screen)' : ''}</span>
        ${!t.screen && html`<span class=${`mic${t.person.mic && !t.person.muted_by_moderator ? ' on' : ''}`}
          aria-label=${t.person.muted_by_moderator ? 'muted by a moderator' : t.person.mic ? 'microphone on' : 'microphone off'}>
          ${t.person.muted_by_moderator ? 'Muted' : t.person.mic ? '' : 'Mic off'}</span>`}
        ${!t.screen && html`<span class="actions">
          ${canModerate && t.person.mic && !t.person.muted_by_moderator
            && html`<button type="button" class="link" onClick=${() => call.mute(t.person.person_id)}>Mute ${t.person.display_name}</button>`}
          <button type="button" class="link" aria-pressed=${call.pinned === t.person.person_id}
            onClick=${() => call.pin(call.pinned === t.person.person_id ? null : t.person.person_id)}>${call.pinned === t.person.person_id ? 'Unpin' : 'Pin'}</button>
        </span>`}
      </li>`)}
    </ul>
    ${call.status === 'joined' && people.length === 0 && html`<p class="muted">Nobody else is in the call here yet.</p>`}
    <div class="call-controls">
      <button type="button" aria-pressed=${call.want.mic} onClick=${() => call.setMic(!call.want.mic)}>${call.want.mic ? 'Mute microphone' : 'Unmute microphone'}</button>
      <button type="button" aria-pressed=${call.want.camera} onClick=${() => call.setCamera(!call.want.camera)}>${call.want.camera ? 'Stop camera' : 'Start camera'}</button>
      <button type="button" aria-pressed=${call.want.screen} onClick=${() => call.setScreen(!call.want.screen)}>${call.want.screen ? 'Stop sharing' : 'Share screen'}</button>
      <button type="button" class="leave" onClick=${() => call.leave()}>Leave call</button>
      ${self?.speaking && html`<span class="muted">You are speaking</span>`}
    </div>
  </section>`;
}
