//! APNs request validation: headers and path, in the order of protocols.md §1.5.
//!
//! The order is Pushy's (the reference mock) with three additions Apple documents but
//! Pushy does not check: repeated headers (DuplicateHeaders, checked first), a
//! `background` push with a priority other than 5 (BadPriority), and a non-numeric
//! `apns-expiration` (BadExpirationDate).

use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method};

/// A refused request: status and reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reject {
    pub status: u16,
    pub reason: &'static str,
}

pub(crate) const fn reject(status: u16, reason: &'static str) -> Reject {
    Reject { status, reason }
}

/// Push types Apple accepts in `apns-push-type`.
const PUSH_TYPES: [&str; 11] = [
    "alert",
    "background",
    "complication",
    "controls",
    "fileprovider",
    "liveactivity",
    "location",
    "mdm",
    "pushtotalk",
    "voip",
    "widgets",
];

const PATH_PREFIX: &str = "/3/device/";

/// What the header checks found, for the later steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Checked<'a> {
    /// The device token from the path.
    pub token: &'a str,
    /// `apns-topic`, if given.
    pub topic: Option<&'a str>,
    /// `apns-push-type`, if given.
    pub push_type: Option<&'a str>,
}

/// Whether `value` is a UUID in the 8-4-4-4-12 form.
pub(crate) fn is_uuid(value: &[u8]) -> bool {
    value.len() == 36
        && value.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// The APNs headers of a request, gathered in one pass over the header map (the hot
/// path: no per-name hashing).
#[derive(Default)]
struct Headers<'a> {
    id: Option<&'a HeaderValue>,
    topic: Option<&'a HeaderValue>,
    push_type: Option<&'a HeaderValue>,
    priority: Option<&'a HeaderValue>,
    expiration: Option<&'a HeaderValue>,
    collapse_id: Option<&'a HeaderValue>,
    duplicate: bool,
}

impl<'a> Headers<'a> {
    fn gather(map: &'a HeaderMap) -> Self {
        let mut h = Self::default();
        let mut authorization = false;
        for (name, value) in map {
            let slot = match name.as_str() {
                "apns-id" => &mut h.id,
                "apns-topic" => &mut h.topic,
                "apns-push-type" => &mut h.push_type,
                "apns-priority" => &mut h.priority,
                "apns-expiration" => &mut h.expiration,
                "apns-collapse-id" => &mut h.collapse_id,
                "authorization" => {
                    h.duplicate |= authorization;
                    authorization = true;
                    continue;
                }
                _ => continue,
            };
            h.duplicate |= slot.is_some();
            *slot = Some(value);
        }
        h
    }
}

fn text(value: Option<&HeaderValue>) -> Option<Result<&str, ()>> {
    value.map(|v| v.to_str().map_err(|_| ()))
}

/// Checks the headers and the path. `cert_auth`: the connection is authenticated by a
/// client certificate, whose bundle id is then the default topic.
pub(crate) fn check(parts: &Parts, cert_auth: bool) -> Result<Checked<'_>, Reject> {
    let h = Headers::gather(&parts.headers);
    if h.duplicate {
        return Err(reject(400, "DuplicateHeaders"));
    }
    if h.id.is_some_and(|id| !is_uuid(id.as_bytes())) {
        return Err(reject(400, "BadMessageId"));
    }
    if parts.method != Method::POST {
        return Err(reject(405, "MethodNotAllowed"));
    }
    let topic = match text(h.topic) {
        None if cert_auth => None,
        None | Some(Ok("")) => return Err(reject(400, "MissingTopic")),
        Some(Err(())) => return Err(reject(400, "BadTopic")),
        Some(Ok(topic)) => Some(topic),
    };
    if h.collapse_id
        .is_some_and(|v| v.len() > pushgate_outcome::apns::COLLAPSE_ID_LIMIT)
    {
        return Err(reject(400, "BadCollapseId"));
    }
    let priority = match text(h.priority) {
        None => "10",
        Some(Ok(p @ ("10" | "5" | "1"))) => p,
        Some(_) => return Err(reject(400, "BadPriority")),
    };
    let push_type = match text(h.push_type) {
        None => None,
        Some(Ok(t)) if PUSH_TYPES.contains(&t) => Some(t),
        Some(_) => return Err(reject(400, "InvalidPushType")),
    };
    if push_type == Some("background") && priority != "5" {
        return Err(reject(400, "BadPriority"));
    }
    if let Some(expiration) = text(h.expiration)
        && !expiration.is_ok_and(|e| !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(reject(400, "BadExpirationDate"));
    }
    let path = parts.uri.path();
    let token = match path.strip_prefix(PATH_PREFIX) {
        Some("") => return Err(reject(400, "MissingDeviceToken")),
        Some(token) => token,
        None if path == "/3/device" => return Err(reject(400, "MissingDeviceToken")),
        None => return Err(reject(404, "BadPath")),
    };
    if !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(reject(400, "BadDeviceToken"));
    }
    Ok(Checked {
        token,
        topic,
        push_type,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(method: &str, path: &str, headers: &[(&str, &str)]) -> Parts {
        let mut builder = http::Request::builder().method(method).uri(path);
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        builder.body(()).unwrap().into_parts().0
    }

    const OK: [(&str, &str); 1] = [("apns-topic", "com.example.app")];

    #[test]
    fn a_good_request_passes() {
        let p = parts("POST", "/3/device/abcDEF0123", &OK);
        let checked = check(&p, false).unwrap();
        assert_eq!(checked.token, "abcDEF0123");
        assert_eq!(checked.topic, Some("com.example.app"));
    }

    #[test]
    fn each_rule_gives_its_reason_in_order() {
        let topic = ("apns-topic", "t");
        let cases: Vec<(Parts, &str)> = vec![
            (
                parts("POST", "/3/device/ab", &[topic, topic]),
                "DuplicateHeaders",
            ),
            (
                parts("GET", "/3/device/zz", &[("apns-id", "nope")]),
                "BadMessageId",
            ),
            (parts("GET", "/3/device/ab", &[topic]), "MethodNotAllowed"),
            (parts("POST", "/3/device/zz", &[]), "MissingTopic"),
            (
                parts(
                    "POST",
                    "/3/device/zz",
                    &[topic, ("apns-collapse-id", &"x".repeat(65))],
                ),
                "BadCollapseId",
            ),
            (
                parts("POST", "/3/device/zz", &[topic, ("apns-priority", "7")]),
                "BadPriority",
            ),
            (
                parts("POST", "/3/device/zz", &[topic, ("apns-push-type", "fax")]),
                "InvalidPushType",
            ),
            (
                parts(
                    "POST",
                    "/3/device/zz",
                    &[topic, ("apns-push-type", "background")],
                ),
                "BadPriority",
            ),
            (
                parts(
                    "POST",
                    "/3/device/zz",
                    &[topic, ("apns-expiration", "soon")],
                ),
                "BadExpirationDate",
            ),
            (parts("POST", "/3/device/", &[topic]), "MissingDeviceToken"),
            (parts("POST", "/3/device/zz", &[topic]), "BadDeviceToken"),
            (parts("POST", "/4/device/ab", &[topic]), "BadPath"),
        ];
        for (p, reason) in cases {
            assert_eq!(check(&p, false).unwrap_err().reason, reason, "{p:?}");
        }
    }

    #[test]
    fn certificate_connections_may_omit_the_topic() {
        let p = parts(
            "POST",
            "/3/device/ab",
            &[("apns-push-type", "background"), ("apns-priority", "5")],
        );
        assert_eq!(check(&p, true).unwrap().topic, None);
        assert!(is_uuid(b"123e4567-e89b-12d3-a456-426614174000"));
        assert!(!is_uuid(b"123e4567e89b12d3a456426614174000"));
    }
}
