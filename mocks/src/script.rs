//! Scripted answers: rules that pick the answer for a token, a token prefix or a client.
//!
//! A [`Rule`] matches one service's requests by exact key (APNs device token, FCM
//! registration token, OAuth `client_email`) or by key prefix; an exact rule wins over
//! any prefix, and the longest prefix wins among prefixes. A rule with `times = N`
//! answers its way for the first N requests of each key, then lets the request through
//! ("fail N times then succeed"). Scripted answers come after the request passed
//! validation: a broken request is refused even for a scripted token.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use pushgate_outcome::fcm::ErrorCode;
use serde::{Deserialize, Serialize};

use crate::Service;
use crate::error::MockError;

/// One scripted rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// The service whose requests the rule matches.
    pub service: Service,
    /// Exact APNs device token or FCM registration token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Exact OAuth `client_email` (the assertion's `iss`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_email: Option<String>,
    /// Prefix of the token (or of the client email, for OAuth), for bulk tests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// The answer.
    pub answer: Answer,
    /// Answer this way only for the first N requests of each key, then normally.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
}

impl Rule {
    fn new(service: Service, answer: Answer) -> Self {
        Self {
            service,
            token: None,
            client_email: None,
            prefix: None,
            answer,
            times: None,
        }
    }

    /// A rule for one APNs device token.
    pub fn apns_token(token: impl Into<String>, answer: Answer) -> Self {
        Self {
            token: Some(token.into()),
            ..Self::new(Service::Apns, answer)
        }
    }

    /// A rule for every APNs device token starting with `prefix`.
    pub fn apns_prefix(prefix: impl Into<String>, answer: Answer) -> Self {
        Self {
            prefix: Some(prefix.into()),
            ..Self::new(Service::Apns, answer)
        }
    }

    /// A rule for one FCM registration token.
    pub fn fcm_token(token: impl Into<String>, answer: Answer) -> Self {
        Self {
            token: Some(token.into()),
            ..Self::new(Service::Fcm, answer)
        }
    }

    /// A rule for every FCM registration token starting with `prefix`.
    pub fn fcm_prefix(prefix: impl Into<String>, answer: Answer) -> Self {
        Self {
            prefix: Some(prefix.into()),
            ..Self::new(Service::Fcm, answer)
        }
    }

    /// A rule for the token requests of one service account.
    pub fn oauth_client(client_email: impl Into<String>, answer: Answer) -> Self {
        Self {
            client_email: Some(client_email.into()),
            ..Self::new(Service::OAuth, answer)
        }
    }

    /// Answer this way for the first `n` requests of each key only.
    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }

    /// Checks that the rule makes sense for its service.
    pub fn validate(&self) -> Result<(), MockError> {
        let err = |m: String| Err(MockError::Scenario(m));
        let keys = [&self.token, &self.client_email, &self.prefix];
        if keys.iter().filter(|k| k.is_some()).count() != 1 {
            return err("a rule needs exactly one of token, client_email or prefix".into());
        }
        match (self.service, &self.token, &self.client_email) {
            (Service::OAuth, Some(_), _) => {
                return err("oauth rules match client_email (or prefix), not token".into());
            }
            (Service::Apns | Service::Fcm, _, Some(_)) => {
                return err("client_email is for oauth rules; use token or prefix".into());
            }
            _ => {}
        }
        if [&self.token, &self.client_email]
            .iter()
            .any(|k| k.as_deref() == Some(""))
        {
            return err("the matched token or client_email must not be empty".into());
        }
        if self.times == Some(0) {
            return err("times must be at least 1".into());
        }
        self.answer.validate(self.service, true)
    }

    fn key(&self) -> &str {
        let key = self.token.as_ref().or(self.client_email.as_ref());
        key.or(self.prefix.as_ref()).map_or("", String::as_str)
    }
}

/// What the mock answers to a matched request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Answer {
    /// The normal answer (200 once validation passed): an exception to a prefix rule.
    Accept,
    /// APNs: an error `:status` with `{"reason": ...}` (410 adds `timestamp`).
    ApnsError {
        /// HTTP status (400-599).
        status: u16,
        /// The reason, e.g. `Unregistered`.
        reason: String,
        /// For 410: epoch milliseconds the token stopped being valid (default: now).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timestamp: Option<i64>,
        /// A `Retry-After` header, in seconds.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_secs: Option<u64>,
    },
    /// FCM: a google.rpc.Status with an FcmError detail. Status and canonical status
    /// come from the code (`ErrorCode::http`); give them for a code outside the enum.
    FcmError {
        /// The FcmError `errorCode`, e.g. `UNREGISTERED`.
        error_code: String,
        /// HTTP status, for codes outside the FCM enum.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<u16>,
        /// google.rpc canonical status, for codes outside the FCM enum.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        canonical: Option<String>,
        /// The message (default: the one Google sends for the code).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
        /// A `Retry-After` header, in seconds.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_secs: Option<u64>,
    },
    /// FCM: a google.rpc.Status without an FcmError detail (caller-auth failures).
    FcmStatus {
        /// HTTP status.
        status: u16,
        /// google.rpc canonical status, e.g. `UNAUTHENTICATED`.
        canonical: String,
        /// The message.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
        /// Reason of a google.rpc.ErrorInfo detail, e.g. `ACCESS_TOKEN_EXPIRED`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error_info_reason: Option<String>,
    },
    /// OAuth: `{"error": ..., "error_description": ...}` with a status.
    OauthError {
        /// HTTP status.
        status: u16,
        /// The OAuth `error`, e.g. `unauthorized_client`.
        error: String,
        /// The `error_description`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error_description: Option<String>,
    },
    /// Any status and body (unparseable bodies, legacy bodies, 5xx without body).
    Raw {
        /// HTTP status.
        status: u16,
        /// The body, sent as is (empty: no DATA frame).
        #[serde(default)]
        body: String,
        /// `content-type` header, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content_type: Option<String>,
        /// Extra headers.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        headers: BTreeMap<String, String>,
    },
    /// Wait, then answer `then` (default: the normal answer).
    Delay {
        /// How long to wait (`"2s"`).
        #[serde(with = "crate::config::duration")]
        delay: Duration,
        /// The answer after the delay.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        then: Option<Box<Answer>>,
    },
    /// Reset the stream (RST_STREAM; on HTTP/1.1, close the connection).
    Reset {
        /// The HTTP/2 error code.
        #[serde(default)]
        code: ResetCode,
    },
    /// Refuse the stream (RST_STREAM REFUSED_STREAM: not processed, safe to retry) and
    /// send GOAWAY (NO_ERROR) on its connection; streams already in flight are answered.
    Goaway,
    /// Never answer: hold the stream until the client gives up or the mock stops.
    NoAnswer,
}

impl Answer {
    /// An APNs error answer.
    pub fn apns(status: u16, reason: impl Into<String>) -> Self {
        Self::ApnsError {
            status,
            reason: reason.into(),
            timestamp: None,
            retry_after_secs: None,
        }
    }

    /// An FCM error answer for one of the FCM v1 error codes.
    pub fn fcm(code: ErrorCode) -> Self {
        Self::FcmError {
            error_code: code.as_str().to_owned(),
            status: None,
            canonical: None,
            message: None,
            retry_after_secs: None,
        }
    }

    /// An OAuth error answer.
    pub fn oauth(status: u16, error: impl Into<String>, description: impl Into<String>) -> Self {
        Self::OauthError {
            status,
            error: error.into(),
            error_description: Some(description.into()),
        }
    }

    /// A raw status and body.
    pub fn raw(status: u16, body: impl Into<String>) -> Self {
        Self::Raw {
            status,
            body: body.into(),
            content_type: None,
            headers: BTreeMap::new(),
        }
    }

    /// A delay, then the normal answer.
    pub fn delay(delay: Duration) -> Self {
        Self::Delay { delay, then: None }
    }

    /// A stream reset with INTERNAL_ERROR.
    pub fn reset() -> Self {
        Self::Reset {
            code: ResetCode::default(),
        }
    }

    fn validate(&self, service: Service, top: bool) -> Result<(), MockError> {
        let err = |m: &str| Err(MockError::Scenario(format!("{m} ({service} rule)")));
        let allowed = match self {
            Self::Accept | Self::Raw { .. } | Self::Reset { .. } | Self::NoAnswer => true,
            Self::Delay { .. } => top,
            Self::ApnsError { .. } => service == Service::Apns,
            Self::FcmError { .. } | Self::FcmStatus { .. } => service == Service::Fcm,
            Self::OauthError { .. } => service == Service::OAuth,
            Self::Goaway => service != Service::OAuth,
        };
        if !allowed {
            return err("this answer kind is not available here");
        }
        match self {
            Self::ApnsError { status, reason, .. }
                if !(400..=599).contains(status) || reason.is_empty() =>
            {
                return err("apns_error needs a 4xx/5xx status and a reason");
            }
            Self::FcmError {
                error_code,
                status,
                canonical,
                ..
            } => {
                let known = ErrorCode::parse(error_code).is_some();
                if !known && (status.is_none() || canonical.is_none()) {
                    return err(
                        "fcm_error with a code outside the FCM enum needs status and canonical",
                    );
                }
                if status.is_some_and(|s| !(400..=599).contains(&s)) {
                    return err("fcm_error status must be 4xx/5xx");
                }
            }
            Self::FcmStatus { status, .. } | Self::OauthError { status, .. }
                if !(400..=599).contains(status) =>
            {
                return err("error answers need a 4xx/5xx status");
            }
            Self::Raw {
                status,
                content_type,
                headers,
                ..
            } => {
                if !(200..=599).contains(status) {
                    return err("raw status must be 200-599");
                }
                let content_type = content_type.as_deref().map(|c| ("content-type", c));
                let extra = headers.iter().map(|(k, v)| (k.as_str(), v.as_str()));
                for (name, value) in content_type.into_iter().chain(extra) {
                    if http::HeaderName::from_bytes(name.as_bytes()).is_err()
                        || http::HeaderValue::from_str(value).is_err()
                    {
                        return err(&format!("raw header {name:?} is not a valid header"));
                    }
                }
            }
            Self::Delay {
                then: Some(then), ..
            } => return then.validate(service, false),
            _ => {}
        }
        Ok(())
    }
}

/// An HTTP/2 error code for [`Answer::Reset`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum ResetCode {
    NoError,
    ProtocolError,
    #[default]
    InternalError,
    FlowControlError,
    RefusedStream,
    Cancel,
    EnhanceYourCalm,
}

impl ResetCode {
    /// The h2 reason.
    pub(crate) fn reason(self) -> h2::Reason {
        match self {
            Self::NoError => h2::Reason::NO_ERROR,
            Self::ProtocolError => h2::Reason::PROTOCOL_ERROR,
            Self::InternalError => h2::Reason::INTERNAL_ERROR,
            Self::FlowControlError => h2::Reason::FLOW_CONTROL_ERROR,
            Self::RefusedStream => h2::Reason::REFUSED_STREAM,
            Self::Cancel => h2::Reason::CANCEL,
            Self::EnhanceYourCalm => h2::Reason::ENHANCE_YOUR_CALM,
        }
    }
}

/// An installed rule with its per-key counters.
#[derive(Debug)]
struct Active {
    rule: Rule,
    /// Requests seen per key, for `times`.
    seen: Mutex<HashMap<String, u32>>,
}

impl Active {
    fn answer_for(&self, key: &str) -> Option<Answer> {
        let Some(times) = self.rule.times else {
            return Some(self.rule.answer.clone());
        };
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let count = match seen.get_mut(key) {
            Some(count) => count,
            None => seen.entry(key.to_owned()).or_insert(0),
        };
        *count = count.saturating_add(1);
        (*count <= times).then(|| self.rule.answer.clone())
    }
}

#[derive(Debug, Default)]
struct ServiceRules {
    exact: HashMap<String, Arc<Active>>,
    /// Longest prefix first.
    prefixes: Vec<Arc<Active>>,
}

/// The installed rules of every service.
#[derive(Debug, Default)]
pub(crate) struct RuleTable {
    rules: RwLock<[ServiceRules; 3]>,
    /// Whether any rule is installed, per service: the hot path skips the lock.
    any: [AtomicBool; 3],
}

impl RuleTable {
    /// Installs rules (after validating all of them); a rule for the same service and key
    /// replaces the older one.
    pub(crate) fn add(&self, rules: Vec<Rule>) -> Result<(), MockError> {
        rules.iter().try_for_each(Rule::validate)?;
        let mut all = self.rules.write().unwrap_or_else(|e| e.into_inner());
        for rule in rules {
            let index = rule.service.index();
            let table = &mut all[index];
            let is_prefix = rule.prefix.is_some();
            let key = rule.key().to_owned();
            let active = Arc::new(Active {
                rule,
                seen: Mutex::default(),
            });
            if is_prefix {
                table.prefixes.retain(|a| a.rule.key() != key);
                table.prefixes.push(active);
                table
                    .prefixes
                    .sort_by_key(|a| std::cmp::Reverse(a.rule.key().len()));
            } else {
                table.exact.insert(key, active);
            }
            self.any[index].store(true, Ordering::Release);
        }
        Ok(())
    }

    /// Removes every rule of `service`, or of all services.
    pub(crate) fn clear(&self, service: Option<Service>) {
        let mut all = self.rules.write().unwrap_or_else(|e| e.into_inner());
        for s in Service::ALL {
            if service.is_none_or(|only| only == s) {
                all[s.index()] = ServiceRules::default();
                self.any[s.index()].store(false, Ordering::Release);
            }
        }
    }

    /// The installed rules, exact ones first.
    pub(crate) fn list(&self) -> Vec<Rule> {
        let all = self.rules.read().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::new();
        for table in all.iter() {
            let mut exact: Vec<_> = table.exact.values().map(|a| a.rule.clone()).collect();
            exact.sort_by(|a, b| a.key().cmp(b.key()));
            out.extend(exact);
            out.extend(table.prefixes.iter().map(|a| a.rule.clone()));
        }
        out
    }

    /// The scripted answer for this request, if a rule matches and still applies.
    pub(crate) fn answer(&self, service: Service, key: &str) -> Option<Answer> {
        if !self.any[service.index()].load(Ordering::Acquire) {
            return None;
        }
        let rule = {
            let all = self.rules.read().unwrap_or_else(|e| e.into_inner());
            let table = &all[service.index()];
            table.exact.get(key).cloned().or_else(|| {
                let prefix = table
                    .prefixes
                    .iter()
                    .find(|a| key.starts_with(a.rule.key()));
                prefix.cloned()
            })?
        };
        rule.answer_for(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_beats_longest_prefix_beats_shorter_prefix() {
        let s = RuleTable::default();
        s.add(vec![
            Rule::apns_prefix("ab", Answer::apns(410, "Unregistered")),
            Rule::apns_prefix("abc", Answer::apns(400, "BadTopic")),
            Rule::apns_token("abcd", Answer::Accept),
        ])
        .unwrap();
        assert_eq!(s.answer(Service::Apns, "abcd"), Some(Answer::Accept));
        assert_eq!(
            s.answer(Service::Apns, "abce"),
            Some(Answer::apns(400, "BadTopic"))
        );
        assert_eq!(
            s.answer(Service::Apns, "abxx"),
            Some(Answer::apns(410, "Unregistered"))
        );
        assert_eq!(s.answer(Service::Apns, "ffff"), None);
        assert_eq!(s.answer(Service::Fcm, "abcd"), None);
    }

    #[test]
    fn times_counts_per_key() {
        let s = RuleTable::default();
        s.add(vec![Rule::fcm_prefix("t", Answer::reset()).times(2)])
            .unwrap();
        for key in ["t1", "t2"] {
            assert!(s.answer(Service::Fcm, key).is_some());
            assert!(s.answer(Service::Fcm, key).is_some());
            assert_eq!(s.answer(Service::Fcm, key), None);
        }
    }

    #[test]
    fn bad_rules_are_refused_with_a_reason() {
        let bad = [
            Rule::oauth_client("a@b", Answer::Goaway),
            Rule::apns_token("ab", Answer::fcm(ErrorCode::Internal)),
            Rule::apns_token("ab", Answer::apns(200, "x")),
            Rule::apns_token("ab", Answer::Accept).times(0),
            Rule {
                prefix: Some("a".into()),
                ..Rule::apns_token("ab", Answer::Accept)
            },
        ];
        for rule in bad {
            assert!(
                RuleTable::default().add(vec![rule.clone()]).is_err(),
                "{rule:?}"
            );
        }
        let json = r#"{"service":"apns","token":"ab","answer":{"kind":"apns_error","status":410,"reason":"Unregistered","bogus":1}}"#;
        let err = serde_json::from_str::<Rule>(json).unwrap_err().to_string();
        assert!(err.contains("bogus"), "{err}");
    }

    #[test]
    fn unknown_fcm_codes_need_a_status() {
        let mut answer = Answer::FcmError {
            error_code: "NEW_CODE".into(),
            status: None,
            canonical: None,
            message: None,
            retry_after_secs: None,
        };
        assert!(answer.validate(Service::Fcm, true).is_err());
        if let Answer::FcmError {
            status, canonical, ..
        } = &mut answer
        {
            *status = Some(400);
            *canonical = Some("FAILED_PRECONDITION".into());
        }
        assert!(answer.validate(Service::Fcm, true).is_ok());
    }
}
