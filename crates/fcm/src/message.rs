//! The message model: [`Message`] (one token) and [`MessageContent`] (what every token of
//! a delivery shares), serialized in snake_case as Google's SDKs send it.
//!
//! [`MessageContent`] deserializes from the dispatcher's JSON (snake_case; camelCase
//! aliases accepted) with [`MessageContent::from_json`]. The request body is built by the
//! private `body` module.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

use crate::error::FcmError;

/// One message: a registration token and the shared content.
#[derive(Clone)]
pub struct Message {
    /// The FCM registration token.
    pub token: String,
    /// What every token of the delivery shares.
    pub content: Arc<MessageContent>,
    /// Ask FCM to validate the message without delivering it.
    pub validate_only: bool,
}

impl Message {
    /// A message for `token`, delivered for real.
    pub fn new(token: impl Into<String>, content: Arc<MessageContent>) -> Self {
        Self {
            token: token.into(),
            content,
            validate_only: false,
        }
    }
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message")
            .field("token", &crate::redact(&self.token))
            .field("content", &self.content)
            .field("validate_only", &self.validate_only)
            .finish()
    }
}

/// What every token of a delivery shares: the FCM v1 `message` without its target.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageContent {
    /// The notification shown on every platform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification: Option<Notification>,
    /// Custom key/value data (string values only; some keys are reserved by FCM).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
    /// Android options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub android: Option<AndroidConfig>,
    /// The `apns` block, passed through as is (a JSON object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apns: Option<Value>,
    /// The `webpush` block, passed through as is (a JSON object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webpush: Option<Value>,
    /// FCM options for every platform.
    #[serde(default, alias = "fcmOptions", skip_serializing_if = "Option::is_none")]
    pub fcm_options: Option<FcmOptions>,
}

impl MessageContent {
    /// The content from the dispatcher's JSON message without its token (`{"notification":
    /// .., "data": .., "android": ..}`), snake_case or camelCase. Unknown fields, a
    /// non-string data value, a bad `ttl` or `priority`, or an `apns`/`webpush` block that
    /// is not an object are refused with [`FcmError::Content`].
    pub fn from_json(value: Value) -> Result<Self, FcmError> {
        let content: Self =
            serde_json::from_value(value).map_err(|e| FcmError::Content(e.to_string()))?;
        for (name, block) in [("apns", &content.apns), ("webpush", &content.webpush)] {
            if block.as_ref().is_some_and(|b| !b.is_object()) {
                return Err(FcmError::Content(format!("`{name}` must be a JSON object")));
            }
        }
        Ok(content)
    }

    /// Every `data` key (of the message and of its `android` block) that FCM reserves,
    /// sorted and without repeats.
    pub fn reserved_keys(&self) -> Vec<String> {
        let android = self.android.iter().flat_map(|a| a.data.keys());
        let mut keys: Vec<String> = self
            .data
            .keys()
            .chain(android)
            .filter(|k| pushgate_outcome::fcm::is_reserved_data_key(k))
            .cloned()
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }
}

/// The basic notification (`message.notification`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notification {
    /// The title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The body text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// An image URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

/// FCM options (`fcm_options`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FcmOptions {
    /// The analytics label.
    #[serde(
        default,
        alias = "analyticsLabel",
        skip_serializing_if = "Option::is_none"
    )]
    pub analytics_label: Option<String>,
}

/// Android options (`message.android`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AndroidConfig {
    /// Messages with the same key replace each other while the device is offline.
    #[serde(
        default,
        alias = "collapseKey",
        skip_serializing_if = "Option::is_none"
    )]
    pub collapse_key: Option<String>,
    /// Delivery priority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<AndroidPriority>,
    /// How long FCM keeps the message for an offline device (0 to 4 weeks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<Ttl>,
    /// The application package the token must belong to.
    #[serde(
        default,
        alias = "restrictedPackageName",
        skip_serializing_if = "Option::is_none"
    )]
    pub restricted_package_name: Option<String>,
    /// Android-only data; it replaces `message.data` on Android.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
    /// Android notification fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification: Option<AndroidNotification>,
    /// FCM options for Android.
    #[serde(default, alias = "fcmOptions", skip_serializing_if = "Option::is_none")]
    pub fcm_options: Option<FcmOptions>,
    /// Deliver while the device is in direct-boot mode.
    #[serde(
        default,
        alias = "directBootOk",
        skip_serializing_if = "Option::is_none"
    )]
    pub direct_boot_ok: Option<bool>,
}

/// Android notification fields (`message.android.notification`). The common ones are
/// typed; any other field is passed through in `extra` for FCM to check.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AndroidNotification {
    /// The title (overrides `notification.title`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The body (overrides `notification.body`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// The notification icon resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
    /// The icon colour, `#rrggbb`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    /// The sound to play.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sound: Option<String>,
    /// Notifications with the same tag replace each other in the drawer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// The activity opened on tap.
    #[serde(
        default,
        alias = "clickAction",
        skip_serializing_if = "Option::is_none"
    )]
    pub click_action: Option<String>,
    /// The notification channel (Android 8+).
    #[serde(default, alias = "channelId", skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<String>,
    /// An image URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Any other field of FCM's AndroidNotification, passed through as is.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// Android delivery priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AndroidPriority {
    /// Normal priority (may be delayed to save battery).
    Normal,
    /// High priority (wakes the device).
    High,
}

impl Serialize for AndroidPriority {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(match self {
            Self::Normal => "NORMAL",
            Self::High => "HIGH",
        })
    }
}

impl<'de> Deserialize<'de> for AndroidPriority {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        match text.to_ascii_uppercase().as_str() {
            "NORMAL" => Ok(Self::Normal),
            "HIGH" => Ok(Self::High),
            _ => Err(de::Error::custom(format!(
                "priority {text:?} is neither NORMAL nor HIGH"
            ))),
        }
    }
}

/// A time to live, sent as a protobuf duration string (`"3600s"`, `"3.5s"`); read from
/// such a string or from a number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ttl(pub Duration);

impl Serialize for Ttl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (secs, nanos) = (self.0.as_secs(), self.0.subsec_nanos());
        if nanos == 0 {
            s.collect_str(&format_args!("{secs}s"))
        } else {
            let frac = format!("{nanos:09}");
            s.collect_str(&format_args!("{secs}.{}s", frac.trim_end_matches('0')))
        }
    }
}

impl<'de> Deserialize<'de> for Ttl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let secs = match Value::deserialize(d)? {
            Value::String(text) => text
                .strip_suffix('s')
                .and_then(|n| n.parse::<f64>().ok())
                .ok_or_else(|| {
                    de::Error::custom(format!("ttl {text:?} is not a duration like \"3600s\""))
                })?,
            Value::Number(n) => n
                .as_f64()
                .ok_or_else(|| de::Error::custom("ttl is not a number"))?,
            other => return Err(de::Error::custom(format!("ttl {other} is not a duration"))),
        };
        Duration::try_from_secs_f64(secs)
            .map(Ttl)
            .map_err(|_| de::Error::custom(format!("ttl {secs} s is not a positive duration")))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reads_the_dispatchers_snake_case_message() {
        let value = json!({
            "notification": {"title": "Hello", "body": "World"},
            "data": {"k": "v"},
            "android": {"priority": "NORMAL", "ttl": "3600s", "collapse_key": "news",
                        "notification": {"channel_id": "alerts", "sound": "default"}}
        });
        let content = MessageContent::from_json(value.clone()).unwrap();
        let android = content.android.as_ref().unwrap();
        assert_eq!(android.ttl, Some(Ttl(Duration::from_secs(3600))));
        assert_eq!(android.priority, Some(AndroidPriority::Normal));
        assert_eq!(serde_json::to_value(&content).unwrap(), value);
    }

    #[test]
    fn accepts_camel_case_and_lowercase_priority() {
        let value = json!({"android": {"collapseKey": "c", "priority": "high", "ttl": 2.5,
                          "notification": {"clickAction": "OPEN", "notification_count": 3}},
                          "fcmOptions": {"analyticsLabel": "x"}});
        let content = MessageContent::from_json(value).unwrap();
        let wire = serde_json::to_value(&content).unwrap();
        assert_eq!(
            wire,
            json!({"android": {"collapse_key": "c", "priority": "HIGH", "ttl": "2.5s",
                   "notification": {"click_action": "OPEN", "notification_count": 3}},
                   "fcm_options": {"analytics_label": "x"}})
        );
    }

    #[test]
    fn refuses_what_fcm_would_refuse_in_shape() {
        for bad in [
            json!({"nope": 1}),
            json!({"data": {"k": 1}}),
            json!({"android": {"ttl": "soon"}}),
            json!({"android": {"priority": "URGENT"}}),
            json!({"apns": "headers"}),
        ] {
            assert!(MessageContent::from_json(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn finds_every_reserved_key() {
        let mut content = MessageContent::default();
        for k in ["from", "ok", "google.x", "gcm.y"] {
            content.data.insert(k.into(), "v".into());
        }
        let android = AndroidConfig {
            data: BTreeMap::from([("message_type".into(), "v".into())]),
            ..AndroidConfig::default()
        };
        content.android = Some(android);
        assert_eq!(
            content.reserved_keys(),
            ["from", "gcm.y", "google.x", "message_type"]
        );
    }
}
