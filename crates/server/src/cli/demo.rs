//! `pushgate demo`: the bundled mocks, a temporary SQLite database, one iOS and one
//! Android app, about 1,000 subscriptions among which the mocks reject some, a delivery per
//! app, the opt-out sweep, a second delivery per app; then the summaries, the second
//! deliveries' exclusions and the quarantine lists. Everything runs in this process and
//! is gone when it exits.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use anyhow::Context;
use chrono::Utc;
use clap::Args;
use pushgate_dispatch::notification::Notification;
use pushgate_mocks::{Answer, MockServers, Rule};
use pushgate_outcome::fcm::ErrorCode;
use pushgate_store::addresses::AddressFilter;
use pushgate_store::jobs::Job;
use pushgate_store::reports::{DeliverySummary, ExclusionFilter};
use pushgate_store::{NewDelivery, Page, Platform, Target};
use secrecy::SecretString;

use super::send::deliver_all;
use crate::app::Pushgate;
use crate::config::{AppConfig, Config, MocksConfig};
use crate::render::{self, Rows};

/// `pushgate demo`
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Subscriptions per app (two apps).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(100..=100_000))]
    pub subscriptions: u32,
}

const IOS: &str = "demo-ios";
const ANDROID: &str = "demo-android";

/// What the mocks are scripted to do, by token prefix, and how many tokens of each.
struct Cohort {
    app: &'static str,
    prefix: &'static str,
    count: usize,
    what: &'static str,
}

const COHORTS: [Cohort; 6] = [
    Cohort {
        app: IOS,
        prefix: "dead",
        count: 20,
        what: "APNs 410 Unregistered: quarantined at once",
    },
    Cohort {
        app: IOS,
        prefix: "bad0",
        count: 10,
        what: "APNs 403 InvalidProviderToken (an auth failure): soft, counted",
    },
    Cohort {
        app: ANDROID,
        prefix: "fcm-gone-",
        count: 15,
        what: "FCM UNREGISTERED: quarantined at once",
    },
    Cohort {
        app: ANDROID,
        prefix: "fcm-busy-",
        count: 10,
        what: "FCM 503 on every attempt: soft, retried, quarantined at the 5th error",
    },
    Cohort {
        app: ANDROID,
        prefix: "fcm-quota-",
        count: 10,
        what: "FCM QUOTA_EXCEEDED twice, then accepted: retried and sent",
    },
    Cohort {
        app: ANDROID,
        prefix: "fcm-ok-",
        count: 0,
        what: "accepted",
    },
];

/// Profiles put on the push denylist (their tokens are excluded, reason 8).
const DENYLISTED: usize = 5;

fn demo_config(dir: &Path) -> Config {
    let mut config = Config {
        database_url: SecretString::from(format!("sqlite:{}", dir.join("demo.db").display())),
        node: Some("demo".to_owned()),
        mocks: MocksConfig {
            enabled: true,
            dir: dir.join("mocks"),
        },
        apps: [(IOS, Platform::Ios), (ANDROID, Platform::Android)]
            .into_iter()
            .map(|(id, platform)| AppConfig {
                id: id.to_owned(),
                platform,
                apns: None,
                fcm: None,
            })
            .collect(),
        base_dir: dir.to_owned(),
        ..Config::default()
    };
    // Short waits, so that retries and the soft-error threshold show within seconds.
    config.retry.initial_backoff_secs = 1;
    config.retry.max_backoff_secs = 1;
    config.retry.jitter = 0.0;
    config.pipeline.idle_poll_ms = 20;
    config.pipeline.write_interval_ms = 5;
    config.analysis.batch_size = 1000;
    config
}

/// A token of the cohort: iOS tokens are hex, Android tokens FCM-like.
fn token(app: &str, prefix: &str, n: usize) -> String {
    if app == IOS {
        format!("{prefix}{n:0>width$x}", width = 64 - prefix.len())
    } else {
        format!("{prefix}{n:06}-{}", "x".repeat(140))
    }
}

fn script(mocks: &MockServers) -> anyhow::Result<()> {
    let scenarios = mocks.scenarios();
    scenarios.add(Rule::apns_prefix("dead", Answer::apns(410, "Unregistered")))?;
    scenarios.add(Rule::apns_prefix(
        "bad0",
        Answer::apns(403, "InvalidProviderToken"),
    ))?;
    scenarios.add(Rule::fcm_prefix(
        "fcm-gone-",
        Answer::fcm(ErrorCode::Unregistered),
    ))?;
    scenarios.add(Rule::fcm_prefix("fcm-busy-", Answer::raw(503, "")))?;
    scenarios
        .add(Rule::fcm_prefix("fcm-quota-", Answer::fcm(ErrorCode::QuotaExceeded)).times(2))?;
    Ok(())
}

/// The subscriptions: per app, the scripted cohorts then accepted tokens up to `total`.
fn subscriptions(app: &'static str, total: usize) -> Vec<(String, String)> {
    let mut pairs = Vec::with_capacity(total);
    let ok = if app == IOS { "a0" } else { "fcm-ok-" };
    for cohort in COHORTS.iter().filter(|c| c.app == app && c.count > 0) {
        for n in 0..cohort.count {
            pairs.push(token(app, cohort.prefix, n));
        }
    }
    let mut n = 0;
    while pairs.len() < total {
        pairs.push(token(app, ok, n));
        n += 1;
    }
    pairs
        .into_iter()
        .enumerate()
        .map(|(i, token)| (format!("{app}-user-{i:04}"), token))
        .collect()
}

/// Runs the demo.
pub async fn run(args: DemoArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let dir = tempfile::tempdir().context("cannot create a temporary folder")?;
    writeln!(
        out,
        "pushgate demo: mock APNs/FCM in this process, SQLite in {}",
        dir.path().display()
    )?;
    let pushgate = Pushgate::build(demo_config(dir.path())).await?;
    let result = story(&pushgate, args.subscriptions as usize, out).await;
    pushgate.shutdown().await;
    drop(dir);
    result
}

async fn story(pushgate: &Pushgate, per_app: usize, out: &mut impl Write) -> anyhow::Result<()> {
    let store = &pushgate.store;
    let mocks = pushgate
        .mocks
        .as_ref()
        .context("the demo runs in mock mode")?;
    script(&mocks.servers)?;
    let now = Utc::now();
    for app in [IOS, ANDROID] {
        store
            .import_subscriptions(app, &subscriptions(app, per_app), now)
            .await?;
        for i in 0..DENYLISTED {
            let profile = format!("{app}-user-{:04}", per_app - 1 - i);
            store
                .set_profile_denylisted(app, &profile, true, now)
                .await?;
        }
    }
    writeln!(
        out,
        "\n{} subscriptions in two apps; the mocks are scripted to answer:",
        per_app * 2
    )?;
    let mut cohorts = Rows {
        header: vec!["app", "token prefix", "tokens", "the mock answers"],
        rows: Vec::new(),
    };
    for c in &COHORTS {
        let count = if c.count == 0 {
            "the rest".to_owned()
        } else {
            c.count.to_string()
        };
        cohorts.rows.push(vec![
            c.app.to_owned(),
            c.prefix.to_owned(),
            count,
            c.what.to_owned(),
        ]);
    }
    cohorts.rows.push(vec![
        "both".into(),
        "-".into(),
        format!("{DENYLISTED} per app"),
        "profiles on the push denylist: excluded before sending".into(),
    ]);
    write!(out, "{}", cohorts.table())?;

    writeln!(
        out,
        "\n1. First delivery to every subscriber of each app (validity 6 s; retries every 1 s)"
    )?;
    let first = round(pushgate).await?;
    writeln!(
        out,
        "\n2. The opt-out sweep, then an operator releases 5 unregistered iOS tokens"
    )?;
    let sweep = pushgate.jobs.run(Job::OptoutSweep).await?;
    writeln!(
        out,
        "   opt-out sweep: {} subscription(s) of unregistered tokens disabled",
        sweep.map_or(0, |r| r.changed)
    )?;
    for n in 0..5 {
        store
            .release_address(IOS, &token(IOS, "dead", n), Utc::now())
            .await?;
    }
    writeln!(
        out,
        "   released 5 addresses (their subscriptions stay disabled until re-registered)"
    )?;
    writeln!(out, "\n3. Second delivery to every subscriber of each app")?;
    let second = round(pushgate).await?;

    writeln!(out, "\nDelivery summaries")?;
    write!(out, "{}", side_by_side(&first, &second).table())?;
    for (app, summary) in &second {
        writeln!(out, "\nExclusions of the second {app} delivery, by reason")?;
        let mut by_reason = Rows {
            header: vec!["reason", "value", "why", "count"],
            rows: Vec::new(),
        };
        for e in &summary.excluded_by_reason {
            by_reason.rows.push(vec![
                e.reason.label().to_owned(),
                e.reason.value().to_string(),
                e.kind.as_str().to_owned(),
                e.count.to_string(),
            ]);
        }
        write!(out, "{}", by_reason.table())?;
        let filter = ExclusionFilter {
            delivery_id: Some(summary.delivery_id.clone()),
            ..ExclusionFilter::default()
        };
        let rows = store
            .exclusions(app, &filter, Page { after: 0, limit: 8 })
            .await?;
        writeln!(out, "first rows of the exclusion log:")?;
        write!(out, "{}", render::exclusions(&rows, true).table())?;
    }
    for app in [IOS, ANDROID] {
        let list = store
            .addresses(app, &AddressFilter::default(), None, 1000)
            .await?;
        writeln!(out, "\nQuarantine list of {app} ({} addresses)", list.len())?;
        let mut rows = render::addresses(&list, true);
        rows.rows
            .sort_by(|a, b| b[1].cmp(&a[1]).then(a[0].cmp(&b[0])));
        let shown = group(&rows);
        write!(out, "{}", shown.table())?;
    }
    writeln!(
        out,
        "\nDone: the mocks are stopped and the temporary folder is removed."
    )?;
    Ok(())
}

/// One delivery to every subscriber of each app, both sent at once; their summaries.
async fn round(pushgate: &Pushgate) -> anyhow::Result<Vec<(&'static str, DeliverySummary)>> {
    let notification = Notification {
        title: Some("Hello from pushgate".to_owned()),
        body: Some("This is the demo".to_owned()),
        data: BTreeMap::from([("campaign".to_owned(), "demo".to_owned())]),
        ..Notification::default()
    };
    let new = |app: &str| NewDelivery {
        app_id: app.to_owned(),
        notification: serde_json::to_value(&notification).unwrap_or_default(),
        target: Target::All,
        dry_run: false,
        validity_secs: 6,
        requested_validity_secs: 6,
    };
    let mut summaries = deliver_all(pushgate, &[new(IOS), new(ANDROID)]).await?;
    let android = summaries.pop().context("no android summary")?;
    let ios = summaries.pop().context("no ios summary")?;
    Ok(vec![(IOS, ios), (ANDROID, android)])
}

/// The summaries as columns: measure, then each app's first and second delivery.
fn side_by_side(
    first: &[(&'static str, DeliverySummary)],
    second: &[(&'static str, DeliverySummary)],
) -> Rows {
    let columns: Vec<Rows> = first
        .iter()
        .zip(second)
        .flat_map(|((_, a), (_, b))| [render::summary(a), render::summary(b)])
        .collect();
    // Every measure of any column, each placed after the measure it follows in its own
    // column, so that "excluded: ..." lines stay under "excluded".
    let mut measures: Vec<String> = Vec::new();
    for column in &columns {
        let mut previous: Option<usize> = None;
        for row in &column.rows {
            let at = match measures.iter().position(|m| m == &row[0]) {
                Some(at) => at,
                None => {
                    let at = previous.map_or(measures.len(), |p| p + 1);
                    measures.insert(at, row[0].clone());
                    at
                }
            };
            previous = Some(at);
        }
    }
    let measures: Vec<String> = measures
        .into_iter()
        .filter(|m| m != "delivery" && m != "app" && m != "dry run" && m != "validity (s)")
        .collect();
    let rows = measures
        .iter()
        .map(|measure| {
            let mut row = vec![measure.clone()];
            for column in &columns {
                let value = column
                    .rows
                    .iter()
                    .find(|r| &r[0] == measure)
                    .map_or("0".to_owned(), |r| r[1].clone());
                row.push(value);
            }
            row
        })
        .collect();
    Rows {
        header: vec!["measure", "ios #1", "ios #2", "android #1", "android #2"],
        rows,
    }
}

/// Rows of the quarantine list that look alike: status, failure type, reason, last error.
type GroupKey = (String, String, String, String);
/// How many, an example token, its error count.
type GroupValue = (usize, String, String);

/// The quarantine list grouped by (status, failure type, reason, last error): count and an
/// example token.
fn group(list: &Rows) -> Rows {
    let mut groups: BTreeMap<GroupKey, GroupValue> = BTreeMap::new();
    for row in &list.rows {
        let key = (
            row[1].clone(),
            row[3].clone(),
            row[4].clone(),
            row[5].clone(),
        );
        let entry = groups
            .entry(key)
            .or_insert((0, row[0].clone(), row[2].clone()));
        entry.0 += 1;
    }
    Rows {
        header: vec![
            "status",
            "failure type",
            "reason",
            "errors",
            "addresses",
            "example token",
            "last error",
        ],
        rows: groups
            .into_iter()
            .map(
                |((status, kind, reason, error), (count, example, errors))| {
                    vec![
                        status,
                        kind,
                        reason,
                        errors,
                        count.to_string(),
                        example,
                        error,
                    ]
                },
            )
            .collect(),
    }
}
