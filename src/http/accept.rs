//! Accepting connections with the defences an open port needs. Without them one client holding
//! thousands of idle TCP connections used every descriptor and locked everyone out.
//!
//! - **Caps**: at most `per_address` open connections from one client address and `total` in all,
//!   `total` staying below the open-files limit so that the database, uploads and the media socket
//!   always find a descriptor (the reserve). A connection over a cap is closed at once.
//! - **Header timeout**: a request's headers must arrive within `header_timeout` of the server
//!   starting to wait for them, which also closes keep-alive connections left idle that long
//!   (hyper's HTTP/1 header-read timer).
//! - **Back-off**: when accepting fails for lack of descriptors or memory, wait (10 ms doubling to
//!   1 s) instead of spinning, and say so (at most once a minute, however often it flaps).
//!
//! Each connection is served by hyper's HTTP/1 with upgrades (the WebSockets); the client's
//! address reaches handlers as axum's `ConnectInfo<SocketAddr>`. Body timeouts are layers of the
//! router (`http::router`), not of the connection.

use std::collections::HashMap;
use std::net::IpAddr;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::Service;
use tracing::{debug, warn};

use crate::metrics::Metrics;

/// How many connections may be open, from one address and in all.
#[derive(Debug)]
pub struct ConnectionLimits {
    per_address: usize,
    total: usize,
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

/// Why a connection was closed at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Its address already has `per_address` connections open.
    Address,
    /// `total` connections are open.
    Total,
}

/// One admitted connection; dropping it frees its place.
#[derive(Debug)]
pub struct Admitted {
    limits: Arc<ConnectionLimits>,
    address: IpAddr,
}

impl ConnectionLimits {
    /// `per_address` 0 means no cap per address.
    pub fn new(per_address: usize, total: usize) -> Arc<ConnectionLimits> {
        Arc::new(ConnectionLimits {
            per_address,
            total,
            open: Mutex::new(Open::default()),
        })
    }

    /// The most connections to keep open with `descriptors` allowed to the process: all but a
    /// reserve of a quarter of them, at most 512.
    pub fn total_for(descriptors: u64) -> usize {
        let reserve = (descriptors / 4).min(512);
        (descriptors - reserve).max(16) as usize
    }

    /// Takes a place for a connection from `address`, or says which cap is full.
    pub fn admit(self: &Arc<Self>, address: IpAddr) -> Result<Admitted, Refused> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if open.total >= self.total {
            return Err(Refused::Total);
        }
        let mine = open.by_address.entry(address).or_default();
        if self.per_address > 0 && *mine >= self.per_address {
            return Err(Refused::Address);
        }
        *mine += 1;
        open.total += 1;
        Ok(Admitted {
            limits: self.clone(),
            address,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.lock().unwrap_or_else(|e| e.into_inner()).total
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = self.limits.open.lock().unwrap_or_else(|e| e.into_inner());
        open.total -= 1;
        if let Some(n) = open.by_address.get_mut(&self.address) {
            *n -= 1;
            if *n == 0 {
                open.by_address.remove(&self.address);
            }
        }
    }
}

/// Whether an accept error concerns only the connection being accepted (try the next one at once)
/// rather than the process (out of descriptors or memory: back off).
fn connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset | Interrupted | WouldBlock
    )
}

/// Serves `router` on `listener` until `shutdown` completes; then stops accepting, lets each
/// connection finish its request, and returns when all have closed or the shutdown grace time is
/// up, whichever comes first (upgraded WebSockets are ended by the application's own shutdown
/// signal).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Arc<ConnectionLimits>,
    timeouts: Timeouts,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send,
) {
    let (stop_tx, stop_rx) = watch::channel(false);
    // Every connection task holds a receiver: when all are gone, every connection has closed.
    let mut shutdown = pin!(shutdown);
    let mut backoff = Duration::ZERO;
    let mut warned: Option<std::time::Instant> = None;
    loop {
        let accepted = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => {
                backoff = Duration::ZERO;
                pair
            }
            Err(e) if connection_error(&e) => continue,
            Err(e) => {
                if warned.is_none_or(|at| at.elapsed() >= Duration::from_secs(60)) {
                    warned = Some(std::time::Instant::now());
                    warn!(error = %e, open = limits.open(), "cannot accept connections; backing off");
                }
                backoff = (backoff * 2).clamp(Duration::from_millis(10), Duration::from_secs(1));
                tokio::select! {
                    () = tokio::time::sleep(backoff) => continue,
                    () = &mut shutdown => break,
                }
            }
        };
        let admitted = match limits.admit(peer.ip()) {
            Ok(admitted) => admitted,
            Err(why) => {
                metrics.connections_refused.inc();
                debug!(%peer, ?why, "connection refused: over the cap");
                continue; // dropping the stream closes it
            }
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let _admitted = admitted;
            let service =
                hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
                    request.extensions_mut().insert(ConnectInfo(peer));
                    router.clone().call(request)
                });
            let mut connection = pin!(
                http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(timeouts.header)
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades()
            );
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(e) = result {
                        debug!(%peer, error = %e, "connection ended with an error");
                    }
                }
                _ = stop.changed() => {
                    // Shutting down: finish the request under way, then close.
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.as_mut().await;
                }
            }
            drop(stop);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(stop_rx);
    // A response stuck on a client that stopped reading (its network gone) would hold this for
    // as long as TCP keeps trying: minutes.
    if tokio::time::timeout(timeouts.shutdown_grace, stop_tx.closed())
        .await
        .is_err()
    {
        warn!(
            open = limits.open(),
            "connections still busy after the shutdown grace time; closing them"
        );
    }
}

/// The connection timers of [`serve`].
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Time to send a request's headers; the longest idle keep-alive.
    pub header: Duration,
    /// How long requests under way get to finish once shutting down.
    pub shutdown_grace: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_per_address_and_in_all_and_places_come_back() {
        let limits = ConnectionLimits::new(2, 3);
        let a = IpAddr::from([127, 0, 0, 1]);
        let b = IpAddr::from([127, 0, 0, 2]);
        let first = limits.admit(a).unwrap();
        let _second = limits.admit(a).unwrap();
        assert_eq!(limits.admit(a).unwrap_err(), Refused::Address);
        let _third = limits.admit(b).unwrap();
        assert_eq!(limits.admit(b).unwrap_err(), Refused::Total);
        drop(first);
        assert_eq!(limits.open(), 2);
        let _again = limits.admit(a).unwrap();
        assert_eq!(limits.admit(a).unwrap_err(), Refused::Total);
    }

    #[test]
    fn no_cap_per_address_when_it_is_zero() {
        let limits = ConnectionLimits::new(0, 5);
        let a = IpAddr::from([10, 0, 0, 1]);
        let held: Vec<_> = (0..5).map(|_| limits.admit(a).unwrap()).collect();
        assert_eq!(limits.admit(a).unwrap_err(), Refused::Total);
        drop(held);
        assert_eq!(limits.open(), 0);
    }

    #[test]
    fn the_reserve_is_a_quarter_of_the_descriptors_at_most_512() {
        assert_eq!(ConnectionLimits::total_for(1024), 768);
        assert_eq!(ConnectionLimits::total_for(1_048_576), 1_048_576 - 512);
        assert_eq!(ConnectionLimits::total_for(20), 16);
    }
}
