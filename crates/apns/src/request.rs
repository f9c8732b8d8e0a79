//! One notification on the wire: the checks made before sending, the request (path and
//! `apns-*` headers), and one exchange on a leased stream, read back as an [`Exchange`].

use std::future::poll_fn;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use h2::Reason;
use http::header::{AUTHORIZATION, RETRY_AFTER};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Uri};
use pushgate_outcome::apns::{COLLAPSE_ID_LIMIT, Transport};
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};

use crate::notification::Notification;
use crate::pool::Conn;
use crate::result::{Answer, SendResult};

static APNS_TOPIC: HeaderName = HeaderName::from_static("apns-topic");
static APNS_PUSH_TYPE: HeaderName = HeaderName::from_static("apns-push-type");
static APNS_PRIORITY: HeaderName = HeaderName::from_static("apns-priority");
static APNS_EXPIRATION: HeaderName = HeaderName::from_static("apns-expiration");
static APNS_COLLAPSE_ID: HeaderName = HeaderName::from_static("apns-collapse-id");
static APNS_ID: HeaderName = HeaderName::from_static("apns-id");

/// The request path before the device token.
const DEVICE_PATH: &str = "/3/device/";

/// Largest error body kept (APNs' are a few dozen bytes).
const MAX_ANSWER_BODY: usize = 64 * 1024;

/// A notification checked and turned into the parts of its request.
#[derive(Debug)]
pub(crate) struct Prepared {
    path: PathAndQuery,
    shared: Arc<Shared>,
}

/// What every token of a notification shares: its `apns-*` headers and payload, checked
/// once ([`crate::Template`]).
#[derive(Debug)]
pub(crate) struct Shared {
    /// The notification's `apns-*` headers; `apns-topic` only if it names its own.
    headers: HeaderMap,
    payload: Bytes,
}

/// Accepts any JSON object, reading nothing into memory.
struct JsonObject;

impl<'de> Deserialize<'de> for JsonObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = JsonObject;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonObject, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(JsonObject)
            }
        }
        deserializer.deserialize_map(ObjectVisitor)
    }
}

/// The last payload found to be a JSON object. A delivery sends one payload buffer to
/// many tokens; this skips parsing it again. It holds a clone of the buffer, so the
/// memory cannot be freed and reused while remembered: the same address and length then
/// mean the same bytes (a `Bytes` never changes).
#[derive(Debug, Default)]
pub(crate) struct CheckedPayload(Mutex<Option<Bytes>>);

impl CheckedPayload {
    fn check(&self, payload: &Bytes) -> Result<(), String> {
        let same = |last: &Bytes| last.as_ptr() == payload.as_ptr() && last.len() == payload.len();
        let mut last = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if last.as_ref().is_some_and(same) {
            return Ok(());
        }
        serde_json::from_slice::<JsonObject>(payload)
            .map_err(|e| format!("payload is not a JSON object: {e}"))?;
        *last = Some(payload.clone());
        Ok(())
    }
}

fn header(name: &str, value: &str) -> Result<HeaderValue, SendResult> {
    HeaderValue::from_str(value)
        .map_err(|_| SendResult::content_format(&format!("{name} is not a valid header value")))
}

/// An empty or non-hex token, refused as APNs would refuse it.
fn check_token(token: &str) -> Result<(), SendResult> {
    if token.is_empty() {
        return Err(SendResult::refused_locally("MissingDeviceToken"));
    }
    if !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(SendResult::refused_locally("BadDeviceToken"));
    }
    Ok(())
}

impl Shared {
    /// Checks what `n` shares with every token and builds its headers; a notification
    /// that cannot go out is its final result already (nothing was sent).
    pub(crate) fn new(n: &Notification, checked: &CheckedPayload) -> Result<Self, SendResult> {
        let limit = n.push_type.payload_limit();
        if n.payload.len() > limit {
            return Err(SendResult::payload_too_large(n.payload.len(), limit));
        }
        if let Err(detail) = checked.check(&n.payload) {
            return Err(SendResult::content_format(&detail));
        }
        if let Some(id) = &n.collapse_id
            && id.len() > COLLAPSE_ID_LIMIT
        {
            let detail = format!(
                "apns-collapse-id is {} bytes, over {COLLAPSE_ID_LIMIT}",
                id.len()
            );
            return Err(SendResult::content_format(&detail));
        }
        let mut headers = HeaderMap::with_capacity(8);
        headers.insert(
            APNS_PUSH_TYPE.clone(),
            HeaderValue::from_static(n.push_type.as_str()),
        );
        if let Some(priority) = n.priority {
            headers.insert(
                APNS_PRIORITY.clone(),
                HeaderValue::from(u16::from(priority)),
            );
        }
        if let Some(expiration) = n.expiration {
            headers.insert(APNS_EXPIRATION.clone(), HeaderValue::from(expiration));
        }
        let texts = [
            (&APNS_COLLAPSE_ID, &n.collapse_id),
            (&APNS_ID, &n.apns_id),
            (&APNS_TOPIC, &n.topic),
        ];
        for (name, value) in texts {
            if let Some(value) = value {
                headers.insert(name.clone(), header(name.as_str(), value)?);
            }
        }
        Ok(Self {
            headers,
            payload: n.payload.clone(),
        })
    }
}

impl Prepared {
    /// Checks `n` and builds its request parts; a notification that cannot go out is
    /// its final result already (nothing was sent). The token is checked first.
    pub(crate) fn new(n: &Notification, checked: &CheckedPayload) -> Result<Self, SendResult> {
        check_token(&n.token)?;
        let shared = Arc::new(Shared::new(n, checked)?);
        Self::checked_token(shared, &n.token)
    }

    /// The request parts of `shared` for one token.
    ///
    /// An empty or non-hex token is refused as APNs would refuse it (400
    /// `MissingDeviceToken` / `BadDeviceToken`, `apns.other`), so a token lands on the
    /// same row whether or not it reached APNs.
    pub(crate) fn for_token(shared: Arc<Shared>, token: &str) -> Result<Self, SendResult> {
        check_token(token)?;
        Self::checked_token(shared, token)
    }

    fn checked_token(shared: Arc<Shared>, token: &str) -> Result<Self, SendResult> {
        let mut path = String::with_capacity(DEVICE_PATH.len() + token.len());
        path.push_str(DEVICE_PATH);
        path.push_str(token);
        let path = PathAndQuery::from_maybe_shared(Bytes::from(path))
            .map_err(|_| SendResult::refused_locally("BadDeviceToken"))?;
        Ok(Self { path, shared })
    }

    /// The `apns-push-type` value.
    pub(crate) fn push_type(&self) -> &str {
        self.shared
            .headers
            .get(&APNS_PUSH_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
    }

    /// The payload, shared (cloning copies nothing).
    pub(crate) fn payload(&self) -> Bytes {
        self.shared.payload.clone()
    }

    /// The `apns-id` sent, if any.
    pub(crate) fn apns_id(&self) -> Option<String> {
        self.shared
            .headers
            .get(&APNS_ID)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// The request for one attempt.
    pub(crate) fn request(
        &self,
        authority: &Authority,
        default_topic: &HeaderValue,
        authorization: Option<&HeaderValue>,
    ) -> Request<()> {
        // The notification's headers are built once; a clone copies their handles.
        let mut headers = self.shared.headers.clone();
        if !headers.contains_key(&APNS_TOPIC) {
            headers.insert(APNS_TOPIC.clone(), default_topic.clone());
        }
        if let Some(value) = authorization {
            headers.insert(AUTHORIZATION, value.clone());
        }
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(Scheme::HTTPS);
        parts.authority = Some(authority.clone());
        parts.path_and_query = Some(self.path.clone());
        let mut request = Request::new(());
        *request.method_mut() = Method::POST;
        *request.uri_mut() = Uri::from_parts(parts).unwrap_or_default();
        *request.headers_mut() = headers;
        request
    }
}

/// How one attempt ended.
#[derive(Debug)]
pub(crate) enum Exchange {
    /// An HTTP answer.
    Answer(Answer),
    /// The server did not process the request (not sent, REFUSED_STREAM, above a
    /// GOAWAY's last stream): safe to send again.
    Unprocessed,
    /// No answer: the request may or may not have been processed.
    Failed(Transport),
    /// TLS failed on this connection: `apns.certificate`.
    Tls(String),
}

/// Sends `request` and its payload on `conn`, reads the answer. `sent` turns true once
/// the request is on its way (it then counts as an attempt). The request is built only
/// once a stream can be opened, and only the answer's status and headers of interest are
/// kept while its body is read, so the future (one per notification in flight) stays
/// small.
pub(crate) async fn exchange(
    conn: &Conn,
    request: impl FnOnce() -> Request<()>,
    payload: Bytes,
    sent: &mut bool,
) -> Exchange {
    let mut send = conn.send.clone();
    if let Err(e) = poll_fn(|cx| send.poll_ready(cx)).await {
        return not_sent(conn, &e);
    }
    let end = payload.is_empty();
    let (response, mut stream) = match send.send_request(request(), end) {
        Ok(pair) => pair,
        Err(e) => return not_sent(conn, &e),
    };
    drop(send);
    *sent = true;
    if !end && let Err(e) = stream.send_data(payload, true) {
        return stream_failed(conn, &e);
    }
    drop(stream);
    let response = match response.await {
        Ok(response) => response,
        Err(e) => return stream_failed(conn, &e),
    };
    let header_str = |name: &HeaderName| {
        let value = response.headers().get(name);
        value.and_then(|v| v.to_str().ok())
    };
    let mut answer = Answer {
        status: response.status().as_u16(),
        apns_id: header_str(&APNS_ID).map(str::to_owned),
        retry_after: header_str(&RETRY_AFTER)
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs),
        body: Bytes::new(),
    };
    let mut body = response.into_body();
    if !body.is_end_stream() {
        let mut data = BytesMut::new();
        while let Some(chunk) = body.data().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(e) => return stream_failed(conn, &e),
            };
            let _ = body.flow_control().release_capacity(chunk.len());
            if data.len() < MAX_ANSWER_BODY {
                data.extend_from_slice(&chunk);
            }
        }
        answer.body = data.freeze();
    }
    Exchange::Answer(answer)
}

/// The request never left: `h2` refused to open the stream (the connection got GOAWAY
/// or failed). The connection is of no more use.
fn not_sent(conn: &Conn, error: &h2::Error) -> Exchange {
    if let Some(detail) = conn.state.io.tls_failure() {
        return Exchange::Tls(detail);
    }
    tracing::debug!(connection = conn.state.id, error = %error, "stream not opened");
    Exchange::Unprocessed
}

/// The stream failed after the request went out.
fn stream_failed(conn: &Conn, error: &h2::Error) -> Exchange {
    if let Some(detail) = conn.state.io.tls_failure() {
        return Exchange::Tls(detail);
    }
    if error.is_reset() && error.is_remote() && error.reason() == Some(Reason::REFUSED_STREAM) {
        return Exchange::Unprocessed;
    }
    if error.is_go_away() {
        // h2 fails the streams above a GOAWAY's last-stream-id while the connection is
        // still up; streams that die later, with the socket, may have been processed.
        if error.is_remote() && !conn.state.io.closed() {
            return Exchange::Unprocessed;
        }
        return Exchange::Failed(Transport::GoAway);
    }
    Exchange::Failed(Transport::Reset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notification::PushType;

    fn row(r: &SendResult) -> String {
        r.classification
            .id()
            .map(|i| i.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn local_checks_pick_the_row_apns_would() {
        let checked = CheckedPayload::default();
        let ok = Notification::new("abcdef01", Bytes::from_static(b"{\"aps\":{}}"));
        assert!(Prepared::new(&ok, &checked).is_ok());
        let case = |f: fn(&mut Notification)| {
            let mut n = ok.clone();
            f(&mut n);
            Prepared::new(&n, &checked)
                .err()
                .map(|r| (row(&r), r.reason))
        };
        let other = |reason: &str| Some(("apns.other".to_owned(), Some(reason.to_owned())));
        assert_eq!(case(|n| n.token.clear()), other("MissingDeviceToken"));
        assert_eq!(case(|n| n.token = "xyz".into()), other("BadDeviceToken"));
        let too_large = case(|n| n.payload = Bytes::from(vec![b' '; 4097]));
        assert_eq!(
            too_large.map(|r| r.0).as_deref(),
            Some("apns.payload_too_large")
        );
        let voip = case(|n| {
            n.push_type = PushType::Voip;
            n.payload = Bytes::from(format!("{{\"a\":\"{}\"}}", "x".repeat(5000)));
        });
        assert_eq!(voip, None);
        for broken in [
            (|n: &mut Notification| n.payload = Bytes::from_static(b"{\"a\":")) as fn(&mut _),
            |n| n.payload = Bytes::from_static(b"[1]"),
            |n| n.payload = Bytes::new(),
            |n| n.collapse_id = Some("c".repeat(65)),
            |n| n.topic = Some("bad\ntopic".into()),
        ] {
            let got = case(broken).map(|r| r.0);
            assert_eq!(got.as_deref(), Some("apns.content_format"));
        }
        assert_eq!(case(|n| n.collapse_id = Some("c".repeat(64))), None);
    }

    #[test]
    fn a_payload_buffer_is_parsed_once_and_a_new_one_again() {
        let checked = CheckedPayload::default();
        let good = Bytes::from(b"{\"aps\":{}}".to_vec());
        assert!(checked.check(&good).is_ok());
        assert!(checked.check(&good.clone()).is_ok());
        let bad = Bytes::from(b"{\"aps\":{}".to_vec());
        assert!(checked.check(&bad).is_err());
        // A slice of the remembered buffer is other bytes: parsed again.
        assert!(checked.check(&good.slice(1..)).is_err());
    }

    #[test]
    fn requests_carry_every_header() {
        let mut n = Notification::new("abcdef01", Bytes::from_static(b"{}"));
        n.priority = Some(5);
        n.expiration = Some(0);
        n.collapse_id = Some("c1".into());
        n.apns_id = Some("123e4567-e89b-12d3-a456-426614174000".into());
        let p = Prepared::new(&n, &CheckedPayload::default()).unwrap();
        let authority = Authority::from_static("127.0.0.1:1");
        let topic = HeaderValue::from_static("com.example.app");
        let auth = HeaderValue::from_static("bearer t");
        let r = p.request(&authority, &topic, Some(&auth));
        assert_eq!(r.uri().to_string(), "https://127.0.0.1:1/3/device/abcdef01");
        let h = r.headers();
        for (name, value) in [
            ("apns-topic", "com.example.app"),
            ("apns-push-type", "alert"),
            ("apns-priority", "5"),
            ("apns-expiration", "0"),
            ("apns-collapse-id", "c1"),
            ("apns-id", "123e4567-e89b-12d3-a456-426614174000"),
            ("authorization", "bearer t"),
        ] {
            assert_eq!(
                h.get(name).and_then(|v| v.to_str().ok()),
                Some(value),
                "{name}"
            );
        }
    }
}
