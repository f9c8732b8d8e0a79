//! FCM v1 request-body validation (protocols.md §2.1), with Google's error wording.
//!
//! The body is checked against a schema of the v1 discovery document: unknown names are
//! refused as Google refuses them (`Invalid JSON payload received. Unknown name "x" at
//! 'message': Cannot find field.`), field names are accepted in snake_case and
//! camelCase, and the `apns` and `webpush` blocks are passed through (they must be JSON
//! objects).

use std::borrow::Cow;

use pushgate_outcome::fcm::{MESSAGE_LIMIT, TOPIC_MESSAGE_LIMIT, is_reserved_data_key};
use serde_json::{Map, Value};

/// Longest `android.ttl`: four weeks, in seconds.
const MAX_TTL_SECS: f64 = 2_419_200.0;

/// A refused body: the message, and the offending field for a BadRequest detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invalid {
    pub message: String,
    pub field: Option<String>,
}

fn invalid(message: impl Into<String>, field: Option<&str>) -> Invalid {
    Invalid {
        message: message.into(),
        field: field.map(str::to_owned),
    }
}

/// Who a message goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    Token(String),
    Topic(String),
    Condition(String),
}

impl Target {
    /// The key scripted rules match on.
    pub(crate) fn key(&self) -> &str {
        match self {
            Self::Token(k) | Self::Topic(k) | Self::Condition(k) => k,
        }
    }
}

/// A valid send request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Valid {
    pub validate_only: bool,
    pub target: Target,
}

/// What a field holds.
#[derive(Clone, Copy)]
enum Kind {
    Str,
    Bool,
    Int,
    StrList,
    /// `data`: string values, no reserved keys.
    Data,
    /// Any JSON object, not looked into (`apns`, `webpush`, light settings).
    AnyObject,
    /// Anything (enums and timestamps we do not check).
    Any,
    /// `android.priority`: NORMAL or HIGH.
    Priority,
    /// `android.ttl`: a duration string, 0 to 4 weeks.
    Ttl,
    Object(&'static [(&'static str, Kind)]),
}

const NOTIFICATION: &[(&str, Kind)] = &[
    ("title", Kind::Str),
    ("body", Kind::Str),
    ("image", Kind::Str),
];
const FCM_OPTIONS: &[(&str, Kind)] = &[("analyticsLabel", Kind::Str)];
const ANDROID_NOTIFICATION: &[(&str, Kind)] = &[
    ("title", Kind::Str),
    ("body", Kind::Str),
    ("icon", Kind::Str),
    ("color", Kind::Str),
    ("sound", Kind::Str),
    ("tag", Kind::Str),
    ("clickAction", Kind::Str),
    ("bodyLocKey", Kind::Str),
    ("bodyLocArgs", Kind::StrList),
    ("titleLocKey", Kind::Str),
    ("titleLocArgs", Kind::StrList),
    ("channelId", Kind::Str),
    ("ticker", Kind::Str),
    ("sticky", Kind::Bool),
    ("eventTime", Kind::Any),
    ("localOnly", Kind::Bool),
    ("notificationPriority", Kind::Any),
    ("defaultSound", Kind::Bool),
    ("defaultVibrateTimings", Kind::Bool),
    ("defaultLightSettings", Kind::Bool),
    ("vibrateTimings", Kind::StrList),
    ("visibility", Kind::Any),
    ("notificationCount", Kind::Int),
    ("lightSettings", Kind::AnyObject),
    ("image", Kind::Str),
    ("bypassProxyNotification", Kind::Bool),
    ("proxy", Kind::Any),
];
const ANDROID: &[(&str, Kind)] = &[
    ("collapseKey", Kind::Str),
    ("priority", Kind::Priority),
    ("ttl", Kind::Ttl),
    ("restrictedPackageName", Kind::Str),
    ("data", Kind::Data),
    ("notification", Kind::Object(ANDROID_NOTIFICATION)),
    ("fcmOptions", Kind::Object(FCM_OPTIONS)),
    ("directBootOk", Kind::Bool),
    ("restrictedSatelliteOk", Kind::Bool),
    ("bandwidthConstrainedOk", Kind::Bool),
];
const MESSAGE: &[(&str, Kind)] = &[
    ("name", Kind::Str),
    ("data", Kind::Data),
    ("notification", Kind::Object(NOTIFICATION)),
    ("android", Kind::Object(ANDROID)),
    ("webpush", Kind::AnyObject),
    ("apns", Kind::AnyObject),
    ("fcmOptions", Kind::Object(FCM_OPTIONS)),
    ("token", Kind::Str),
    ("topic", Kind::Str),
    ("condition", Kind::Str),
];
const REQUEST: &[(&str, Kind)] = &[
    ("validateOnly", Kind::Bool),
    ("message", Kind::Object(MESSAGE)),
];

/// `fcm_options` -> `fcmOptions`.
fn camel(name: &str) -> Cow<'_, str> {
    if !name.contains('_') {
        return Cow::Borrowed(name);
    }
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `fcmOptions` -> `fcm_options`, as Google's messages name fields.
fn snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        snake(name)
    } else {
        format!("{path}.{}", snake(name))
    }
}

fn type_error(path: &str, ty: &str, value: &Value) -> Invalid {
    invalid(
        format!("Invalid value at '{path}' ({ty}), {value}"),
        Some(path),
    )
}

fn check_object(
    object: &Map<String, Value>,
    fields: &[(&str, Kind)],
    path: &str,
) -> Result<(), Invalid> {
    let mut seen: Vec<Cow<'_, str>> = Vec::with_capacity(object.len());
    for (name, value) in object {
        let key = camel(name);
        let Some((_, kind)) = fields.iter().find(|(f, _)| *f == key) else {
            let at = if path.is_empty() {
                String::new()
            } else {
                format!(" at '{path}'")
            };
            let message = format!(
                "Invalid JSON payload received. Unknown name \"{name}\"{at}: Cannot find field."
            );
            return Err(invalid(message, Some(&join(path, name))));
        };
        if seen.contains(&key) {
            let field = join(path, &key);
            return Err(invalid(
                format!("Invalid JSON payload received. Duplicate field \"{field}\"."),
                Some(&field),
            ));
        }
        check_value(value, *kind, &join(path, &key))?;
        seen.push(key);
    }
    Ok(())
}

fn check_value(value: &Value, kind: Kind, path: &str) -> Result<(), Invalid> {
    if value.is_null() {
        return Ok(()); // proto3 JSON: null is the default value
    }
    match kind {
        Kind::Str if !value.is_string() => Err(type_error(path, "TYPE_STRING", value)),
        Kind::Bool if !value.is_boolean() => Err(type_error(path, "TYPE_BOOL", value)),
        Kind::Int if !(value.is_i64() || value.is_u64()) => {
            Err(type_error(path, "TYPE_INT32", value))
        }
        Kind::StrList => match value.as_array() {
            Some(items) if items.iter().all(Value::is_string) => Ok(()),
            _ => Err(type_error(path, "TYPE_STRING", value)),
        },
        Kind::Data => check_data(value, path),
        Kind::AnyObject if !value.is_object() => Err(type_error(path, "TYPE_MESSAGE", value)),
        Kind::Priority => match value.as_str() {
            Some(p) if p.eq_ignore_ascii_case("NORMAL") || p.eq_ignore_ascii_case("HIGH") => Ok(()),
            _ => Err(type_error(
                path,
                "type.googleapis.com/google.firebase.fcm.v1.AndroidMessagePriority",
                value,
            )),
        },
        Kind::Ttl => check_ttl(value, path),
        Kind::Object(fields) => match value.as_object() {
            Some(object) => check_object(object, fields, path),
            None => Err(type_error(path, "TYPE_MESSAGE", value)),
        },
        _ => Ok(()),
    }
}

fn check_data(value: &Value, path: &str) -> Result<(), Invalid> {
    let Some(map) = value.as_object() else {
        return Err(type_error(path, "TYPE_MESSAGE", value));
    };
    for (i, (key, v)) in map.iter().enumerate() {
        if !v.is_string() {
            return Err(type_error(&format!("{path}[{i}].value"), "TYPE_STRING", v));
        }
        if is_reserved_data_key(key) {
            return Err(invalid(
                format!("Invalid data payload key: {key}"),
                Some(&format!("{path}[{i}].key")),
            ));
        }
    }
    Ok(())
}

/// A protobuf Duration string: `"3.5s"`, at most nine fractional digits.
fn parse_duration(text: &str) -> Option<f64> {
    let number = text.strip_suffix('s')?;
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits = whole.strip_prefix('-').unwrap_or(whole);
    let ok = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && fraction.len() <= 9
        && fraction.bytes().all(|b| b.is_ascii_digit())
        && !(number.contains('.') && fraction.is_empty());
    ok.then(|| number.parse().ok()).flatten()
}

fn check_ttl(value: &Value, path: &str) -> Result<(), Invalid> {
    let ty = "type.googleapis.com/google.protobuf.Duration";
    let secs = value
        .as_str()
        .and_then(parse_duration)
        .ok_or_else(|| type_error(path, ty, value))?;
    if !(0.0..=MAX_TTL_SECS).contains(&secs) {
        return Err(invalid(
            format!(
                "The value of '{path}' must be between 0 and 2419200 seconds (4 weeks): {value}"
            ),
            Some(path),
        ));
    }
    Ok(())
}

fn bad_token(token: &str) -> bool {
    token.is_empty()
        || token
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control() || b == b'"')
}

fn bad_topic(topic: &str) -> bool {
    let name = topic.strip_prefix("/topics/").unwrap_or(topic);
    name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'%'))
}

/// Validates a `messages:send` body.
pub(crate) fn check(body: &[u8]) -> Result<Valid, Invalid> {
    let request: Value = serde_json::from_slice(body).map_err(|e| {
        invalid(
            format!("Invalid JSON payload received. Unexpected token. ({e})"),
            None,
        )
    })?;
    let Some(object) = request.as_object() else {
        return Err(invalid(
            format!("Invalid JSON payload received. Expected an object, got {request}."),
            None,
        ));
    };
    check_object(object, REQUEST, "")?;
    let field = |name: &str| {
        object
            .get(name)
            .or_else(|| object.get(&snake(name)))
            .filter(|v| !v.is_null())
    };
    let validate_only = field("validateOnly")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let message = field("message")
        .and_then(Value::as_object)
        .ok_or_else(|| invalid("Request contains an invalid argument.", Some("message")))?;
    let get = |name: &str| message.get(name).and_then(Value::as_str);
    let targets: Vec<&str> = ["token", "topic", "condition"]
        .into_iter()
        .filter(|t| message.get(*t).is_some_and(|v| !v.is_null()))
        .collect();
    let target = match targets.as_slice() {
        [] => {
            return Err(invalid(
                "Recipient of the message is not set.",
                Some("message"),
            ));
        }
        [_, second, ..] => {
            let text = format!(
                "Invalid value at 'message' (oneof), oneof field 'target' is already set. Cannot set '{second}'"
            );
            return Err(invalid(text, Some("message")));
        }
        ["token"] => {
            let token = get("token").unwrap_or_default();
            if bad_token(token) {
                return Err(invalid(
                    "The registration token is not a valid FCM registration token",
                    Some("message.token"),
                ));
            }
            Target::Token(token.to_owned())
        }
        ["topic"] => {
            let topic = get("topic").unwrap_or_default();
            if bad_topic(topic) {
                return Err(invalid(
                    format!("Invalid topic name: {topic:?}"),
                    Some("message.topic"),
                ));
            }
            Target::Topic(topic.to_owned())
        }
        _ => {
            let condition = get("condition").unwrap_or_default();
            if condition.trim().is_empty() {
                return Err(invalid(
                    "Invalid condition expression provided.",
                    Some("message.condition"),
                ));
            }
            Target::Condition(condition.to_owned())
        }
    };
    let limit = match target {
        Target::Topic(_) => TOPIC_MESSAGE_LIMIT,
        _ => MESSAGE_LIMIT,
    };
    let size = serde_json::to_vec(message).map_or(usize::MAX, |v| v.len());
    if size > limit {
        return Err(invalid(
            format!("Message is too big: {size} bytes, the limit is {limit}."),
            Some("message"),
        ));
    }
    Ok(Valid {
        validate_only,
        target,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(body: &str) -> String {
        check(body.as_bytes()).unwrap_err().message
    }

    #[test]
    fn both_spellings_are_accepted() {
        let body = r#"{"validate_only":true,"message":{"token":"t1","fcm_options":{"analytics_label":"x"},
            "android":{"collapse_key":"c","priority":"high","ttl":"3.5s","notification":{"channel_id":"c","clickAction":"a"}},
            "apns":{"headers":{"apns-priority":"10"},"payload":{"aps":{}}},"webpush":{"anything":1},
            "data":{"k":"v"},"notification":{"title":"t","body":"b"}}}"#;
        let valid = check(body.as_bytes()).unwrap();
        assert!(valid.validate_only);
        assert_eq!(valid.target, Target::Token("t1".into()));
        let camel = r#"{"validateOnly":false,"message":{"topic":"news","fcmOptions":{"analyticsLabel":"x"}}}"#;
        assert_eq!(
            check(camel.as_bytes()).unwrap().target,
            Target::Topic("news".into())
        );
    }

    #[test]
    fn each_rule_has_its_message() {
        assert_eq!(
            err(r#"{"message":{"token":"t","bogus":1}}"#),
            "Invalid JSON payload received. Unknown name \"bogus\" at 'message': Cannot find field."
        );
        assert_eq!(
            err(r#"{"message":{"token":"t","android":{"notification":{"priority":"x"}}}}"#),
            "Invalid JSON payload received. Unknown name \"priority\" at 'message.android.notification': Cannot find field."
        );
        assert_eq!(
            err(r#"{"x":1}"#),
            "Invalid JSON payload received. Unknown name \"x\": Cannot find field."
        );
        assert_eq!(
            err(r#"{"message":{}}"#),
            "Recipient of the message is not set."
        );
        assert!(
            err(r#"{"message":{"token":"t","topic":"x"}}"#)
                .contains("oneof field 'target' is already set")
        );
        assert_eq!(
            err(r#"{"message":{"token":"t","data":{"n":1}}}"#),
            "Invalid value at 'message.data[0].value' (TYPE_STRING), 1"
        );
        assert_eq!(
            err(r#"{"message":{"token":"t","data":{"google.x":"1"}}}"#),
            "Invalid data payload key: google.x"
        );
        assert!(
            err(r#"{"message":{"token":"t","android":{"data":{"from":"x"}}}}"#).contains("from")
        );
        assert!(
            err(r#"{"message":{"token":"t","android":{"ttl":"3.5"}}}"#)
                .contains("google.protobuf.Duration")
        );
        assert!(
            err(r#"{"message":{"token":"t","android":{"ttl":"2419201s"}}}"#)
                .contains("between 0 and 2419200")
        );
        assert!(
            err(r#"{"message":{"token":"t","android":{"priority":"urgent"}}}"#)
                .contains("AndroidMessagePriority")
        );
        assert!(err(r#"{"message":{"token":"t","apns":"x"}}"#).contains("'message.apns'"));
        assert!(
            err(r#"{"message":{"token":"t","fcm_options":{},"fcmOptions":{}}}"#)
                .contains("Duplicate field")
        );
        assert!(err(r#"{"message":{"token":""}}"#).contains("not a valid FCM registration token"));
        assert!(err("not json").starts_with("Invalid JSON payload received."));
    }

    #[test]
    fn size_limits_depend_on_the_target() {
        let fill = |target: &str, n: usize| {
            format!(
                r#"{{"message":{{{target},"data":{{"k":"{}"}}}}}}"#,
                "x".repeat(n)
            )
        };
        // {"data":{"k":""},"token":"t"} is 29 bytes.
        assert!(check(fill(r#""token":"t""#, 4096 - 29).as_bytes()).is_ok());
        assert!(err(&fill(r#""token":"t""#, 4097 - 29)).contains("too big"));
        assert!(check(fill(r#""topic":"t""#, 2048 - 29).as_bytes()).is_ok());
        assert!(err(&fill(r#""topic":"t""#, 2049 - 29)).contains("too big"));
    }

    #[test]
    fn durations_follow_protobuf() {
        assert_eq!(parse_duration("3.5s"), Some(3.5));
        assert_eq!(parse_duration("0s"), Some(0.0));
        assert_eq!(parse_duration("3.s"), None);
        assert_eq!(parse_duration("3"), None);
        assert_eq!(parse_duration("1.0000000001s"), None);
    }
}
