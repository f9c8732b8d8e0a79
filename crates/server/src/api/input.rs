//! Input rules shared by the handlers: device tokens, profile ids, times, pages.
//!
//! - iOS tokens: 1 to 200 hex digits (`0-9a-fA-F`), stored exactly as given
//!   (case-sensitive, as the quarantine is).
//! - Android tokens: 1 to 4096 of `A-Z a-z 0-9 _ : . -` (FCM registration tokens use
//!   these).
//! - Profile ids: 1 to 128 of `A-Z a-z 0-9 _ . @ : -`.

use chrono::{DateTime, Utc};
use pushgate_store::{Page, Platform};
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::ApiError;

/// Longest iOS token accepted.
pub const IOS_TOKEN_MAX: usize = 200;
/// Longest Android token accepted.
pub const ANDROID_TOKEN_MAX: usize = 4096;
/// Longest profile id accepted.
pub const PROFILE_MAX: usize = 128;
/// Most rows a page can ask for.
pub const PAGE_MAX: i64 = 1000;

/// Checks a device token for its platform; the error names `field`.
pub fn check_token(platform: Platform, token: &str, field: &str) -> Result<(), ApiError> {
    let (ok, rule) = match platform {
        Platform::Ios => (
            (1..=IOS_TOKEN_MAX).contains(&token.len())
                && token.bytes().all(|b| b.is_ascii_hexdigit()),
            "an iOS device token is 1 to 200 hex digits",
        ),
        Platform::Android => (
            (1..=ANDROID_TOKEN_MAX).contains(&token.len())
                && token
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_:.-".contains(&b)),
            "an Android registration token is 1 to 4096 of A-Z a-z 0-9 _ : . -",
        ),
    };
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(field, rule))
    }
}

/// Checks a profile id; the error names `field`.
pub fn check_profile(profile: &str, field: &str) -> Result<(), ApiError> {
    let ok = (1..=PROFILE_MAX).contains(&profile.len())
        && profile
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.@:-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            field,
            "a profile id is 1 to 128 of A-Z a-z 0-9 _ . @ : -",
        ))
    }
}

/// Checks a free-text filter: no NUL character (PostgreSQL text cannot hold one), at most
/// 1,000 bytes.
pub fn check_text(text: &str, field: &str) -> Result<(), ApiError> {
    if text.contains('\0') || text.len() > 1000 {
        Err(ApiError::invalid(
            field,
            "at most 1000 bytes, without NUL characters",
        ))
    } else {
        Ok(())
    }
}

/// Checks a delivery id given as a filter: a UUID.
pub fn check_delivery_id(id: &str, field: &str) -> Result<(), ApiError> {
    uuid::Uuid::parse_str(id)
        .map(|_| ())
        .map_err(|_| ApiError::invalid(field, "a delivery id is a UUID"))
}

/// Parses an RFC 3339 time; the error names `field`.
pub fn parse_time(text: &str, field: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            ApiError::invalid(
                field,
                "expected an RFC 3339 time, e.g. 2026-03-01T09:00:00Z",
            )
        })
}

/// An optional RFC 3339 time parameter.
pub fn parse_opt_time(text: Option<&str>, field: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    text.map(|t| parse_time(t, field)).transpose()
}

/// `?after=&limit=` of the paged lists.
#[derive(Debug, Clone, Copy, Default, Deserialize, IntoParams)]
#[serde(default)]
pub struct PageQuery {
    /// Rows after this id (the previous page's `next_after`); 0 or absent: the first page.
    pub after: Option<i64>,
    /// At most this many rows, 1 to 1000 (default 100).
    pub limit: Option<i64>,
}

/// The limit of a page request, checked.
pub fn page_limit(limit: Option<i64>) -> Result<i64, ApiError> {
    match limit {
        None => Ok(100),
        Some(limit) if (1..=PAGE_MAX).contains(&limit) => Ok(limit),
        Some(_) => Err(ApiError::invalid("limit", "must be 1 to 1000")),
    }
}

/// A store page from `after` and `limit`, checked.
pub fn page(after: Option<i64>, limit: Option<i64>) -> Result<Page, ApiError> {
    let after = after.unwrap_or(0);
    if after < 0 {
        return Err(ApiError::invalid("after", "must be 0 or more"));
    }
    Ok(Page {
        after,
        limit: page_limit(limit)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_follow_their_platform_rules() {
        assert!(check_token(Platform::Ios, "abcDEF0123", "t").is_ok());
        assert!(check_token(Platform::Ios, "", "t").is_err());
        assert!(check_token(Platform::Ios, "xyz", "t").is_err());
        assert!(check_token(Platform::Ios, &"a".repeat(201), "t").is_err());
        assert!(check_token(Platform::Android, "fcm-Token_1:abc.def", "t").is_ok());
        assert!(check_token(Platform::Android, "bad token", "t").is_err());
        assert!(check_token(Platform::Android, "tok\u{e9}n", "t").is_err());
        let error = check_token(Platform::Ios, "zz", "target.tokens[2]").unwrap_err();
        assert_eq!(error.field.as_deref(), Some("target.tokens[2]"));
    }

    #[test]
    fn profiles_and_times() {
        assert!(check_profile("user-42@example.com", "profile").is_ok());
        assert!(check_profile("", "profile").is_err());
        assert!(check_profile("a b", "profile").is_err());
        assert!(parse_time("2026-03-01T09:00:00Z", "from").is_ok());
        assert!(parse_time("yesterday", "from").is_err());
        assert!(page(None, Some(0)).is_err());
        assert!(page(Some(-1), None).is_err());
        assert_eq!(page(None, None).unwrap().limit, 100);
    }
}
