// @ts-check
// Recording a room's call: the indicator everyone in the room sees while it is recorded, and for
// owners and moderators the button that starts and stops it, with the progress of composing the
// file afterwards (the recording then appears in the Content tab).

import { html, useState, useEffect } from '../vendor/preact-htm.js';
import { api } from '../lib/api.js';

/** Whether `roomId`'s call is being recorded: the room's view, then its events. */
function useRecording(room, live) {
  const [recording, setRecording] = useState(room.recording ?? null);
  useEffect(() => { setRecording(room.recording ?? null); }, [room.id, room.recording?.id]);
  useEffect(() => live.on((event) => {
    if (event.room !== room.id) return;
    if (event.type === 'recording_started') setRecording(event.recording);
    if (event.type === 'recording_stopped') setRecording(null);
  }), [room.id]);
  return recording;
}

/** The percentage of each recording of `roomId` still being composed, read every two seconds
 * while any is (moderators only). */
function useComposing(roomId, poll) {
  const [rows, setRows] = useState([]);
  useEffect(() => {
    if (!poll) return undefined;
    let stop = false;
    let timer = null;
    const load = async () => {
      try {
        const list = await api('GET', `/rooms/${roomId}/recordings`);
        if (stop) return;
        const open = list.recordings.filter((r) => r.room_id === roomId
          && (r.state === 'composing' || (r.state === 'failed' && r.progress)));
        setRows(open);
        if (open.some((r) => r.state === 'composing')) timer = setTimeout(load, 2000);
      } catch {
        if (!stop) timer = setTimeout(load, 5000);
      }
    };
    load();
    return () => { stop = true; clearTimeout(timer); };
  }, [roomId, poll]);
  return rows;
}

/** The room bar's part: the indicator, and for moderators Record / Stop recording. */
export function RecordingBar({ room, live, manages }) {
  const recording = useRecording(room, live);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const [stops, setStops] = useState(0);
  const composing = useComposing(room.id, manages ? `${stops}-${recording?.id ?? ''}` : null);
  const act = async (method) => {
    setBusy(true);
    setError(null);
    try {
      await api(method, `/rooms/${room.id}/recording`);
      if (method === 'DELETE') setStops((n) => n + 1);
    } catch (err) {
      setError(err.message);
    } finally {
      setBusy(false);
    }
  };
  return html`<div class="recording" data-recording=${recording ? 'on' : 'off'}>
    ${recording && html`<span class="rec" role="status" title=${`Recording since ${new Date(recording.started_at).toLocaleTimeString()}, started by ${recording.started_by_name}`}>
      <span class="dot" aria-hidden="true"></span>Recording</span>`}
    ${manages && (recording
      ? html`<button type="button" disabled=${busy} onClick=${() => act('DELETE')}>Stop recording</button>`
      : html`<button type="button" disabled=${busy} onClick=${() => act('POST')}>Record</button>`)}
    ${composing.map((r) => html`<span key=${r.id} class="muted composing" role="status" data-composing=${r.id}>
      ${r.state === 'failed' ? `The recording could not be composed: ${r.progress?.error ?? ''}`
        : r.progress?.state === 'composing' ? `Composing the recording: ${r.progress.percent} %` : 'Recording waits to be composed'}</span>`)}
    ${error && html`<span class="error" role="alert">${error}</span>`}
  </div>`;
}

/** Before joining a recorded room's call: what a person must know first. */
export function RecordingNotice({ room, live }) {
  const recording = useRecording(room, live);
  return recording
    ? html`<p class="notice recording-notice" role="status">This room's call is being recorded. If you join, your voice and camera are in the recording.</p>`
    : null;
}
