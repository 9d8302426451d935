#!/usr/bin/env python3
"""End-to-end check of the Janus VideoRoom peer baseline, loopback only.

Needs a running Janus from bench/janus/start.sh and the aiortc venv made by
`WITH_CLIENT=1 bench/janus/setup.sh` (default /tmp/janus-bench-venv):

    /tmp/janus-bench-venv/bin/python bench/janus/check.py \
        --url http://127.0.0.1:18088/janus --admin-url http://127.0.0.1:18089/admin \
        --janus-pid "$JANUS_PID"

What it does (all bounded in time and count, all on 127.0.0.1):
  1. creates rooms A and B with the VideoRoom "create" request;
  2. puts two publishers in each room (synthetic VP8 video + Opus audio);
  3. one subscriber subscribes to both feeds of room A in one multistream
     PeerConnection and confirms decoded video frames / audio frames arrive;
  4. times --moves "moves" done the peers' way: leave + detach the current
     subscriber handle, attach a new handle and subscribe to every feed of
     the other room; time from the first request to the first decoded video
     frame (and to a frame from every feed);
  5. optionally (--janus-pid) samples Janus CPU time and forwarded packet
     counts (admin API handle_info) over --measure-secs seconds.
"""
import argparse
import asyncio
import fractions
import json
import os
import random
import statistics
import string
import sys
import time
from collections import defaultdict

import aiohttp
import aioice.ice

# Loopback only: aioice normally skips 127.0.0.1 and gathers every other
# interface; gather on 127.0.0.1 and nothing else.
aioice.ice.get_host_addresses = lambda use_ipv4=True, use_ipv6=False: ["127.0.0.1"]

import av  # noqa: E402
from aiortc import (  # noqa: E402
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack  # noqa: E402
from aiortc.rtcconfiguration import RTCBundlePolicy  # noqa: E402
from aiortc.rtcicetransport import RTCIceGatherer  # noqa: E402

# ...and never use the built-in public STUN server.
RTCIceGatherer.getDefaultIceServers = classmethod(lambda cls: [])


def now():
    return time.monotonic()


def tx():
    return "".join(random.choices(string.ascii_letters + string.digits, k=12))


def loopback_only_sdp(sdp):
    """Drop any candidate line that is not a 127.x host candidate, and the
    sha-384/sha-512 fingerprints aiortc adds (Janus only checks sha-256 and
    logs a warning per extra fingerprint line)."""
    out = []
    for line in sdp.splitlines():
        if line.startswith("a=candidate:"):
            parts = line.split()
            if len(parts) < 8 or not parts[4].startswith("127."):
                continue
        if line.startswith("a=fingerprint:") and not line.startswith("a=fingerprint:sha-256 "):
            continue
        out.append(line)
    return "\r\n".join(out) + "\r\n"


def new_pc():
    return RTCPeerConnection(
        RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
    )


class JanusError(Exception):
    pass


class Janus:
    """Minimal Janus HTTP API client: one session, long-poll event loop."""

    def __init__(self, url, admin_url=None, admin_secret="bench"):
        self.url = url.rstrip("/")
        self.admin_url = admin_url.rstrip("/") if admin_url else None
        self.admin_secret = admin_secret
        self.http = None
        self.sid = None
        self.pending = {}  # transaction -> Future
        self.events = defaultdict(asyncio.Queue)  # handle id -> unsolicited events
        self.tasks = []
        self.closed = False

    async def start(self):
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=45))
        r = await self._post(self.url, {"janus": "create"})
        self.sid = r["data"]["id"]
        self.tasks.append(asyncio.create_task(self._poll()))
        self.tasks.append(asyncio.create_task(self._keepalive()))

    async def close(self):
        self.closed = True
        try:
            await self._post(f"{self.url}/{self.sid}", {"janus": "destroy"})
        except Exception:
            pass
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.http.close()

    async def _post(self, url, body):
        body.setdefault("transaction", tx())
        async with self.http.post(url, data=json.dumps(body)) as resp:
            data = json.loads(await resp.text())
        if data.get("janus") == "error":
            raise JanusError(data.get("error"))
        return data

    async def _poll(self):
        while not self.closed:
            try:
                async with self.http.get(
                    f"{self.url}/{self.sid}?maxev=20&rid={int(time.time() * 1000)}"
                ) as resp:
                    evs = json.loads(await resp.text())
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001
                if not self.closed:
                    print(f"long-poll error: {e!r}", file=sys.stderr)
                    await asyncio.sleep(0.2)
                continue
            if isinstance(evs, dict):
                evs = [evs]
            for ev in evs:
                kind = ev.get("janus")
                if kind == "keepalive":
                    continue
                t = ev.get("transaction")
                fut = self.pending.get(t) if t else None
                if fut is not None and kind in ("event", "success", "error") and not fut.done():
                    fut.set_result(ev)
                else:
                    self.events[ev.get("sender")].put_nowait(ev)

    async def _keepalive(self):
        while not self.closed:
            await asyncio.sleep(25)
            try:
                await self._post(f"{self.url}/{self.sid}", {"janus": "keepalive"})
            except Exception:
                pass

    async def attach(self, plugin="janus.plugin.videoroom"):
        r = await self._post(f"{self.url}/{self.sid}", {"janus": "attach", "plugin": plugin})
        return r["data"]["id"]

    async def detach(self, hid):
        await self._post(f"{self.url}/{self.sid}/{hid}", {"janus": "detach"})

    async def request(self, hid, body):
        """Synchronous plugin request (create, listparticipants, ...)."""
        r = await self._post(f"{self.url}/{self.sid}/{hid}", {"janus": "message", "body": body})
        data = r["plugindata"]["data"]
        if data.get("error"):
            raise JanusError(data)
        return data

    async def message(self, hid, body, jsep=None, timeout=15):
        """Asynchronous plugin request: ack now, event (maybe with jsep) later."""
        t = tx()
        fut = asyncio.get_running_loop().create_future()
        self.pending[t] = fut
        msg = {"janus": "message", "transaction": t, "body": body}
        if jsep is not None:
            msg["jsep"] = jsep
        try:
            r = await self._post(f"{self.url}/{self.sid}/{hid}", msg)
            if r.get("janus") != "ack":
                ev = r
            else:
                ev = await asyncio.wait_for(fut, timeout)
        finally:
            self.pending.pop(t, None)
        if ev.get("janus") == "error":
            raise JanusError(ev.get("error"))
        data = ev["plugindata"]["data"]
        if data.get("error"):
            raise JanusError(data)
        return data, ev.get("jsep")

    async def wait_event(self, hid, pred, timeout=15):
        q = self.events[hid]
        deadline = now() + timeout
        while True:
            ev = await asyncio.wait_for(q.get(), max(0.01, deadline - now()))
            if pred(ev):
                return ev

    async def handle_info(self, hid):
        body = {"janus": "handle_info", "admin_secret": self.admin_secret}
        r = await self._post(f"{self.admin_url}/{self.sid}/{hid}", body)
        return r["info"]


class PatternVideoTrack(VideoStreamTrack):
    """Small synthetic video: a moving luma ramp, so frames differ."""

    def __init__(self, width, height, fps):
        super().__init__()
        self.w, self.h, self.fps = width, height, fps
        self.n = 0
        self._start = None

    async def recv(self):
        if self._start is None:
            self._start = now()
        self.n += 1
        target = self._start + self.n / self.fps
        delay = target - now()
        if delay > 0:
            await asyncio.sleep(delay)
        frame = av.VideoFrame(self.w, self.h, "yuv420p")
        shift = (self.n * 4) % 256
        row = bytes(((x + shift) & 0xFF) for x in range(frame.planes[0].line_size))
        frame.planes[0].update(row * self.h)
        for p in frame.planes[1:]:
            p.update(bytes([128]) * (p.line_size * (self.h // 2)))
        frame.pts = int(self.n * 90000 / self.fps)
        frame.time_base = fractions.Fraction(1, 90000)
        return frame


class Publisher:
    def __init__(self, janus, room, name, args):
        self.j, self.room, self.name, self.args = janus, room, name, args
        self.hid = self.pc = self.feed = None

    async def start(self):
        t0 = now()
        self.hid = await self.j.attach()
        data, _ = await self.j.message(
            self.hid, {"request": "join", "ptype": "publisher", "room": self.room, "display": self.name}
        )
        self.feed = data["id"]
        self.pc = new_pc()
        self.pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
        self.pc.addTransceiver(
            PatternVideoTrack(self.args.width, self.args.height, self.args.fps), direction="sendonly"
        )
        await self.pc.setLocalDescription(await self.pc.createOffer())  # gathers candidates
        offer = {"type": "offer", "sdp": loopback_only_sdp(self.pc.localDescription.sdp), "trickle": False}
        data, jsep = await self.j.message(self.hid, {"request": "publish"}, jsep=offer)
        # Defence in depth: never let the client try a non-loopback Janus candidate.
        await self.pc.setRemoteDescription(
            RTCSessionDescription(sdp=loopback_only_sdp(jsep["sdp"]), type=jsep["type"])
        )
        await self.j.wait_event(self.hid, lambda e: e.get("janus") == "webrtcup")
        self.up_secs = now() - t0
        self.answer_sdp = jsep["sdp"]
        self.publish_data = data
        return self

    async def stop(self):
        try:
            await self.j.message(self.hid, {"request": "leave"}, timeout=5)
            await self.j.detach(self.hid)
        except Exception:
            pass
        await self.pc.close()


class Subscriber:
    """One multistream subscription (one PeerConnection) to several feeds."""

    passive = False  # set from --client-dtls

    def __init__(self, janus, room, feeds):
        self.j, self.room, self.feeds = janus, room, list(feeds)
        self.hid = self.pc = None
        self.mid_feed = {}
        self.first_video = {}  # feed -> monotonic time of first decoded frame
        self.video_frames = defaultdict(int)
        self.audio_frames = defaultdict(int)
        self.all_video = asyncio.Event()
        self.tasks = []

    async def start(self):
        self.hid = await self.j.attach()
        self.webrtcup_at = None
        self.tasks.append(asyncio.create_task(self._watch_webrtcup()))
        data, jsep = await self.j.message(
            self.hid,
            {
                "request": "join",
                "ptype": "subscriber",
                "room": self.room,
                "streams": [{"feed": f} for f in self.feeds],
            },
        )
        self.join_data = data
        for s in data.get("streams", []):
            self.mid_feed[s["mid"]] = s.get("feed_id")
        self.pc = new_pc()
        self.pc.on("track", self._on_track)
        self.offer_sdp = jsep["sdp"]
        await self.pc.setRemoteDescription(
            RTCSessionDescription(sdp=loopback_only_sdp(jsep["sdp"]), type="offer")
        )
        local = await self.pc.createAnswer()
        if self.passive:
            # Answer a=setup:passive: Janus becomes the DTLS client and starts the
            # handshake once its own ICE is connected (avoids a lost first
            # ClientHello and the 1 s DTLS retransmit it costs).
            local = RTCSessionDescription(
                sdp=local.sdp.replace("a=setup:active", "a=setup:passive"), type=local.type
            )
        await self.pc.setLocalDescription(local)
        answer = {"type": "answer", "sdp": loopback_only_sdp(self.pc.localDescription.sdp), "trickle": False}
        self.answer_sdp = answer["sdp"]
        await self.j.message(self.hid, {"request": "start"}, jsep=answer)
        return self

    async def _watch_webrtcup(self):
        try:
            await self.j.wait_event(self.hid, lambda e: e.get("janus") == "webrtcup", timeout=20)
            self.webrtcup_at = now()
        except Exception:
            pass

    def _on_track(self, track):
        mid = next((t.mid for t in self.pc.getTransceivers() if t.receiver.track is track), None)
        feed = self.mid_feed.get(mid)
        self.tasks.append(asyncio.create_task(self._consume(track, feed)))

    async def _consume(self, track, feed):
        try:
            while True:
                await track.recv()
                if track.kind == "video":
                    if feed not in self.first_video:
                        self.first_video[feed] = now()
                        if all(f in self.first_video for f in self.feeds):
                            self.all_video.set()
                    self.video_frames[feed] += 1
                else:
                    self.audio_frames[feed] += 1
        except Exception:
            return

    async def stop(self, leave=True):
        try:
            if leave:
                await self.j.message(self.hid, {"request": "leave"}, timeout=5)
            await self.j.detach(self.hid)
        except Exception as e:  # noqa: BLE001
            print(f"subscriber stop: {e!r}", file=sys.stderr)
        await self.pc.close()
        for t in self.tasks:
            t.cancel()


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime (fields 14, 15)


def media_packets(info):
    """Sum RTP packets in/out over all media of an admin handle_info answer."""
    pin = pout = 0
    for m in (info.get("webrtc", {}).get("media") or {}).values():
        stats = m.get("stats", {})
        pin += stats.get("in", {}).get("packets", 0) or 0
        pout += stats.get("out", {}).get("packets", 0) or 0
    return pin, pout


async def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default="http://127.0.0.1:18088/janus")
    ap.add_argument("--admin-url", default=None, help="e.g. http://127.0.0.1:18089/admin (for packet counts)")
    ap.add_argument("--admin-secret", default="bench")
    ap.add_argument("--janus-pid", type=int, default=None, help="sample Janus CPU use")
    ap.add_argument("--moves", type=int, default=5)
    ap.add_argument("--measure-secs", type=float, default=10.0)
    ap.add_argument("--extra-subscribers", type=int, default=0,
                    help="extra subscribers to room A's feeds during the CPU sample")
    ap.add_argument("--width", type=int, default=320)
    ap.add_argument("--height", type=int, default=240)
    ap.add_argument("--fps", type=int, default=15)
    ap.add_argument("--overlap", action="store_true",
                    help="move make-before-break: subscribe in the new room before leaving the old")
    ap.add_argument("--client-dtls", choices=["active", "passive"], default="active",
                    help="DTLS role the subscriber answers with (Janus offers actpass)")
    ap.add_argument("--dump-sdp", action="store_true")
    args = ap.parse_args()

    Subscriber.passive = args.client_dtls == "passive"
    j = Janus(args.url, args.admin_url, args.admin_secret)
    await j.start()
    ctl = await j.attach()
    pubs, rooms = [], []
    try:
        info = await j._post(args.url, {"janus": "info"})
        print(f"janus {info.get('version_string')} session {j.sid}")
        for label in ("A", "B"):
            d = await j.request(ctl, {
                "request": "create", "description": f"bench-{label}", "publishers": 10,
                "bitrate": 512000, "audiocodec": "opus", "videocodec": "vp8",
                "fir_freq": 10, "is_private": False,
            })
            rooms.append(d["room"])
        print(f"rooms A={rooms[0]} B={rooms[1]}")

        for ri, room in enumerate(rooms):
            for k in range(2):
                p = await Publisher(j, room, f"pub-{'AB'[ri]}{k}", args).start()
                pubs.append(p)
                print(f"publisher {p.name} feed={p.feed} room={room} attach->webrtcup {p.up_secs * 1000:.0f} ms")
        if args.dump_sdp:
            print("--- publisher answer from Janus ---\n" + pubs[0].answer_sdp)

        feeds = {}
        for room in rooms:
            d = await j.request(ctl, {"request": "listparticipants", "room": room})
            feeds[room] = [p["id"] for p in d["participants"] if p.get("publisher")]
        print(f"listparticipants: {feeds}")

        # --- one subscriber to both feeds of room A -------------------------
        t0 = now()
        sub = await Subscriber(j, rooms[0], feeds[rooms[0]]).start()
        await asyncio.wait_for(sub.all_video.wait(), 15)
        print(f"subscribe room A ({len(sub.feeds)} feeds): first frame "
              f"{(min(sub.first_video.values()) - t0) * 1000:.0f} ms, all feeds "
              f"{(max(sub.first_video.values()) - t0) * 1000:.0f} ms")
        if args.dump_sdp:
            print("--- subscriber offer from Janus ---\n" + sub.offer_sdp)
            print("--- subscriber answer (client) ---\n" + sub.answer_sdp)
        await asyncio.sleep(2)
        print(f"after 2 s: video frames per feed {dict(sub.video_frames)}, "
              f"audio frames per feed {dict(sub.audio_frames)}")
        assert all(sub.video_frames[f] > 0 for f in sub.feeds), "no video from some feed"
        assert all(sub.audio_frames[f] > 0 for f in sub.feeds), "no audio from some feed"

        # --- moves the peers' way -------------------------------------------
        firsts, alls, ups, cur = [], [], [], 0
        for i in range(args.moves):
            nxt = 1 - cur
            t0 = now()
            if args.overlap:
                # make-before-break: subscribe to the new room first, tear the old one down meanwhile
                old = sub
                sub = await Subscriber(j, rooms[nxt], feeds[rooms[nxt]]).start()
                t_left = t_started = now()
                await old.stop(leave=True)
            else:
                await sub.stop(leave=True)  # leave old room's subscription, detach handle
                t_left = now()
                sub = await Subscriber(j, rooms[nxt], feeds[rooms[nxt]]).start()
                t_started = now()
            await asyncio.wait_for(sub.all_video.wait(), 15)
            first = min(sub.first_video.values()) - t0
            allf = max(sub.first_video.values()) - t0
            firsts.append(first)
            alls.append(allf)
            up = (sub.webrtcup_at - t0) * 1000 if sub.webrtcup_at else float("nan")
            ups.append(up)
            print(f"move {i + 1} {'AB'[cur]}->{'AB'[nxt]}: leave {(t_left - t0) * 1000:.0f} ms, "
                  f"join+offer/answer+start {(t_started - t_left) * 1000:.0f} ms, "
                  f"webrtcup {up:.0f} ms, "
                  f"first frame {first * 1000:.0f} ms, all {len(sub.feeds)} feeds {allf * 1000:.0f} ms")
            if args.admin_url:
                w = (await j.handle_info(sub.hid)).get("webrtc", {})
                ice, dtls = w.get("ice", {}), w.get("dtls", {})
                try:
                    print(f"    janus view: ICE gathered->connected "
                          f"{(ice['connected'] - ice['gathered']) / 1000:.0f} ms, DTLS handshake "
                          f"{(dtls['connected'] - dtls['handshake-started']) / 1000:.0f} ms, "
                          f"DTLS retransmissions {dtls.get('retransmissions')}, role {dtls.get('dtls-role')}")
                except (KeyError, TypeError):
                    pass
            cur = nxt
            await asyncio.sleep(0.5)
        if firsts:
            print(f"MOVE->first frame ms: median {statistics.median(firsts) * 1000:.0f} "
                  f"min {min(firsts) * 1000:.0f} max {max(firsts) * 1000:.0f}; "
                  f"->all feeds median {statistics.median(alls) * 1000:.0f}; "
                  f"->webrtcup median {statistics.median(ups):.0f}")

        # --- CPU / packets sample -------------------------------------------
        if args.janus_pid:
            extra = []
            for _ in range(args.extra_subscribers):
                s = await Subscriber(j, rooms[0], feeds[rooms[0]]).start()
                extra.append(s)
            for s in extra:
                await asyncio.wait_for(s.all_video.wait(), 15)
            await asyncio.sleep(1)
            handles = [p.hid for p in pubs] + [sub.hid] + [s.hid for s in extra]

            async def totals():
                pin = pout = 0
                if not args.admin_url:
                    return None
                for h in handles:
                    a, b = media_packets(await j.handle_info(h))
                    pin += a
                    pout += b
                return pin, pout

            hz = os.sysconf("SC_CLK_TCK")
            p0, c0, w0 = await totals(), cpu_ticks(args.janus_pid), now()
            await asyncio.sleep(args.measure_secs)
            p1, c1, w1 = await totals(), cpu_ticks(args.janus_pid), now()
            cpu_s = (c1 - c0) / hz
            wall = w1 - w0
            print(f"CPU sample: {len(pubs)} publishers, {1 + len(extra)} subscribers "
                  f"({2 * (1 + len(extra))} video+{2 * (1 + len(extra))} audio streams forwarded), "
                  f"{wall:.1f} s wall, janus cpu {cpu_s:.2f} s = {100 * cpu_s / wall:.1f}% of one core")
            if p0 and p1:
                din, dout = p1[0] - p0[0], p1[1] - p0[1]
                print(f"  packets in (from publishers) {din} ({din / wall:.0f}/s), "
                      f"out (to subscribers + RTCP) {dout} ({dout / wall:.0f}/s)")
                if dout:
                    print(f"  janus CPU per forwarded packet: {cpu_s / dout * 1e6:.1f} us "
                          f"(per in+out packet {cpu_s / (din + dout) * 1e6:.1f} us)")
            for s in extra:
                await s.stop()
        await sub.stop()
        print("OK")
    finally:
        for p in pubs:
            await p.stop()
        for room in rooms:  # API-created rooms outlive the session unless destroyed
            try:
                await j.request(ctl, {"request": "destroy", "room": room})
            except Exception:
                pass
        await j.close()


if __name__ == "__main__":
    asyncio.run(asyncio.wait_for(main(), 600))
