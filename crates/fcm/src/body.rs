//! The request body, built once per message, and the checks made before sending.
//!
//! The content (shared by every token of a delivery) is serialized once into a
//! [`PreparedContent`]; a message's body is then that fragment with the token spliced in:
//! `{"validate_only":false,"message":{"token":"…",<content>}}`. The message (the
//! `message` object, as FCM measures it) must fit in [`MESSAGE_LIMIT`] bytes, and its
//! `data` must not use reserved keys; both are found here without touching the network.

use bytes::Bytes;
use pushgate_outcome::fcm::MESSAGE_LIMIT;

use crate::message::MessageContent;

/// A content serialized once: its fields without the surrounding braces, and its
/// reserved data keys.
#[derive(Debug, Clone)]
pub(crate) struct PreparedContent {
    /// `"notification":{…},"data":{…}` (empty for an empty content).
    fields: Vec<u8>,
    /// Reserved data keys, sorted (empty when the content is fine).
    reserved: Vec<String>,
}

/// Why a message is refused before sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PreCheck {
    /// `data` uses these reserved keys.
    IllegalKeywords(Vec<String>),
    /// The message is `size` bytes, over the limit.
    PayloadTooLarge {
        /// The `message` object's size in bytes.
        size: usize,
    },
}

impl PreparedContent {
    /// Serializes `content` once.
    pub fn new(content: &MessageContent) -> Self {
        // Serializing plain data with string keys cannot fail; an empty object is the
        // safe fallback.
        let json = serde_json::to_vec(content).unwrap_or_else(|_| b"{}".to_vec());
        let fields = json
            .get(1..json.len().saturating_sub(1))
            .map(<[u8]>::to_vec)
            .unwrap_or_default();
        Self {
            fields,
            reserved: content.reserved_keys(),
        }
    }

    /// The request body for `token`, or why it must not be sent.
    pub fn body(&self, token: &str, validate_only: bool) -> Result<Bytes, PreCheck> {
        if !self.reserved.is_empty() {
            return Err(PreCheck::IllegalKeywords(self.reserved.clone()));
        }
        const HEAD_TRUE: &[u8] = br#"{"validate_only":true,"message":"#;
        const HEAD_FALSE: &[u8] = br#"{"validate_only":false,"message":"#;
        let head = if validate_only { HEAD_TRUE } else { HEAD_FALSE };
        let mut out = Vec::with_capacity(head.len() + token.len() + self.fields.len() + 16);
        out.extend_from_slice(head);
        let start = out.len();
        out.extend_from_slice(br#"{"token":"#);
        push_json_string(&mut out, token);
        if !self.fields.is_empty() {
            out.push(b',');
            out.extend_from_slice(&self.fields);
        }
        out.push(b'}');
        let size = out.len() - start;
        if size > MESSAGE_LIMIT {
            return Err(PreCheck::PayloadTooLarge { size });
        }
        out.push(b'}');
        Ok(Bytes::from(out))
    }
}

/// Appends `text` as a JSON string. Registration tokens need no escaping (letters,
/// digits, `-`, `_`, `:`), so they are copied as they are; anything else goes through
/// serde_json.
fn push_json_string(out: &mut Vec<u8>, text: &str) {
    let plain = text
        .bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\');
    if plain {
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    } else {
        // A string always serializes.
        let _ = serde_json::to_writer(out, text);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::{Value, json};

    use super::*;

    #[test]
    fn splices_the_token_into_the_serialized_content() {
        let content = MessageContent::from_json(json!({
            "notification": {"title": "Hi"},
            "data": {"k": "v"}
        }))
        .unwrap();
        let body = PreparedContent::new(&content)
            .body("tok\"en", true)
            .unwrap();
        let value: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            value,
            json!({"validate_only": true, "message": {"token": "tok\"en",
                   "notification": {"title": "Hi"}, "data": {"k": "v"}}})
        );
        let empty = PreparedContent::new(&MessageContent::default());
        let value: Value = serde_json::from_slice(&empty.body("t", false).unwrap()).unwrap();
        assert_eq!(
            value,
            json!({"validate_only": false, "message": {"token": "t"}})
        );
    }

    #[test]
    fn escapes_what_json_needs_escaped() {
        for token in [
            "plain:APA91b-x_y",
            "quote\"back\\slash",
            "tab\tnew\nline",
            "é\u{1}",
        ] {
            let mut out = Vec::new();
            push_json_string(&mut out, token);
            let back: String = serde_json::from_slice(&out).unwrap();
            assert_eq!(back, token);
        }
    }

    #[test]
    fn refuses_reserved_keys_and_heavy_messages_before_sending() {
        let content = MessageContent {
            data: BTreeMap::from([("gcm.x".to_owned(), "v".to_owned())]),
            ..MessageContent::default()
        };
        let err = PreparedContent::new(&content).body("t", false).unwrap_err();
        assert_eq!(err, PreCheck::IllegalKeywords(vec!["gcm.x".into()]));

        let mut content = MessageContent::default();
        content.data.insert("k".into(), "x".repeat(MESSAGE_LIMIT));
        let err = PreparedContent::new(&content).body("t", false).unwrap_err();
        assert!(matches!(err, PreCheck::PayloadTooLarge { size } if size > MESSAGE_LIMIT));
    }

    #[test]
    fn the_limit_is_on_the_message_object() {
        let overhead = br#"{"token":"t","data":{"k":""}}"#.len();
        let mut content = MessageContent::default();
        content
            .data
            .insert("k".into(), "x".repeat(MESSAGE_LIMIT - overhead));
        assert!(PreparedContent::new(&content).body("t", false).is_ok());
        content
            .data
            .insert("k".into(), "x".repeat(MESSAGE_LIMIT - overhead + 1));
        let err = PreparedContent::new(&content).body("t", false).unwrap_err();
        assert_eq!(
            err,
            PreCheck::PayloadTooLarge {
                size: MESSAGE_LIMIT + 1
            }
        );
    }
}
