//! The mock APNs: `POST /3/device/<token>` over HTTP/2.
//!
//! Order of work for a request: faults (reset, error rate), then the header and path
//! checks of [`validate`], then authentication (client certificate or provider token,
//! [`auth`]), then the payload (PayloadEmpty, PayloadTooLarge), then the scripted answer
//! for the token, then 200 with `apns-id`.

mod auth;
mod validate;

use std::borrow::Cow;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use pushgate_outcome::apns::payload_limit;
use rustls_pki_types::CertificateDer;

use self::auth::TokenAuth;
use self::validate::{Reject, reject};
use crate::Service;
use crate::faults::unix_ms;
use crate::fixtures::now_secs;
use crate::h2serve::{Decision, H2Service, Reply};
use crate::script::Answer;
use crate::state::Shared;
use crate::tls::CertIdentity;

static APNS_ID: HeaderName = HeaderName::from_static("apns-id");

/// The APNs mock.
pub(crate) struct Apns {
    pub shared: Arc<Shared>,
}

/// How a connection authenticates.
pub(crate) enum ApnsConn {
    /// A client certificate issued by the mock CA.
    Certificate(CertIdentity),
    /// Provider tokens.
    Token(TokenAuth),
}

/// A fresh random `apns-id`.
fn new_apns_id() -> HeaderValue {
    let bytes: [u8; 16] = rand::random();
    let id = uuid::Builder::from_random_bytes(bytes).into_uuid();
    let mut buf = uuid::Uuid::encode_buffer();
    HeaderValue::from_str(id.hyphenated().encode_lower(&mut buf))
        .unwrap_or_else(|_| HeaderValue::from_static("00000000-0000-4000-8000-000000000000"))
}

fn json_headers(apns_id: HeaderValue, retry_after: Option<u64>) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(3);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(APNS_ID.clone(), apns_id);
    if let Some(secs) = retry_after {
        headers.insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    headers
}

/// An APNs error answer: `{"reason"}`, plus `timestamp` for 410.
fn error<'a>(
    status: u16,
    reason: Cow<'static, str>,
    apns_id: HeaderValue,
    timestamp: Option<i64>,
    retry_after: Option<u64>,
) -> Decision<'a> {
    let body = if status == 410 {
        let ts = timestamp.unwrap_or_else(|| {
            i64::try_from(unix_ms(std::time::SystemTime::now())).unwrap_or(i64::MAX)
        });
        serde_json::json!({ "reason": reason, "timestamp": ts })
    } else {
        serde_json::json!({ "reason": reason })
    };
    let reply = Reply::Response {
        status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        headers: json_headers(apns_id, retry_after),
        body: Bytes::from(body.to_string()),
    };
    Decision::reply(reply, reason)
}

fn refuse<'a>(r: Reject, apns_id: HeaderValue) -> Decision<'a> {
    error(r.status, Cow::Borrowed(r.reason), apns_id, None, None)
}

/// The body of the 429, 500 and 503 the error-rate fault answers with.
fn fault_reason(status: u16) -> &'static str {
    match status {
        429 => "TooManyRequests",
        500 => "InternalServerError",
        _ => "ServiceUnavailable",
    }
}

impl H2Service for Apns {
    const SERVICE: Service = Service::Apns;
    type Conn = ApnsConn;

    fn shared(&self) -> &Shared {
        &self.shared
    }

    fn connection(&self, tls: &rustls::ServerConnection) -> ApnsConn {
        let identity = tls
            .peer_certificates()
            .and_then(|chain| chain.first())
            .and_then(|cert: &CertificateDer<'_>| CertIdentity::from_der(cert));
        match identity {
            Some(identity) => ApnsConn::Certificate(identity),
            None => ApnsConn::Token(TokenAuth::default()),
        }
    }

    fn decide<'a>(
        &self,
        conn: &ApnsConn,
        parts: &'a Parts,
        body: &'a Bytes,
        fault: Option<u16>,
    ) -> Decision<'a> {
        let given_id = parts
            .headers
            .get(&APNS_ID)
            .filter(|v| validate::is_uuid(v.as_bytes()));
        let apns_id = || given_id.cloned().unwrap_or_else(new_apns_id);
        if let Some(status) = fault {
            let retry_after = self.shared.faults.retry_after();
            let reason = Cow::Borrowed(fault_reason(status));
            return error(status, reason, apns_id(), None, retry_after);
        }
        let cert = match conn {
            ApnsConn::Certificate(identity) => Some(identity),
            ApnsConn::Token(_) => None,
        };
        let checked = match validate::check(parts, cert.is_some()) {
            Ok(checked) => checked,
            Err(r) => return refuse(r, apns_id()),
        };
        let topic_ok = match conn {
            ApnsConn::Certificate(identity) => {
                // Pushy answers a topic outside the certificate's with BadTopic.
                if checked.topic.is_some_and(|t| !identity.allows(t)) {
                    return refuse(reject(400, "BadTopic"), apns_id());
                }
                true
            }
            ApnsConn::Token(auth) => {
                let header = parts.headers.get(http::header::AUTHORIZATION);
                match auth.check(header, &self.shared, now_secs()) {
                    Ok(key) => {
                        let topic = checked.topic.unwrap_or_default();
                        key.topics.is_empty() || key.topics.iter().any(|t| t == topic)
                    }
                    Err(r) => return refuse(r, apns_id()),
                }
            }
        };
        if !topic_ok {
            return refuse(reject(400, "TopicDisallowed"), apns_id());
        }
        if body.is_empty() {
            return refuse(reject(400, "PayloadEmpty"), apns_id());
        }
        if body.len() > payload_limit(checked.push_type.unwrap_or("alert")) {
            return refuse(reject(413, "PayloadTooLarge"), apns_id());
        }
        let scripted = self.shared.rules.answer(Service::Apns, checked.token);
        let success = || Decision {
            deliver_to: Some(Cow::Borrowed(checked.token)),
            ..Decision::reply(ok(apns_id()), "")
        };
        match scripted {
            None => success(),
            Some(Answer::Delay { delay, then }) => {
                let after = match then {
                    Some(then) => scripted_answer(*then, apns_id).unwrap_or_else(success),
                    None => success(),
                };
                Decision {
                    delay: Some(delay),
                    ..after
                }
            }
            Some(answer) => scripted_answer(answer, apns_id).unwrap_or_else(success),
        }
    }
}

/// The 200: HEADERS with END_STREAM and `apns-id`.
fn ok(apns_id: HeaderValue) -> Reply {
    let mut headers = HeaderMap::with_capacity(1);
    headers.insert(APNS_ID.clone(), apns_id);
    Reply::Response {
        status: StatusCode::OK,
        headers,
        body: Bytes::new(),
    }
}

/// A scripted answer; `None` for [`Answer::Accept`] (the normal answer).
fn scripted_answer<'a>(answer: Answer, apns_id: impl Fn() -> HeaderValue) -> Option<Decision<'a>> {
    Some(match answer {
        Answer::Accept | Answer::Delay { .. } => return None,
        Answer::ApnsError {
            status,
            reason,
            timestamp,
            retry_after_secs,
        } => error(
            status,
            Cow::Owned(reason),
            apns_id(),
            timestamp,
            retry_after_secs,
        ),
        Answer::Raw {
            status,
            body,
            content_type,
            headers,
        } => {
            let mut map = crate::h2serve::raw_headers(content_type.as_deref(), &headers);
            map.insert(APNS_ID.clone(), apns_id());
            let reply = Reply::Response {
                status: StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
                headers: map,
                body: Bytes::from(body),
            };
            Decision::reply(reply, "raw")
        }
        Answer::Reset { code } => Decision::reply(Reply::Reset(code.reason()), ""),
        Answer::Goaway => Decision::reply(Reply::GoAway, ""),
        Answer::NoAnswer => Decision::reply(Reply::Hold, ""),
        // Not valid for APNs rules: refused when the rule is added.
        Answer::FcmError { .. } | Answer::FcmStatus { .. } | Answer::OauthError { .. } => {
            return None;
        }
    })
}
