// @ts-check
// The call of a main room in the browser: one RTCPeerConnection for the whole meeting, negotiated
// once, whose receive slots the server refills when people move between rooms (docs/api.md,
// "Calls"). The Call object outlives page changes between a main room and its breakout rooms, so
// moving never touches the connection; audio plays from elements kept outside the page's tree.

const calls = new Map(); // main room id -> Call

/** The calls this page is in: for the browser tests and benchmarks, which import this module
 * (`/assets/call/call.js`) into the page and read the calls' state. */
export function activeCalls() {
  return [...calls.values()].filter((c) => c.status !== 'idle');
}

/** How long the ICE connection may stay 'disconnected' before ICE restarts (cheap: the same
 * PeerConnection, DTLS session and slots; a blip that heals by itself loses nothing by it). */
const DISCONNECTED_GRACE_MS = 2000;

/** How long a restart waits for the server's answer before it suspects the WebSocket: after a
 * change of network it can look open while nothing gets through. */
const RESTART_ANSWER_MS = 3000;

/** The camera goes in three layers (simulcast), lowest first: the server forwards each receiver
 * the one that fits the tile it shows (docs/api.md, "Simulcast"). */
const CAMERA_LAYERS = [
  { rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150_000 },
  { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 500_000 },
  { rid: 'f', scaleResolutionDownBy: 1, maxBitrate: 1_500_000 },
];

/** How long tile sizes settle before the server is told (a window being resized). */
const VIEW_DELAY_MS = 300;

export class Call {
  /** The call of `mainId` on this page's WebSocket, made on first use. */
  static of(live, mainId) {
    let call = calls.get(mainId);
    if (!call || call.live !== live) {
      call = new Call(live, mainId);
      calls.set(mainId, call);
    }
    return call;
  }

  constructor(live, mainId) {
    this.live = live;
    this.mainId = mainId;
    this.listeners = new Set();
    this.status = 'idle'; // idle | joining | joined
    this.callId = null;
    this.callNode = null; // in a cluster, the node whose media server serves our call
    this.pc = null;
    this.view = null; // the last call_state
    this.want = { mic: true, camera: true, screen: false };
    this.tracks = { mic: null, camera: null, screen: null };
    this.streams = new Map(); // mid -> MediaStream of that slot's receiver
    this.audio = new Map(); // mid -> <audio>, kept in a container outside the page's tree
    this.heights = new Map(); // mid -> device pixels high that its video is shown at
    this.toldHeights = new Map(); // what the server was last told
    this.notice = null;
    this.error = null;
    this.off = live.on((event) => this.onEvent(event));
  }

  subscribe(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  changed() {
    for (const l of this.listeners) l();
  }

  send(message) {
    this.live.send({ stream: this.mainId, ...message });
  }

  /** Joins with the microphone and camera as asked (each may be refused by the person). */
  async join({ mic = true, camera = true } = {}) {
    if (this.status !== 'idle') return;
    this.status = 'joining';
    this.error = null;
    this.want = { mic, camera, screen: false };
    this.changed();
    try {
      await this.openDevices();
      await this.connect();
    } catch (err) {
      this.teardown();
      this.error = err.message ?? String(err);
      this.changed();
    }
  }

  async openDevices() {
    const ask = async (constraints) => {
      try {
        return await navigator.mediaDevices.getUserMedia(constraints);
      } catch {
        return null; // refused or absent: join without it
      }
    };
    if (this.want.mic && !this.tracks.mic) this.tracks.mic = (await ask({ audio: true }))?.getAudioTracks()[0] ?? null;
    if (this.want.camera && !this.tracks.camera) this.tracks.camera = (await ask({ video: true }))?.getVideoTracks()[0] ?? null;
    this.want.mic = !!this.tracks.mic;
    this.want.camera = !!this.tracks.camera;
  }

  /** A new PeerConnection and offer: on joining, and again when the media path broke. */
  async connect() {
    const config = this.live.callConfig ?? { audio_slots: 8, video_slots: 9, ice_servers: [] };
    this.pc?.close();
    this.streams.clear();
    const pc = new RTCPeerConnection({ iceServers: config.ice_servers, bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' });
    this.pc = pc;
    this.connections = (this.connections ?? 0) + 1;
    this.senders = {
      mic: pc.addTransceiver(this.tracks.mic ?? 'audio', { direction: 'sendonly' }).sender,
      camera: pc.addTransceiver(this.tracks.camera ?? 'video', { direction: 'sendonly', sendEncodings: CAMERA_LAYERS }).sender,
      screen: pc.addTransceiver(this.tracks.screen ?? 'video', { direction: 'sendonly' }).sender,
    };
    for (let i = 0; i < config.audio_slots; i++) pc.addTransceiver('audio', { direction: 'recvonly' });
    for (let i = 0; i < config.video_slots; i++) pc.addTransceiver('video', { direction: 'recvonly' });
    pc.oniceconnectionstatechange = () => this.watchIce(pc);
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    this.status = 'joining';
    this.send({ type: 'call_join', sdp: pc.localDescription.sdp, mic: this.want.mic, camera: this.want.camera });
  }

  watchIce(pc) {
    if (pc !== this.pc) return;
    clearTimeout(this.iceTimer);
    if (pc.iceConnectionState === 'failed') this.restart();
    else if (pc.iceConnectionState === 'disconnected') {
      // The network may have changed under the page: the WebSocket's connection is then dead
      // too, though it may look open for minutes. A fresh one now (it resumes where it was), so
      // that the restart's offer gets through.
      this.live.reconnect();
      this.iceTimer = setTimeout(() => this.restart(), DISCONNECTED_GRACE_MS);
    }
  }

  /**
   * The media path broke (the network changed, a NAT forgot us): restart ICE on the same
   * PeerConnection, which keeps its DTLS session and slots. If the server no longer knows this
   * connection, it says so and a new one is set up instead.
   */
  async restart() {
    if (this.status !== 'joined' || !this.pc || this.restarting) return;
    this.restarting = true;
    this.restarts = (this.restarts ?? 0) + 1;
    const pc = this.pc;
    try {
      await pc.setLocalDescription(await pc.createOffer({ iceRestart: true }));
      await gathered(pc);
      if (pc !== this.pc) return;
      this.send({ type: 'call_restart', sdp: pc.localDescription.sdp });
      // No answer in time: the WebSocket is probably dead too. Connect it again; its hello
      // restarts ICE once more (see onEvent).
      clearTimeout(this.restartTimer);
      this.restartTimer = setTimeout(() => {
        if (!this.restarting || pc !== this.pc) return;
        this.restarting = false;
        this.live.reconnect();
      }, RESTART_ANSWER_MS);
    } catch {
      this.restarting = false;
      this.reconnect();
    }
  }

  /** Sets the connection up again from scratch, keeping the devices. */
  reconnect() {
    if (this.status === 'idle') return;
    this.restarting = false;
    this.reconnecting = true;
    // A reconnect that fails is over: what the page sends is no longer held back for it.
    this.connect().catch((err) => { this.reconnecting = false; this.error = err.message; this.changed(); });
  }

  async onEvent(event) {
    if (event.type === 'hello' && this.status === 'joined') {
      // In a cluster: the call moved to another node while this page's WebSocket was away (the
      // node that took it over said so to the connections it had then). Join it there.
      const node = event.streams?.find((s) => s.stream === this.mainId)?.call_node;
      if (node && this.callNode && node !== this.callNode) {
        this.reconnect();
        return;
      }
      if (['failed', 'disconnected'].includes(this.pc?.iceConnectionState)) this.restart();
      return;
    }
    if (event.stream !== this.mainId || !event.type?.startsWith('call_')) return;
    switch (event.type) {
      case 'call_answer':
        if (this.status === 'idle' || !this.pc) return;
        if (event.restart) {
          if (!this.restarting || event.call_id !== this.callId) return;
          this.restarting = false;
          clearTimeout(this.restartTimer);
          await this.pc.setRemoteDescription({ type: 'answer', sdp: event.sdp });
          return;
        }
        this.callId = event.call_id;
        this.callNode = event.node ?? null;
        this.reconnecting = false;
        await this.pc.setRemoteDescription({ type: 'answer', sdp: event.sdp });
        this.status = 'joined';
        // Sources turned on or off while we were (re)connecting, and the tile sizes.
        this.sendMedia();
        this.toldHeights.clear();
        this.tellView();
        break;
      case 'call_state':
        if (event.call_id !== this.callId) return;
        this.view = event;
        this.applySlots();
        break;
      case 'call_muted':
        if (this.tracks.mic) this.tracks.mic.enabled = false;
        this.want.mic = false;
        this.notice = `${event.by_name || 'A moderator'} muted your microphone.`;
        break;
      case 'call_ended':
        // The room's call now runs on another node's media server (a node of the cluster went
        // away or gave the room up): join it there with the same devices. Without a call id it
        // is the new node saying so; with one, the old node ending our connection.
        if (event.reason === 'moved') {
          if (this.status !== 'idle' && (event.call_id == null || event.call_id === this.callId)) this.reconnect();
          return;
        }
        // An earlier connection of ours, or the one our reconnection replaces.
        if (event.call_id !== this.callId || (event.reason === 'replaced' && this.reconnecting)) return;
        if (['idle_timeout', 'connect_timeout', 'failed', 'closed'].includes(event.reason) && this.status === 'joined') {
          this.reconnect();
          return;
        }
        this.teardown();
        if (event.reason === 'replaced') this.notice = 'You joined this call from another window.';
        if (event.reason === 'removed') this.notice = 'You were removed from the room.';
        break;
      case 'call_error':
        // No join is refused with `not_in_call`: while joining, it answers a message sent for the
        // connection being replaced, and must not end the join under way.
        if (event.code === 'not_in_call' && this.status === 'joining') return;
        if (this.restarting && event.code !== 'rate_limited') {
          // The server no longer knows this connection (or refused the restart): start afresh.
          this.reconnect();
          return;
        }
        this.error = event.message;
        if (this.status === 'joining') this.teardown();
        break;
      default:
        return;
    }
    this.changed();
  }

  /** Points each slot's element at its receiver and keeps one <audio> per audio slot playing. */
  applySlots() {
    if (!this.pc || !this.view) return;
    const byMid = new Map(this.pc.getTransceivers().map((t) => [t.mid, t]));
    for (const slot of this.view.slots) {
      const t = byMid.get(slot.mid);
      if (!t) continue;
      if (!this.streams.has(slot.mid)) this.streams.set(slot.mid, new MediaStream([t.receiver.track]));
      if (slot.kind === 'audio' && !this.audio.has(slot.mid)) {
        const el = document.createElement('audio');
        el.autoplay = true;
        el.srcObject = this.streams.get(slot.mid);
        el.dataset.mid = slot.mid;
        audioShelf().append(el);
        this.audio.set(slot.mid, el);
      }
    }
  }

  /** A tile shows slot `mid` at `height` device pixels (0: no longer shown). */
  showAt(mid, height) {
    if (height > 0) this.heights.set(mid, height);
    else this.heights.delete(mid);
    clearTimeout(this.viewTimer);
    this.viewTimer = setTimeout(() => this.tellView(), VIEW_DELAY_MS);
  }

  /** Tells the server the sizes that changed noticeably (a tenth, or shown/hidden). */
  tellView() {
    // What a connection being replaced shows is not for the new one (which tells its own).
    if (this.status !== 'joined' || this.reconnecting) return;
    const slots = {};
    const mids = new Set([...this.heights.keys(), ...this.toldHeights.keys()]);
    for (const mid of mids) {
      const now = this.heights.get(mid) ?? 0;
      const told = this.toldHeights.get(mid);
      if (told === undefined || Math.abs(now - told) * 10 > Math.max(told, 1)) slots[mid] = now;
    }
    if (Object.keys(slots).length === 0) return;
    for (const [mid, h] of Object.entries(slots)) {
      if (h > 0) this.toldHeights.set(mid, h);
      else this.toldHeights.delete(mid);
    }
    this.send({ type: 'call_view', slots });
  }

  sendMedia() {
    if (this.status !== 'joined' || this.reconnecting) return;
    this.send({ type: 'call_media', mic: this.want.mic, camera: this.want.camera, screen: this.want.screen });
  }

  async setMic(on) {
    this.notice = null;
    if (on && !this.tracks.mic) {
      this.tracks.mic = (await navigator.mediaDevices.getUserMedia({ audio: true })).getAudioTracks()[0];
      await this.senders?.mic.replaceTrack(this.tracks.mic);
    }
    if (this.tracks.mic) this.tracks.mic.enabled = on;
    this.want.mic = on && !!this.tracks.mic;
    this.sendMedia();
    this.changed();
  }

  async setCamera(on) {
    if (on) {
      this.tracks.camera ??= (await navigator.mediaDevices.getUserMedia({ video: true })).getVideoTracks()[0];
      await this.senders?.camera.replaceTrack(this.tracks.camera);
    } else {
      this.tracks.camera?.stop(); // the camera's light goes off
      this.tracks.camera = null;
      await this.senders?.camera.replaceTrack(null);
    }
    this.want.camera = on;
    this.sendMedia();
    this.changed();
  }

  async setScreen(on) {
    if (on) {
      let stream;
      try {
        stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
      } catch {
        return; // the person chose nothing
      }
      this.tracks.screen = stream.getVideoTracks()[0];
      this.tracks.screen.addEventListener('ended', () => this.setScreen(false));
      await this.senders?.screen.replaceTrack(this.tracks.screen);
    } else {
      this.tracks.screen?.stop();
      this.tracks.screen = null;
      await this.senders?.screen.replaceTrack(null);
    }
    this.want.screen = on;
    this.sendMedia();
    this.changed();
  }

  /** Moderators: mute someone's microphone (they alone can turn it on again). */
  mute(personId) {
    this.send({ type: 'call_mute', person_id: personId });
  }

  pin(personId) {
    this.pinned = personId;
    this.send({ type: 'call_pin', person_id: personId });
    this.changed();
  }

  leave() {
    if (this.status !== 'idle') this.send({ type: 'call_leave' });
    this.teardown();
    this.changed();
  }

  teardown() {
    clearTimeout(this.iceTimer);
    clearTimeout(this.restartTimer);
    this.pc?.close();
    this.pc = null;
    for (const track of Object.values(this.tracks)) track?.stop();
    this.tracks = { mic: null, camera: null, screen: null };
    for (const el of this.audio.values()) el.remove();
    this.audio.clear();
    this.streams.clear();
    this.heights.clear();
    this.toldHeights.clear();
    clearTimeout(this.viewTimer);
    this.view = null;
    this.callId = null;
    this.callNode = null;
    this.restarting = false;
    this.reconnecting = false;
    this.status = 'idle';
  }
}

/** Waits (at most a second) until the browser has gathered its candidates into the offer. The
 * server is ICE-lite and learns our address from our checks, but a complete offer costs little on
 * a LAN and helps a relay. */
function gathered(pc) {
  return new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    const timer = setTimeout(resolve, 1000);
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') { clearTimeout(timer); resolve(); }
    });
  });
}

function audioShelf() {
  let shelf = document.getElementById('call-audio');
  if (!shelf) {
    shelf = document.createElement('div');
    shelf.id = 'call-audio';
    shelf.hidden = true;
    document.body.append(shelf);
  }
  return shelf;
}
