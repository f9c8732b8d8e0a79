//! Malformed input never panics and always lands on exactly one row of its table.

use proptest::prelude::*;
use pushgate_outcome::apns::{self, ApnsResult};
use pushgate_outcome::fcm::{self, FcmResult};
use pushgate_outcome::oauth::{self, OAuthResult};
use pushgate_outcome::{PushTable, SendStatus};

/// Bodies that are sometimes JSON and sometimes not.
fn bodies() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..256),
        "\\PC{0,64}".prop_map(String::into_bytes),
        arbitrary_json().prop_map(|v| v.to_string().into_bytes()),
        ("\\PC{0,24}", proptest::option::of("\\PC{0,24}")).prop_map(|(r, t)| {
            serde_json::json!({ "reason": r, "error": { "status": r, "details": [{ "@type": fcm::FCM_ERROR_TYPE, "errorCode": t }] }, "error_description": t })
                .to_string()
                .into_bytes()
        }),
    ]
}

fn arbitrary_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        "\\PC{0,16}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            proptest::collection::btree_map("\\PC{0,8}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn apns_answers_land_on_one_ios_http2_row(status in any::<u16>(), body in bodies()) {
        let classified = apns::classify(&ApnsResult::Response { status, body: &body });
        prop_assert_eq!(classified.table(), PushTable::IosHttp2);
        prop_assert!(classified.outcome().is_some());
        prop_assert_eq!(classified.status() == SendStatus::Ok, status == 200);
    }

    #[test]
    fn fcm_answers_land_on_one_android_v2_row(status in any::<u16>(), body in bodies()) {
        let classified = fcm::classify(&FcmResult::Response { status, body: &body });
        prop_assert_eq!(classified.table(), PushTable::AndroidV2);
        prop_assert_eq!(classified.outcome().is_some(), !(200..300).contains(&status));
    }

    #[test]
    fn oauth_answers_land_on_one_android_v2_row(status in any::<u16>(), body in bodies()) {
        let classified = oauth::classify(&OAuthResult::Response { status, body: &body });
        prop_assert_eq!(classified.table(), PushTable::AndroidV2);
        prop_assert_eq!(classified.status(), SendStatus::Failed);
    }

    #[test]
    fn nested_json_bodies_never_panic(value in arbitrary_json(), status in 100u16..600) {
        let body = value.to_string().into_bytes();
        let _ = apns::classify(&ApnsResult::Response { status, body: &body });
        let _ = fcm::classify(&FcmResult::Response { status, body: &body });
        let _ = oauth::classify(&OAuthResult::Response { status, body: &body });
    }
}
