//! [`Notification`]: one push to one device token, and its [`PushType`].

use std::fmt;
use std::str::FromStr;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// One notification to one device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The device token: hex, as the app registered it.
    pub token: String,
    /// The JSON payload, already serialised. A delivery shares one buffer across all its
    /// tokens (cloning `Bytes` copies nothing).
    pub payload: Bytes,
    /// `apns-push-type`.
    pub push_type: PushType,
    /// `apns-priority`: 10 (immediately), 5 (power considerations) or 1; APNs' default
    /// (10) when `None`. `background` pushes must use 5.
    pub priority: Option<u8>,
    /// `apns-expiration`: epoch seconds until which APNs keeps trying; 0 = once.
    pub expiration: Option<i64>,
    /// `apns-collapse-id`: at most 64 bytes.
    pub collapse_id: Option<String>,
    /// `apns-id`: a lowercase UUID; APNs makes one up when `None`.
    pub apns_id: Option<String>,
    /// `apns-topic` for this notification, instead of the settings' topic.
    pub topic: Option<String>,
}

impl Notification {
    /// An `alert` notification with APNs' defaults for everything else.
    pub fn new(token: impl Into<String>, payload: impl Into<Bytes>) -> Self {
        Self {
            token: token.into(),
            payload: payload.into(),
            push_type: PushType::Alert,
            priority: None,
            expiration: None,
            collapse_id: None,
            apns_id: None,
            topic: None,
        }
    }
}

/// `apns-push-type`: what the notification is for (`protocols.md` §1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PushType {
    /// A visible alert, sound or badge.
    Alert,
    /// Content for the app in the background (priority 5).
    Background,
    /// A watchOS complication update.
    Complication,
    /// A Control Center control update.
    Controls,
    /// A File Provider change signal.
    #[serde(rename = "fileprovider")]
    FileProvider,
    /// A Live Activity update.
    #[serde(rename = "liveactivity")]
    LiveActivity,
    /// A location query.
    Location,
    /// A device-management wake-up.
    Mdm,
    /// A Push to Talk update.
    #[serde(rename = "pushtotalk")]
    PushToTalk,
    /// A VoIP call (payloads up to 5120 bytes).
    Voip,
    /// A widget reload.
    Widgets,
}

impl PushType {
    /// Every push type.
    pub const ALL: [PushType; 11] = [
        Self::Alert,
        Self::Background,
        Self::Complication,
        Self::Controls,
        Self::FileProvider,
        Self::LiveActivity,
        Self::Location,
        Self::Mdm,
        Self::PushToTalk,
        Self::Voip,
        Self::Widgets,
    ];

    /// The header value (`alert`, `voip`...).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Alert => "alert",
            Self::Background => "background",
            Self::Complication => "complication",
            Self::Controls => "controls",
            Self::FileProvider => "fileprovider",
            Self::LiveActivity => "liveactivity",
            Self::Location => "location",
            Self::Mdm => "mdm",
            Self::PushToTalk => "pushtotalk",
            Self::Voip => "voip",
            Self::Widgets => "widgets",
        }
    }

    /// The largest payload APNs takes for this push type.
    pub fn payload_limit(self) -> usize {
        pushgate_outcome::apns::payload_limit(self.as_str())
    }
}

impl fmt::Display for PushType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A push type name that APNs does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown apns push type {0:?}")]
pub struct UnknownPushType(pub String);

impl FromStr for PushType {
    type Err = UnknownPushType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownPushType(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_types_round_trip_through_their_names() {
        for t in PushType::ALL {
            assert_eq!(t.as_str().parse::<PushType>(), Ok(t));
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, format!("\"{}\"", t.as_str()));
        }
        assert!("Alert".parse::<PushType>().is_err());
        assert_eq!(PushType::Voip.payload_limit(), 5120);
        assert_eq!(PushType::Alert.payload_limit(), 4096);
    }
}
