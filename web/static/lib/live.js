// @ts-check
// The one WebSocket of the page. It reconnects by itself with exponential backoff, resumes from
// the last sequence number seen per stream, and tells listeners to reload on `resync`. It does
// not reconnect when the server closed it for good: the session ended (close code 4001: status
// `signed-out`) or the person opened too many connections and this was the oldest (4008:
// status `elsewhere`; reconnecting would close another of theirs in turn).


export class Live {
  constructor() {
    this.listeners = new Set();
    this.statusListeners = new Set();
    this.lastSeq = new Map(); // stream id -> last seq applied
    this.backoff = 500;
    this.closed = false;
    this.connect();
  }

  on(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onStatus(listener) {
    this.statusListeners.add(listener);
    listener(this.status ?? 'connecting');
    return () => this.statusListeners.delete(listener);
  }

  setStatus(status) {
    this.status = status;
    for (const l of this.statusListeners) l(status);
  }

  send(message) {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  connect() {
    const resume = [...this.lastSeq].map(([stream, seq]) => `${stream}:${seq}`).join(',');
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const query = resume ? `?resume=${encodeURIComponent(resume)}` : '';
    const ws = new WebSocket(`${scheme}://${location.host}/api/v1/events${query}`);
    this.ws = ws;
    ws.onmessage = (message) => {
      const event = JSON.parse(message.data);
      if (event.type === 'hello') {
        this.backoff = 500;
        this.callConfig = event.call; // receive slots and ICE servers for calls (call.js)
        for (const s of event.streams) if (!this.lastSeq.has(s.stream)) this.lastSeq.set(s.stream, s.seq);
        this.setStatus('live');
      } else if (event.stream && typeof event.seq === 'number') {
        if (event.type === 'resync') this.lastSeq.set(event.stream, event.seq);
        else if (event.seq > (this.lastSeq.get(event.stream) ?? 0)) this.lastSeq.set(event.stream, event.seq);
      }
      for (const l of this.listeners) l(event);
    };
    ws.onclose = (event) => {
      if (this.closed) return;
      const final = { 4001: 'signed-out', 4008: 'elsewhere' }[event.code];
      if (final) {
        this.closed = true;
        this.setStatus(final);
        return;
      }
      this.setStatus('reconnecting');
      setTimeout(() => this.connect(), this.backoff);
      this.backoff = Math.min(this.backoff * 2, 10000);
    };
  }

  /**
   * Drops the current connection and connects again now. After a change of network the old
   * connection can look open for minutes while nothing gets through it (its TCP path is gone and
   * nobody says so); a caller that finds no answer coming uses this.
   */
  reconnect() {
    const old = this.ws;
    if (old) {
      old.onclose = null;
      old.onmessage = null;
      try { old.close(); } catch { /* already closing */ }
    }
    this.setStatus('reconnecting');
    this.connect();
  }

  close() {
    this.closed = true;
    this.ws?.close();
  }
}
