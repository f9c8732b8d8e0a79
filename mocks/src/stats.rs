//! Counters behind `/_mock/stats`: answers per status and reason, deliveries per token,
//! connections and their highest stream concurrency, token requests.
//!
//! Every counter is updated on the request path, so each is one short critical section
//! (or an atomic) and looks up by borrowed key: the 200 path allocates nothing here.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::Service;
use crate::faults::unix_ms;

/// Closed connections kept in the stats; older ones are dropped (their answers stay
/// counted).
const CLOSED_CONNECTIONS_KEPT: usize = 1024;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Live counters of one connection.
#[derive(Debug)]
pub(crate) struct ConnCounters {
    pub id: u64,
    pub service: Service,
    pub peer: SocketAddr,
    opened_unix_ms: u64,
    open: AtomicU64,
    max_open: AtomicU64,
    streams: AtomicU64,
    closed: AtomicBool,
}

impl ConnCounters {
    /// A stream was accepted; returns how many streams the connection accepted so far.
    pub(crate) fn stream_opened(&self) -> u64 {
        let open = self.open.fetch_add(1, Ordering::Relaxed) + 1;
        self.max_open.fetch_max(open, Ordering::Relaxed);
        self.streams.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// A stream was answered (or reset, or abandoned).
    pub(crate) fn stream_closed(&self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }

    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
    }

    fn snapshot(&self) -> ConnectionStats {
        ConnectionStats {
            id: self.id,
            service: self.service,
            peer: self.peer,
            opened_unix_ms: self.opened_unix_ms,
            streams: self.streams.load(Ordering::Relaxed),
            max_concurrent_streams: self.max_open.load(Ordering::Relaxed),
            open: !self.closed.load(Ordering::Relaxed),
        }
    }
}

type CountKey = (Service, Option<u16>);

/// All counters.
#[derive(Debug)]
pub(crate) struct Stats {
    /// Answers per (service, status) and reason (`""` when there is none).
    counts: Mutex<HashMap<CountKey, HashMap<String, u64>>>,
    /// Deliveries per token, APNs and FCM.
    deliveries: [Mutex<HashMap<String, u64>>; 2],
    connections: Mutex<Vec<Arc<ConnCounters>>>,
    accepted: [AtomicU64; 3],
    next_conn_id: AtomicU64,
    token_requests: AtomicU64,
    tokens_issued: AtomicU64,
    /// Whether [`Stats::delivered`] counts (see [`crate::MockConfig::count_deliveries`]).
    count_deliveries: bool,
}

impl Stats {
    /// Counters, with deliveries per token counted or not.
    pub(crate) fn new(count_deliveries: bool) -> Self {
        Self {
            counts: Mutex::default(),
            deliveries: Default::default(),
            connections: Mutex::default(),
            accepted: Default::default(),
            next_conn_id: AtomicU64::new(0),
            token_requests: AtomicU64::new(0),
            tokens_issued: AtomicU64::new(0),
            count_deliveries,
        }
    }

    /// Registers a new connection.
    pub(crate) fn connection(&self, service: Service, peer: SocketAddr) -> Arc<ConnCounters> {
        let counters = Arc::new(ConnCounters {
            id: self.next_conn_id.fetch_add(1, Ordering::Relaxed) + 1,
            service,
            peer,
            opened_unix_ms: unix_ms(SystemTime::now()),
            open: AtomicU64::new(0),
            max_open: AtomicU64::new(0),
            streams: AtomicU64::new(0),
            closed: AtomicBool::new(false),
        });
        self.accepted[service.index()].fetch_add(1, Ordering::Relaxed);
        let mut all = lock(&self.connections);
        if all.len() >= 2 * CLOSED_CONNECTIONS_KEPT {
            let closed = all
                .iter()
                .filter(|c| c.closed.load(Ordering::Relaxed))
                .count();
            let mut drop = closed.saturating_sub(CLOSED_CONNECTIONS_KEPT);
            all.retain(|c| {
                let gone = drop > 0 && c.closed.load(Ordering::Relaxed);
                drop -= usize::from(gone);
                !gone
            });
        }
        all.push(counters.clone());
        counters
    }

    /// Counts one answer. `reason` is the APNs reason, FCM errorCode (or canonical
    /// status), OAuth error, or the transport outcome (`reset`, `goaway`, `no_answer`).
    pub(crate) fn answered(&self, service: Service, status: Option<u16>, reason: &str) {
        let mut counts = lock(&self.counts);
        let by_reason = counts.entry((service, status)).or_default();
        match by_reason.get_mut(reason) {
            Some(n) => *n += 1,
            None => {
                by_reason.insert(reason.to_owned(), 1);
            }
        }
    }

    /// Counts one delivery (a 200 that was really processed) to `token`, unless deliveries
    /// are not counted.
    pub(crate) fn delivered(&self, service: Service, token: &str) {
        if !self.count_deliveries {
            return;
        }
        let Some(map) = self.deliveries.get(service.index()) else {
            return;
        };
        let mut map = lock(map);
        match map.get_mut(token) {
            Some(n) => *n += 1,
            None => {
                map.insert(token.to_owned(), 1);
            }
        }
    }

    pub(crate) fn token_requested(&self) {
        self.token_requests.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn token_issued(&self) {
        self.tokens_issued.fetch_add(1, Ordering::Relaxed);
    }

    /// Clears every counter; open connections stay listed with fresh counters.
    pub(crate) fn reset(&self) {
        lock(&self.counts).clear();
        self.deliveries.iter().for_each(|m| lock(m).clear());
        let mut conns = lock(&self.connections);
        conns.retain(|c| !c.closed.load(Ordering::Relaxed));
        for c in conns.iter() {
            c.streams.store(0, Ordering::Relaxed);
            c.max_open
                .store(c.open.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        for (a, s) in self.accepted.iter().zip(Service::ALL) {
            let open = conns.iter().filter(|c| c.service == s).count();
            a.store(open as u64, Ordering::Relaxed);
        }
        self.token_requests.store(0, Ordering::Relaxed);
        self.tokens_issued.store(0, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> StatsSnapshot {
        let mut counts: Vec<Count> = lock(&self.counts)
            .iter()
            .flat_map(|(&(service, status), by_reason)| {
                by_reason.iter().map(move |(reason, &count)| Count {
                    service,
                    status,
                    reason: (!reason.is_empty()).then(|| reason.clone()),
                    count,
                })
            })
            .collect();
        counts.sort_by(|a, b| {
            (a.service, a.status, &a.reason).cmp(&(b.service, b.status, &b.reason))
        });
        let deliveries = |s: Service| -> BTreeMap<String, u64> {
            lock(&self.deliveries[s.index()])
                .iter()
                .map(|(k, v)| (k.clone(), *v))
                .collect()
        };
        let connections: Vec<ConnectionStats> = lock(&self.connections)
            .iter()
            .map(|c| c.snapshot())
            .collect();
        StatsSnapshot {
            counts,
            deliveries: Deliveries {
                apns: deliveries(Service::Apns),
                fcm: deliveries(Service::Fcm),
            },
            max_concurrent_streams: connections
                .iter()
                .map(|c| c.max_concurrent_streams)
                .max()
                .unwrap_or(0),
            connection_count: Service::ALL
                .iter()
                .map(|s| (*s, self.accepted[s.index()].load(Ordering::Relaxed)))
                .collect(),
            connections,
            token_requests: self.token_requests.load(Ordering::Relaxed),
            tokens_issued: self.tokens_issued.load(Ordering::Relaxed),
        }
    }
}

/// A copy of the counters (`GET /_mock/stats`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatsSnapshot {
    /// Answers per service, status and reason.
    pub counts: Vec<Count>,
    /// Deliveries per token.
    pub deliveries: Deliveries,
    /// Connections (open ones and the most recent closed ones).
    pub connections: Vec<ConnectionStats>,
    /// Highest stream concurrency seen on any listed connection.
    pub max_concurrent_streams: u64,
    /// Connections accepted per service since start (or the last reset).
    pub connection_count: BTreeMap<Service, u64>,
    /// Requests to the OAuth token endpoint (any outcome).
    pub token_requests: u64,
    /// Access tokens issued.
    pub tokens_issued: u64,
}

impl StatsSnapshot {
    /// How many answers had this service, status and reason (`None`: no reason, as for
    /// a 200).
    pub fn count(&self, service: Service, status: u16, reason: Option<&str>) -> u64 {
        self.counts
            .iter()
            .filter(|c| c.service == service && c.status == Some(status))
            .filter(|c| c.reason.as_deref() == reason)
            .map(|c| c.count)
            .sum()
    }

    /// How many answers of this service had this status, whatever the reason.
    pub fn status_count(&self, service: Service, status: u16) -> u64 {
        self.counts
            .iter()
            .filter(|c| c.service == service && c.status == Some(status))
            .map(|c| c.count)
            .sum()
    }

    /// How many streams got this transport outcome (`reset`, `goaway`, `no_answer`).
    pub fn transport_count(&self, service: Service, outcome: &str) -> u64 {
        self.counts
            .iter()
            .filter(|c| c.service == service && c.status.is_none())
            .filter(|c| c.reason.as_deref() == Some(outcome))
            .map(|c| c.count)
            .sum()
    }

    /// How many times `token` was delivered to.
    pub fn delivered(&self, service: Service, token: &str) -> u64 {
        let map = match service {
            Service::Apns => &self.deliveries.apns,
            Service::Fcm => &self.deliveries.fcm,
            Service::OAuth => return 0,
        };
        map.get(token).copied().unwrap_or(0)
    }
}

/// One counter of [`StatsSnapshot::counts`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Count {
    /// The service.
    pub service: Service,
    /// The HTTP status; `None` for a stream that got no HTTP answer.
    pub status: Option<u16>,
    /// APNs reason, FCM errorCode (or canonical status), OAuth error, or transport
    /// outcome (`reset`, `goaway`, `no_answer`); `None` for a plain success.
    pub reason: Option<String>,
    /// How many.
    pub count: u64,
}

/// Deliveries per token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deliveries {
    /// APNs device token -> 200s.
    pub apns: BTreeMap<String, u64>,
    /// FCM registration token -> successful sends (not `validate_only`).
    pub fcm: BTreeMap<String, u64>,
}

/// One connection's counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionStats {
    /// Connection id (also in the request log).
    pub id: u64,
    /// The service.
    pub service: Service,
    /// The client's address.
    pub peer: SocketAddr,
    /// When it was accepted, epoch milliseconds.
    pub opened_unix_ms: u64,
    /// Streams (requests) it carried.
    pub streams: u64,
    /// Highest number of streams open at once.
    pub max_concurrent_streams: u64,
    /// Whether it is still open.
    pub open: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_deliveries_and_concurrency() {
        let stats = Stats::new(true);
        let conn = stats.connection(Service::Apns, "127.0.0.1:1".parse().unwrap());
        conn.stream_opened();
        conn.stream_opened();
        conn.stream_closed();
        conn.stream_opened();
        stats.answered(Service::Apns, Some(200), "");
        stats.answered(Service::Apns, Some(200), "");
        stats.answered(Service::Apns, Some(410), "Unregistered");
        stats.answered(Service::Apns, None, "reset");
        stats.delivered(Service::Apns, "ab");
        let snap = stats.snapshot();
        assert_eq!(snap.count(Service::Apns, 200, None), 2);
        assert_eq!(snap.count(Service::Apns, 410, Some("Unregistered")), 1);
        assert_eq!(snap.transport_count(Service::Apns, "reset"), 1);
        assert_eq!(snap.delivered(Service::Apns, "ab"), 1);
        assert_eq!(snap.max_concurrent_streams, 2);
        assert_eq!(snap.connections[0].streams, 3);
        assert_eq!(snap.connection_count[&Service::Apns], 1);
        stats.reset();
        let snap = stats.snapshot();
        assert!(snap.counts.is_empty());
        assert_eq!(snap.connections[0].streams, 0);
    }

    #[test]
    fn deliveries_are_not_counted_when_counting_is_off() {
        let stats = Stats::new(false);
        stats.delivered(Service::Apns, "ab");
        stats.answered(Service::Apns, Some(200), "");
        let snap = stats.snapshot();
        assert_eq!(snap.delivered(Service::Apns, "ab"), 0);
        assert_eq!(
            snap.count(Service::Apns, 200, None),
            1,
            "answers are still counted"
        );
    }
}
