//! The mock FCM HTTP v1: `POST /v1/projects/{project}/messages:send` over HTTP/2.
//!
//! Order of work for a request: path and method, faults (reset, error rate), the Bearer
//! access token (issued by the OAuth mock, not expired, for this project), the body
//! ([`validate`]), the scripted answer for the target, then `{"name": ...}`.

mod status;
mod validate;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderValue, Method, StatusCode};
use pushgate_outcome::fcm::ErrorCode;
use rand::Rng;

use self::validate::Target;
use crate::Service;
use crate::h2serve::{Decision, H2Service, Reply};
use crate::script::Answer;
use crate::state::{Shared, TokenCheck};

/// The FCM mock.
pub(crate) struct Fcm {
    pub shared: Arc<Shared>,
}

/// The project of a `/v1/projects/{project}/messages:send` path.
fn project_of(path: &str) -> Option<&str> {
    let project = path
        .strip_prefix("/v1/projects/")?
        .strip_suffix("/messages:send")?;
    (!project.is_empty() && !project.contains('/')).then_some(project)
}

/// The token of an `authorization: Bearer <token>` value.
fn bearer(value: &HeaderValue) -> Option<&str> {
    let text = value.to_str().ok()?;
    let (scheme, token) = text.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// A message id in FCM's shape (`0:1700000000000000%31bd1c9631bd1c96`).
fn message_id() -> String {
    let micros = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    let tag: u64 = rand::rng().random();
    format!("0:{micros}%{tag:016x}")
}

impl Fcm {
    /// Checks the access token; `Err` is the answer.
    fn authenticate(&self, parts: &Parts, project: &str) -> Result<(), Box<Decision<'static>>> {
        let unauthenticated = |message: &str, reason: &str| {
            let details = vec![status::error_info(reason)];
            let reply = status::reply(401, "UNAUTHENTICATED", message, details, None);
            Decision::reply(reply, "UNAUTHENTICATED")
        };
        let Some(value) = parts.headers.get(http::header::AUTHORIZATION) else {
            return Err(Box::new(unauthenticated(
                status::MISSING_CREDENTIAL,
                "CREDENTIALS_MISSING",
            )));
        };
        let invalid = || {
            let reply = status::reply(
                401,
                "UNAUTHENTICATED",
                status::INVALID_CREDENTIAL,
                vec![],
                None,
            );
            Decision::reply(reply, "UNAUTHENTICATED")
        };
        let token = bearer(value).ok_or_else(|| Box::new(invalid()))?;
        match self.shared.check_token(token, SystemTime::now()) {
            TokenCheck::Unknown => Err(Box::new(invalid())),
            TokenCheck::Expired => Err(Box::new(unauthenticated(
                status::INVALID_CREDENTIAL,
                "ACCESS_TOKEN_EXPIRED",
            ))),
            TokenCheck::Valid { project_id } if project_id != project => {
                let message = format!(
                    "Permission 'cloudmessaging.messages.create' denied on resource '//cloudresourcemanager.googleapis.com/projects/{project}' (or it may not exist)."
                );
                let details = vec![status::error_info("IAM_PERMISSION_DENIED")];
                let reply = status::reply(403, "PERMISSION_DENIED", &message, details, None);
                Err(Box::new(Decision::reply(reply, "PERMISSION_DENIED")))
            }
            TokenCheck::Valid { .. } => Ok(()),
        }
    }
}

impl H2Service for Fcm {
    const SERVICE: Service = Service::Fcm;
    type Conn = ();

    fn shared(&self) -> &Shared {
        &self.shared
    }

    fn connection(&self, _tls: &rustls::ServerConnection) {}

    fn decide<'a>(
        &self,
        _conn: &(),
        parts: &'a Parts,
        body: &'a Bytes,
        fault: Option<u16>,
    ) -> Decision<'a> {
        let Some(project) = project_of(parts.uri.path()).filter(|_| parts.method == Method::POST)
        else {
            let reply = status::reply(
                404,
                "NOT_FOUND",
                "Requested entity was not found.",
                vec![],
                None,
            );
            return Decision::reply(reply, "NOT_FOUND");
        };
        if let Some(status) = fault {
            let code = match status {
                429 => ErrorCode::QuotaExceeded,
                500 => ErrorCode::Internal,
                _ => ErrorCode::Unavailable,
            };
            let reply = status::code_reply(code, None, self.shared.faults.retry_after());
            return Decision::reply(reply, code.as_str());
        }
        if let Err(refused) = self.authenticate(parts, project) {
            return *refused;
        }
        let valid = match validate::check(body) {
            Ok(valid) => valid,
            Err(e) => {
                let code = ErrorCode::InvalidArgument;
                let mut details = vec![status::fcm_error(code.as_str())];
                if let Some(field) = &e.field {
                    details.push(status::bad_request(field, &e.message));
                }
                let reply = status::reply(400, "INVALID_ARGUMENT", &e.message, details, None);
                return Decision::reply(reply, code.as_str());
            }
        };
        let success = || {
            if valid.validate_only {
                let name = format!("projects/{project}/messages/fake_message_id");
                return Decision::reply(status::success(&name), "");
            }
            let name = format!("projects/{project}/messages/{}", message_id());
            let deliver_to = match &valid.target {
                Target::Token(token) => Some(Cow::Owned(token.clone())),
                _ => None,
            };
            Decision {
                deliver_to,
                ..Decision::reply(status::success(&name), "")
            }
        };
        match self.shared.rules.answer(Service::Fcm, valid.target.key()) {
            None => success(),
            Some(Answer::Delay { delay, then }) => {
                let after = then.and_then(|a| scripted(*a)).unwrap_or_else(success);
                Decision {
                    delay: Some(delay),
                    ..after
                }
            }
            Some(answer) => scripted(answer).unwrap_or_else(success),
        }
    }
}

/// A scripted answer; `None` for [`Answer::Accept`] (the normal answer).
fn scripted<'a>(answer: Answer) -> Option<Decision<'a>> {
    Some(match answer {
        Answer::Accept | Answer::Delay { .. } => return None,
        Answer::FcmError {
            error_code,
            status,
            canonical,
            message,
            retry_after_secs,
        } => {
            let known = ErrorCode::parse(&error_code);
            let (default_status, default_canonical) =
                known.map_or((500, "INTERNAL"), ErrorCode::http);
            let message = message
                .as_deref()
                .or(known.map(status::default_message))
                .unwrap_or("Internal error encountered.");
            let reply = status::reply(
                status.unwrap_or(default_status),
                canonical.as_deref().unwrap_or(default_canonical),
                message,
                vec![status::fcm_error(&error_code)],
                retry_after_secs,
            );
            Decision::reply(reply, error_code)
        }
        Answer::FcmStatus {
            status,
            canonical,
            message,
            error_info_reason,
        } => {
            let details = error_info_reason
                .as_deref()
                .map(status::error_info)
                .into_iter()
                .collect();
            let message = message.as_deref().unwrap_or("The request failed.");
            let reply = status::reply(status, &canonical, message, details, None);
            Decision::reply(reply, canonical)
        }
        Answer::Raw {
            status,
            body,
            content_type,
            headers,
        } => {
            let reply = Reply::Response {
                status: StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
                headers: crate::h2serve::raw_headers(content_type.as_deref(), &headers),
                body: Bytes::from(body),
            };
            Decision::reply(reply, "raw")
        }
        Answer::Reset { code } => Decision::reply(Reply::Reset(code.reason()), ""),
        Answer::Goaway => Decision::reply(Reply::GoAway, ""),
        Answer::NoAnswer => Decision::reply(Reply::Hold, ""),
        // Not valid for FCM rules: refused when the rule is added.
        Answer::ApnsError { .. } | Answer::OauthError { .. } => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_the_project() {
        assert_eq!(project_of("/v1/projects/demo/messages:send"), Some("demo"));
        assert_eq!(project_of("/v1/projects//messages:send"), None);
        assert_eq!(project_of("/v1/projects/a/b/messages:send"), None);
        assert_eq!(project_of("/fcm/send"), None);
    }

    #[test]
    fn bearer_tokens_need_the_scheme() {
        let v = |s: &str| HeaderValue::from_str(s).unwrap();
        assert_eq!(bearer(&v("Bearer ya29.x")), Some("ya29.x"));
        assert_eq!(bearer(&v("bearer ya29.x")), Some("ya29.x"));
        assert_eq!(bearer(&v("key=AAAA")), None);
        assert_eq!(bearer(&v("Bearer ")), None);
    }
}
