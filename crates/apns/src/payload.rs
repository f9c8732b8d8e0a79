//! [`Payload`]: a small builder for the APNs JSON payload (`aps` plus custom keys).
//!
//! The dispatcher mostly passes payloads it serialised itself; this builder is for the
//! simple cases and for tests. It refuses a payload with neither an alert nor
//! `content-available` ([`ContentFormatError`], which lands on `apns.content_format`).

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::result::SendResult;

/// A notification payload under construction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Payload {
    aps: Map<String, Value>,
    custom: Map<String, Value>,
}

/// Why a payload cannot be built; [`ContentFormatError::into_result`] classifies it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ContentFormatError(pub String);

impl ContentFormatError {
    /// The `apns.content_format` result for this error (no network involved).
    pub fn into_result(self) -> SendResult {
        SendResult::content_format(&self.0)
    }
}

impl Payload {
    /// An alert with a title and a body.
    pub fn alert(title: impl Into<String>, body: impl Into<String>) -> Self {
        let mut alert = Map::new();
        alert.insert("title".into(), Value::String(title.into()));
        alert.insert("body".into(), Value::String(body.into()));
        let mut payload = Self::default();
        payload.aps.insert("alert".into(), Value::Object(alert));
        payload
    }

    /// A background update: `content-available: 1`, no alert.
    pub fn background() -> Self {
        let mut payload = Self::default();
        payload
            .aps
            .insert("content-available".into(), Value::from(1));
        payload
    }

    /// Sets `aps.badge`.
    pub fn badge(mut self, badge: u32) -> Self {
        self.aps.insert("badge".into(), Value::from(badge));
        self
    }

    /// Sets `aps.sound`.
    pub fn sound(mut self, sound: impl Into<String>) -> Self {
        self.aps.insert("sound".into(), Value::String(sound.into()));
        self
    }

    /// Sets `aps.thread-id` (grouping in Notification Center).
    pub fn thread_id(mut self, id: impl Into<String>) -> Self {
        self.aps
            .insert("thread-id".into(), Value::String(id.into()));
        self
    }

    /// Sets `aps.category`.
    pub fn category(mut self, category: impl Into<String>) -> Self {
        self.aps
            .insert("category".into(), Value::String(category.into()));
        self
    }

    /// Sets `aps.mutable-content: 1` (a service extension may change the alert).
    pub fn mutable_content(mut self) -> Self {
        self.aps.insert("mutable-content".into(), Value::from(1));
        self
    }

    /// Sets `aps.content-available: 1` next to an alert.
    pub fn content_available(mut self) -> Self {
        self.aps.insert("content-available".into(), Value::from(1));
        self
    }

    /// Adds a custom top-level key (anything but `aps`).
    pub fn custom(mut self, key: impl Into<String>, value: Value) -> Self {
        self.custom.insert(key.into(), value);
        self
    }

    /// The serialised payload.
    pub fn build(&self) -> Result<Bytes, ContentFormatError> {
        if !self.aps.contains_key("alert") && !self.aps.contains_key("content-available") {
            return Err(ContentFormatError(
                "payload has neither an alert nor content-available".into(),
            ));
        }
        if self.custom.contains_key("aps") {
            return Err(ContentFormatError(
                "custom key `aps` would replace the aps dictionary".into(),
            ));
        }
        let mut top = self.custom.clone();
        top.insert("aps".into(), Value::Object(self.aps.clone()));
        serde_json::to_vec(&Value::Object(top))
            .map(Bytes::from)
            .map_err(|e| ContentFormatError(format!("payload cannot be serialised: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alerts_and_background_payloads_serialise() {
        let bytes = Payload::alert("Hi", "there")
            .badge(3)
            .custom("k", Value::from("v"))
            .build()
            .unwrap();
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["aps"]["alert"]["title"], "Hi");
        assert_eq!(v["aps"]["badge"], 3);
        assert_eq!(v["k"], "v");
        let bg: Value = serde_json::from_slice(&Payload::background().build().unwrap()).unwrap();
        assert_eq!(bg["aps"]["content-available"], 1);
    }

    #[test]
    fn a_payload_without_alert_or_content_available_is_content_format() {
        let err = Payload::default().sound("x").build().unwrap_err();
        let result = err.into_result();
        let id = result.classification.id().map(|id| id.to_string());
        assert_eq!(id.as_deref(), Some("apns.content_format"));
        assert_eq!(result.attempts, 0);
    }
}
