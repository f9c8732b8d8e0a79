//! The ring buffer of recent requests behind `/_mock/requests`.
//!
//! Recording keeps cheap handles (`HeaderMap` and `Bytes` clones share their buffers)
//! and renders text only when a test asks, so the request path pays a few reference
//! counts and one short lock.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::SystemTime;

use base64::Engine;
use bytes::Bytes;
use http::{HeaderMap, Method, Uri};
use serde::{Deserialize, Serialize};

use crate::Service;
use crate::faults::unix_ms;

/// One request as received, kept in the log.
#[derive(Debug)]
pub(crate) struct Entry {
    pub service: Service,
    pub connection: u64,
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub status: Option<u16>,
    pub outcome: Option<String>,
    pub at: SystemTime,
}

/// The log: a bounded queue, newest last.
#[derive(Debug)]
pub(crate) struct RequestLog {
    enabled: AtomicBool,
    capacity: usize,
    next_seq: AtomicU64,
    entries: Mutex<VecDeque<(u64, Entry)>>,
}

impl RequestLog {
    pub(crate) fn new(enabled: bool, capacity: usize) -> Self {
        Self {
            enabled: AtomicBool::new(enabled && capacity > 0),
            capacity: capacity.max(1),
            next_seq: AtomicU64::new(1),
            entries: Mutex::new(VecDeque::with_capacity(capacity.clamp(1, 4096))),
        }
    }

    pub(crate) fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    pub(crate) fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::Relaxed);
    }

    pub(crate) fn push(&self, entry: Entry) {
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.capacity {
            entries.pop_front();
        }
        entries.push_back((seq, entry));
    }

    pub(crate) fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// The most recent `limit` requests (of `service`, if given), oldest first.
    pub(crate) fn recent(&self, limit: usize, service: Option<Service>) -> Vec<RecordedRequest> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<RecordedRequest> = entries
            .iter()
            .rev()
            .filter(|(_, e)| service.is_none_or(|s| s == e.service))
            .take(limit)
            .map(|(seq, e)| RecordedRequest::render(*seq, e))
            .collect();
        out.reverse();
        out
    }
}

/// A recorded request, as `/_mock/requests` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// Sequence number (increasing, never reused).
    pub seq: u64,
    /// When the answer was decided, epoch milliseconds.
    pub at_unix_ms: u64,
    /// The service.
    pub service: Service,
    /// Connection id (see [`crate::ConnectionStats::id`]).
    pub connection: u64,
    /// `POST`...
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Every header, in order, including `authorization` (non-UTF-8 values lossy).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: RecordedBody,
    /// The status answered; `None` when the stream got no HTTP answer.
    pub status: Option<u16>,
    /// The reason, errorCode, OAuth error or transport outcome of the answer.
    pub outcome: Option<String>,
}

impl RecordedRequest {
    fn render(seq: u64, e: &Entry) -> Self {
        Self {
            seq,
            at_unix_ms: unix_ms(e.at),
            service: e.service,
            connection: e.connection,
            method: e.method.to_string(),
            path: e
                .uri
                .path_and_query()
                .map_or_else(|| e.uri.path().to_owned(), |p| p.as_str().to_owned()),
            headers: e
                .headers
                .iter()
                .map(|(k, v)| {
                    let value = String::from_utf8_lossy(v.as_bytes()).into_owned();
                    (k.as_str().to_owned(), value)
                })
                .collect(),
            body: RecordedBody::of(&e.body),
            status: e.status,
            outcome: e.outcome.clone(),
        }
    }

    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        let found = self
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name));
        found.map(|(_, v)| v.as_str())
    }

    /// The body as text, if it was UTF-8.
    pub fn body_text(&self) -> Option<&str> {
        match &self.body {
            RecordedBody::Text(t) => Some(t),
            RecordedBody::Base64(_) => None,
        }
    }
}

/// A request body: UTF-8 text as is, anything else in base64.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordedBody {
    /// The body was UTF-8.
    Text(String),
    /// The body was not UTF-8: standard base64.
    Base64(String),
}

impl RecordedBody {
    fn of(body: &[u8]) -> Self {
        match std::str::from_utf8(body) {
            Ok(text) => Self::Text(text.to_owned()),
            Err(_) => Self::Base64(base64::engine::general_purpose::STANDARD.encode(body)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(service: Service, body: &'static [u8]) -> Entry {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", "bearer x".parse().unwrap());
        Entry {
            service,
            connection: 7,
            method: Method::POST,
            uri: "/3/device/ab?x=1".parse().unwrap(),
            headers,
            body: Bytes::from_static(body),
            status: Some(200),
            outcome: None,
            at: SystemTime::now(),
        }
    }

    #[test]
    fn keeps_the_most_recent_and_renders_bodies() {
        let log = RequestLog::new(true, 2);
        log.push(entry(Service::Apns, b"one"));
        log.push(entry(Service::Fcm, b"two"));
        log.push(entry(Service::Apns, &[0xff, 0x00]));
        let all = log.recent(10, None);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].body, RecordedBody::Text("two".into()));
        assert_eq!(all[1].body, RecordedBody::Base64("/wA=".into()));
        assert_eq!(all[1].path, "/3/device/ab?x=1");
        assert_eq!(all[1].header("Authorization"), Some("bearer x"));
        assert_eq!(log.recent(10, Some(Service::Fcm)).len(), 1);
        assert_eq!(log.recent(1, None)[0].seq, 3);
    }
}
