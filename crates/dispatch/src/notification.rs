//! The notification a delivery carries, as the API receives it (one shape for both
//! platforms), and how it becomes an APNs payload or an FCM message.

use std::collections::BTreeMap;

use pushgate_outcome::{apns, fcm};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// How urgent a notification is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// Deliver now (APNs priority 10, FCM HIGH).
    #[default]
    High,
    /// Deliver when convenient for the device (APNs priority 5, FCM NORMAL).
    Normal,
}

/// A notification, for either platform.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notification {
    /// The title shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The text shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// An image URL (FCM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Custom key/value data for the app (string values).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
    /// The app icon's badge number (iOS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub badge: Option<u32>,
    /// The sound to play (`default`, or a sound file name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sound: Option<String>,
    /// A silent background update (iOS `content-available`; push type `background`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub content_available: bool,
    /// Let the app's notification service extension change the content (iOS).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mutable_content: bool,
    /// The notification category (iOS) or click action (Android).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Groups notifications on the device (iOS `thread-id`, Android `tag`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
    /// Newer notifications with the same id replace older ones (APNs `apns-collapse-id`,
    /// FCM `collapse_key`); at most 64 bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collapse_id: Option<String>,
    /// How urgent it is.
    #[serde(default)]
    pub priority: Priority,
    /// The Android notification channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<String>,
}

/// What kind of problem a notification has, for the outcome row it lands on when it is
/// found before sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// It cannot be built as the provider wants it (`apns.content_format`).
    Content,
    /// It is over the provider's size limit (`*.payload_too_large`).
    TooLarge {
        /// Its size in bytes.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Its data uses keys FCM reserves (`fcm.illegal_keyword`).
    ReservedKeys(Vec<String>),
}

/// Something wrong with a notification, and the field it concerns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct NotificationError {
    /// The field (dotted path), e.g. `notification.data.from`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
    /// The kind of problem.
    pub problem: Problem,
}

impl NotificationError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
            problem: Problem::Content,
        }
    }

    fn with(mut self, problem: Problem) -> Self {
        self.problem = problem;
        self
    }
}

/// Keys of the APNs payload that `data` cannot use (the payload's own dictionary).
const APNS_RESERVED_DATA_KEYS: [&str; 1] = ["aps"];

impl Notification {
    /// Whether it shows something (a title or a body).
    pub fn has_alert(&self) -> bool {
        self.title.is_some() || self.body.is_some()
    }

    /// The APNs push type it needs: `background` for a silent update, `alert` otherwise.
    pub fn apns_push_type(&self) -> &'static str {
        if self.content_available && !self.has_alert() {
            "background"
        } else {
            "alert"
        }
    }

    /// The `apns-priority` header: a background push must use 5.
    pub fn apns_priority(&self) -> u8 {
        match (self.apns_push_type(), self.priority) {
            ("background", _) | (_, Priority::Normal) => 5,
            (_, Priority::High) => 10,
        }
    }

    /// Checks what both platforms need: something to deliver, a short collapse id.
    fn validate_common(&self) -> Result<(), NotificationError> {
        if !self.has_alert() && !self.content_available && self.data.is_empty() {
            return Err(NotificationError::new(
                "notification",
                "needs a title, a body, data, or content_available",
            ));
        }
        if let Some(id) = &self.collapse_id
            && id.len() > apns::COLLAPSE_ID_LIMIT
        {
            return Err(NotificationError::new(
                "notification.collapse_id",
                format!(
                    "is {} bytes; at most {} are allowed",
                    id.len(),
                    apns::COLLAPSE_ID_LIMIT
                ),
            ));
        }
        Ok(())
    }

    /// The APNs payload (`{"aps": {...}, ...data}`), serialised, after checking that APNs
    /// would take it: an alert or `content_available`, no `aps` data key, at most 4096
    /// bytes.
    pub fn apns_payload(&self) -> Result<Vec<u8>, NotificationError> {
        self.validate_common()?;
        if !self.has_alert() && !self.content_available {
            return Err(NotificationError::new(
                "notification",
                "an iOS notification needs a title or body, or content_available",
            ));
        }
        let mut aps = Map::new();
        if self.has_alert() {
            let mut alert = Map::new();
            if let Some(title) = &self.title {
                alert.insert("title".into(), title.clone().into());
            }
            if let Some(body) = &self.body {
                alert.insert("body".into(), body.clone().into());
            }
            aps.insert("alert".into(), Value::Object(alert));
        }
        if let Some(badge) = self.badge {
            aps.insert("badge".into(), badge.into());
        }
        if let Some(sound) = &self.sound {
            aps.insert("sound".into(), sound.clone().into());
        }
        if self.content_available {
            aps.insert("content-available".into(), 1.into());
        }
        if self.mutable_content {
            aps.insert("mutable-content".into(), 1.into());
        }
        if let Some(category) = &self.category {
            aps.insert("category".into(), category.clone().into());
        }
        if let Some(thread) = &self.thread_id {
            aps.insert("thread-id".into(), thread.clone().into());
        }
        let mut payload = Map::new();
        payload.insert("aps".into(), Value::Object(aps));
        for (key, value) in &self.data {
            if APNS_RESERVED_DATA_KEYS.contains(&key.as_str()) {
                return Err(NotificationError::new(
                    format!("notification.data.{key}"),
                    "is the APNs payload's own key",
                ));
            }
            payload.insert(key.clone(), value.clone().into());
        }
        let bytes = serde_json::to_vec(&Value::Object(payload)).map_err(|e| {
            NotificationError::new("notification", format!("cannot be serialised: {e}"))
        })?;
        let limit = apns::payload_limit(self.apns_push_type());
        if bytes.len() > limit {
            return Err(NotificationError::new(
                "notification",
                format!(
                    "the APNs payload is {} bytes; at most {limit} are allowed",
                    bytes.len()
                ),
            )
            .with(Problem::TooLarge {
                size: bytes.len(),
                limit,
            }));
        }
        Ok(bytes)
    }

    /// The FCM v1 `message` without its `token` (`notification`, `data`, `android`), after
    /// checking that FCM would take it: no reserved data key, at most 4096 bytes with a
    /// token of `token_len` bytes. `ttl_secs` is the time left in the validity period.
    pub fn fcm_message(&self, ttl_secs: u64, token_len: usize) -> Result<Value, NotificationError> {
        self.validate_common()?;
        let reserved: Vec<&str> = self
            .data
            .keys()
            .map(String::as_str)
            .filter(|key| fcm::is_reserved_data_key(key))
            .collect();
        if let Some(first) = reserved.first() {
            return Err(NotificationError::new(
                format!("notification.data.{first}"),
                format!(
                    "reserved by FCM (from, message_type, notification, google*, gcm*): {}",
                    reserved.join(", ")
                ),
            )
            .with(Problem::ReservedKeys(
                reserved.iter().map(|k| (*k).to_owned()).collect(),
            )));
        }
        let mut message = Map::new();
        if self.has_alert() || self.image.is_some() {
            let mut shown = Map::new();
            for (key, value) in [
                ("title", &self.title),
                ("body", &self.body),
                ("image", &self.image),
            ] {
                if let Some(value) = value {
                    shown.insert(key.into(), value.clone().into());
                }
            }
            message.insert("notification".into(), Value::Object(shown));
        }
        if !self.data.is_empty() {
            message.insert("data".into(), json!(self.data));
        }
        let mut android = Map::new();
        let priority = match self.priority {
            Priority::High => "HIGH",
            Priority::Normal => "NORMAL",
        };
        android.insert("priority".into(), priority.into());
        android.insert("ttl".into(), format!("{ttl_secs}s").into());
        if let Some(collapse) = &self.collapse_id {
            android.insert("collapse_key".into(), collapse.clone().into());
        }
        let mut shown = Map::new();
        for (key, value) in [
            ("sound", &self.sound),
            ("channel_id", &self.channel_id),
            ("click_action", &self.category),
            ("tag", &self.thread_id),
        ] {
            if let Some(value) = value {
                shown.insert(key.into(), value.clone().into());
            }
        }
        if !shown.is_empty() {
            android.insert("notification".into(), Value::Object(shown));
        }
        message.insert("android".into(), Value::Object(android));
        let message = Value::Object(message);
        // The size FCM sees: the message with its token, inside {"message": ...}.
        let size = serde_json::to_vec(&json!({ "message": message }))
            .map(|b| b.len())
            .unwrap_or(usize::MAX)
            .saturating_add(token_len + r#","token":"""#.len());
        if size > fcm::MESSAGE_LIMIT {
            return Err(NotificationError::new(
                "notification",
                format!(
                    "the FCM message is {size} bytes; at most {} are allowed",
                    fcm::MESSAGE_LIMIT
                ),
            )
            .with(Problem::TooLarge {
                size,
                limit: fcm::MESSAGE_LIMIT,
            }));
        }
        Ok(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello() -> Notification {
        Notification {
            title: Some("Hello".into()),
            body: Some("World".into()),
            ..Notification::default()
        }
    }

    #[test]
    fn apns_payload_has_the_alert_and_the_data_beside_aps() {
        let notification = Notification {
            badge: Some(3),
            sound: Some("default".into()),
            data: BTreeMap::from([("order".into(), "42".into())]),
            ..hello()
        };
        let payload: Value = serde_json::from_slice(&notification.apns_payload().unwrap()).unwrap();
        assert_eq!(
            payload,
            json!({"aps": {"alert": {"title": "Hello", "body": "World"}, "badge": 3, "sound": "default"}, "order": "42"})
        );
        assert_eq!(notification.apns_push_type(), "alert");
        assert_eq!(notification.apns_priority(), 10);
    }

    #[test]
    fn a_silent_update_is_a_background_push_at_priority_5() {
        let silent = Notification {
            content_available: true,
            ..Notification::default()
        };
        let payload: Value = serde_json::from_slice(&silent.apns_payload().unwrap()).unwrap();
        assert_eq!(payload, json!({"aps": {"content-available": 1}}));
        assert_eq!(silent.apns_push_type(), "background");
        assert_eq!(silent.apns_priority(), 5);
    }

    #[test]
    fn apns_refuses_what_apple_would_refuse_naming_the_field() {
        let data_only = Notification {
            data: BTreeMap::from([("k".into(), "v".into())]),
            ..Notification::default()
        };
        assert_eq!(data_only.apns_payload().unwrap_err().field, "notification");
        let aps = Notification {
            data: BTreeMap::from([("aps".into(), "x".into())]),
            ..hello()
        };
        assert_eq!(
            aps.apns_payload().unwrap_err().field,
            "notification.data.aps"
        );
        let long = Notification {
            collapse_id: Some("x".repeat(65)),
            ..hello()
        };
        assert_eq!(
            long.apns_payload().unwrap_err().field,
            "notification.collapse_id"
        );
        let heavy = Notification {
            body: Some("x".repeat(4100)),
            ..hello()
        };
        let error = heavy.apns_payload().unwrap_err();
        assert!(error.message.contains("at most 4096"), "{error}");
    }

    #[test]
    fn fcm_message_has_notification_data_and_android_options() {
        let notification = Notification {
            priority: Priority::Normal,
            collapse_id: Some("news".into()),
            channel_id: Some("alerts".into()),
            data: BTreeMap::from([("order".into(), "42".into())]),
            ..hello()
        };
        let message = notification.fcm_message(3600, 163).unwrap();
        assert_eq!(
            message,
            json!({
                "notification": {"title": "Hello", "body": "World"},
                "data": {"order": "42"},
                "android": {"priority": "NORMAL", "ttl": "3600s", "collapse_key": "news", "notification": {"channel_id": "alerts"}}
            })
        );
    }

    #[test]
    fn fcm_refuses_reserved_data_keys_and_heavy_messages() {
        let reserved = Notification {
            data: BTreeMap::from([("from".into(), "x".into()), ("gcm.n".into(), "y".into())]),
            ..hello()
        };
        let error = reserved.fcm_message(60, 163).unwrap_err();
        assert_eq!(error.field, "notification.data.from");
        assert!(error.message.contains("from, gcm.n"), "{error}");
        let heavy = Notification {
            body: Some("x".repeat(4000)),
            ..hello()
        };
        assert!(
            heavy
                .fcm_message(60, 163)
                .unwrap_err()
                .message
                .contains("at most 4096")
        );
        let empty = Notification::default();
        assert_eq!(
            empty.fcm_message(60, 163).unwrap_err().field,
            "notification"
        );
    }

    #[test]
    fn unknown_fields_are_refused() {
        let error = serde_json::from_value::<Notification>(json!({"title": "x", "colour": "red"}))
            .unwrap_err();
        assert!(
            error.to_string().contains("unknown field `colour`"),
            "{error}"
        );
    }
}
