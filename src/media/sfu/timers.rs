//! The SFU's clock work: the periodic tick (speakers re-ranked, speaking flags settled, silent
//! peers dropped), each peer's `Rtc` driven until it has nothing more to say, and the recorder's
//! requests for keyframes.

use std::cmp::Reverse;
use std::time::Instant;

use str0m::{Event, IceConnectionState, Output};
use tracing::debug;

use super::routing::crowded;
use super::{KEYFRAME_GAP, KEYFRAME_RETRY, Sfu, TICK, slack_grid};
use crate::domain::call::Source;
use crate::ids::{PersonId, RoomId};
use crate::media::congestion::Report;
use crate::media::peer::PeerId;

impl Sfu {
    pub(super) fn tick(&mut self, now: Instant) {
        self.next_tick = (!self.peers.is_empty()).then_some(now + TICK);
        for peer in self.peers.values() {
            let silent = now.saturating_duration_since(peer.last_heard);
            let age = now.saturating_duration_since(peer.created);
            if !peer.rtc.is_alive() {
                self.doomed.push((peer.id, "closed"));
            } else if !peer.connected && age > self.config.connect_timeout {
                self.doomed.push((peer.id, "connect_timeout"));
            } else if peer.connected && silent > self.config.idle_timeout {
                self.doomed.push((peer.id, "idle_timeout"));
            }
        }
        for call in self.calls.values_mut() {
            let mut changed = false;
            for m in call.members.values_mut() {
                changed |= m.settle_speaking();
            }
            // Ranking matters only where a room has more senders than some receiver has slots:
            // re-rank those calls every tick; the others only when a speaking flag changed.
            if changed || crowded(call, &self.peers) {
                call.dirty = true;
                self.any_dirty = true;
            }
        }
        // What each sent layer carries, smoothed over about a second.
        let elapsed = now.saturating_duration_since(self.measured).as_secs_f64();
        self.measured = now;
        if elapsed > 0.0 {
            let smooth = |bytes: &mut u64, bitrate: &mut u64| {
                let sample = (std::mem::take(bytes) as f64 * 8.0 / elapsed) as u64;
                *bitrate = if *bitrate == 0 {
                    sample
                } else {
                    (*bitrate * 3 + sample) / 4
                };
            };
            for peer in self.peers.values_mut() {
                for layer in peer.sent.values_mut().flatten() {
                    smooth(&mut layer.bytes, &mut layer.bitrate);
                }
                let (bytes, bitrate) = &mut peer.forwarded;
                smooth(bytes, bitrate);
            }
        }
        // Layers are chosen again with what was measured.
        self.relayer.extend(self.calls.keys().copied());
        // Slots still waiting for a keyframe of the layer chosen for them ask again.
        let mut asks = Vec::new();
        for peer in self.peers.values() {
            for slot in &peer.slots {
                if let (Some((person, source)), Some(target)) = (slot.feed, slot.target)
                    && slot.layer != Some(target)
                {
                    asks.push((peer.stream, person, source, target));
                }
            }
        }
        for (stream, person, source, layer) in asks {
            self.ask_keyframe(stream, person, source, layer, now, KEYFRAME_RETRY);
        }
        self.recorder_asks(now);
    }

    /// Runs everything that follows from an input until nothing is left: peers' output, routing
    /// changes, forwarding, and removals.
    pub(super) fn settle(&mut self, now: Instant) {
        loop {
            let touched: Vec<PeerId> = self.touched.drain().collect();
            for id in &touched {
                self.drain(*id);
            }
            if std::mem::take(&mut self.any_dirty) {
                let dirty: Vec<RoomId> = self
                    .calls
                    .iter()
                    .filter(|(_, c)| c.dirty)
                    .map(|(s, _)| *s)
                    .collect();
                for stream in dirty {
                    self.refresh(stream, now);
                }
            }
            if !self.doomed.is_empty() {
                for (id, reason) in std::mem::take(&mut self.doomed) {
                    self.remove_peer(id, reason);
                }
                continue;
            }
            while let Some((from, packet)) = self.incoming.pop_front() {
                self.forward(from, packet, now);
            }
            // A receiver asked for a keyframe on a slot: ask that slot's source.
            while let Some((peer, mid)) = self.keyframe_asks.pop_front() {
                let feed = self.peers.get(&peer).and_then(|p| {
                    let slot = p.slots.iter().find(|s| s.mid == mid)?;
                    Some((p.stream, slot.feed?, slot.layer.or(slot.target)?))
                });
                if let Some((stream, (person, source), layer)) = feed {
                    self.ask_keyframe(stream, person, source, layer, now, KEYFRAME_GAP);
                }
            }
            for stream in std::mem::take(&mut self.relayer) {
                self.choose_layers(stream, now);
            }
            if self.touched.is_empty() && !self.any_dirty {
                break;
            }
        }
    }

    /// Polls one peer's `Rtc` until it only has a timeout left.
    pub(super) fn drain(&mut self, id: PeerId) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        loop {
            match peer.rtc.poll_output() {
                Ok(Output::Transmit(t)) => self.transmits.push_back(t),
                Ok(Output::Timeout(t)) => {
                    // Timer slack: str0m's housekeeping (NACK, TWCC, reports, ICE) waits for the
                    // next tick of a TIMER_SLACK grid, so that what is due close together runs in
                    // one wake-up. Media never waits for a timer: forwarded packets go out when
                    // the receiver is polled after its batch.
                    let t = slack_grid(self.epoch, t);
                    peer.next_timeout = t;
                    if peer.scheduled.is_none_or(|s| t < s) {
                        peer.scheduled = Some(t);
                        self.timers.push(Reverse((t, id)));
                    }
                    break;
                }
                Ok(Output::Event(event)) => match event {
                    Event::Connected => {
                        peer.connected = true;
                        debug!(room = %peer.stream, person = %peer.person, "media connected");
                    }
                    Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                        debug!(room = %peer.stream, person = %peer.person, "ICE disconnected");
                    }
                    Event::RtpPacket(packet) => self.incoming.push_back((id, packet)),
                    Event::KeyframeRequest(req) => self.keyframe_asks.push_back((id, req.mid)),
                    Event::PeerStats(stats) => {
                        if let Some(loss) = stats.egress_loss_fraction {
                            let (sending, wanted) = peer.sending;
                            let report = Report {
                                loss,
                                sending,
                                wanted,
                            };
                            peer.ceiling.update(self.now, report);
                        }
                        peer.stats = Some(stats);
                    }
                    Event::MediaIngressStats(stats)
                        if peer.send_mids.get(&stats.mid) == Some(&Source::Mic) =>
                    {
                        peer.jitter_in = Some(stats.jitter);
                    }
                    Event::MediaEgressStats(stats) => {
                        let audio = peer.slots.iter().any(|s| s.mid == stats.mid && !s.video);
                        if let (true, Some(remote)) = (audio, stats.remote) {
                            peer.jitter_out.insert(stats.mid, remote.jitter);
                        }
                    }
                    _ => {}
                },
                Err(e) => {
                    debug!(peer = id, error = %e, "peer failed");
                    self.doomed.push((id, "failed"));
                    break;
                }
            }
            if !peer.rtc.is_alive() {
                self.doomed.push((id, "closed"));
                break;
            }
        }
    }

    /// Keyframes the recorder waits for (a gap in a recorded video).
    pub(super) fn recorder_asks(&mut self, now: Instant) {
        let Some(recorder) = &self.recorder else {
            return;
        };
        let asks: Vec<(RoomId, PersonId, Source)> = match recorder.asks.lock() {
            Ok(mut asks) => asks.drain().collect(),
            Err(_) => return,
        };
        for (stream, person, source) in asks {
            if let Some(layer) = self.taps.layer_of(stream, person, source) {
                self.ask_keyframe(stream, person, source, layer, now, KEYFRAME_RETRY);
            }
        }
    }
}
