//! `pushgate outcome`: list the outcome table, or classify one raw provider result.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{ArgGroup, Args, Subcommand, ValueEnum};
use pushgate_outcome::apns::{self, ApnsResult, Transport};
use pushgate_outcome::fcm::{self, ErrorCode, FcmResult};
use pushgate_outcome::legacy::{self, BaiduResult, LegacyFcmResult};
use pushgate_outcome::oauth::{self, OAuthResult};
use pushgate_outcome::{Classification, OUTCOMES, Outcome};

use super::UsageError;

/// `pushgate outcome ...`
#[derive(Debug, Subcommand)]
pub enum OutcomeCommand {
    /// Print every row of the push outcome tables (APNs, FCM, legacy FCM, Baidu).
    List {
        /// Output format: tab-separated with a header line, or a JSON array.
        #[arg(long, value_enum, default_value_t = ListFormat::Tsv)]
        format: ListFormat,
    },
    /// Classify one raw provider result: prints its row as one JSON object
    /// (id, table, status, failure_type, failure_reason, retry, error_message).
    #[command(subcommand)]
    Classify(ClassifyCommand),
}

/// The formats of `outcome list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    /// Tab-separated: id, table, scenario, status, error_message, failure_type,
    /// failure_reason, retry; `-` for a blank.
    Tsv,
    /// A JSON array of rows (with their wire conditions).
    Json,
}

/// The providers whose results can be classified.
#[derive(Debug, Subcommand)]
pub enum ClassifyCommand {
    /// An APNs answer (HTTP status and reason), a transport failure, or a pre-send problem.
    Apns(ApnsArgs),
    /// An FCM HTTP v1 answer (HTTP status and errorCode or raw body), a transport failure,
    /// or a pre-send problem.
    Fcm(FcmArgs),
    /// A failed request to the Google OAuth token endpoint.
    FcmAuth(FcmAuthArgs),
    /// An error string of the legacy FCM API (Android V1).
    FcmLegacy(FcmLegacyArgs),
    /// A Baidu failure.
    Baidu(BaiduArgs),
}

/// How a connection failed before any answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TransportKind {
    /// The connection could not be made.
    Connect,
    /// The stream or connection was reset.
    Reset,
    /// The server sent GOAWAY before answering.
    Goaway,
    /// No answer before the timeout.
    Timeout,
    /// The TLS handshake or ALPN negotiation failed (APNs only).
    Tls,
}

/// APNs problems found before sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ApnsPreSend {
    /// The payload is over 4096 bytes (5120 for voip).
    PayloadTooLarge,
    /// The notification cannot be built (needs --detail).
    ContentFormat,
    /// The key or certificate is unreadable or invalid (needs --detail).
    Certificate,
}

/// `pushgate outcome classify apns`
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("result").required(true).args(["status", "transport", "pre_send"])))]
pub struct ApnsArgs {
    /// HTTP status of APNs' answer, e.g. 410.
    #[arg(long)]
    pub status: Option<u16>,
    /// The `reason` of the answer's body, e.g. Unregistered.
    #[arg(long, requires = "status", conflicts_with = "body")]
    pub reason: Option<String>,
    /// A file holding the raw answer body.
    #[arg(long, requires = "status")]
    pub body: Option<PathBuf>,
    /// A connection failure before any answer.
    #[arg(long, value_enum)]
    pub transport: Option<TransportKind>,
    /// A problem found before sending.
    #[arg(long, value_enum)]
    pub pre_send: Option<ApnsPreSend>,
    /// What is wrong, for --pre-send content-format or certificate.
    #[arg(long)]
    pub detail: Option<String>,
}

/// FCM problems found before sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FcmPreSend {
    /// `data` uses reserved keys (needs --keys).
    IllegalKeyword,
    /// The message is over 4096 bytes (needs --size).
    PayloadTooLarge,
}

/// `pushgate outcome classify fcm`
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("result").required(true).args(["status", "transport", "pre_send"])))]
pub struct FcmArgs {
    /// HTTP status of FCM's answer, e.g. 404.
    #[arg(long)]
    pub status: Option<u16>,
    /// The FcmError detail's errorCode, e.g. UNREGISTERED.
    #[arg(long, requires = "status", conflicts_with = "body")]
    pub error_code: Option<String>,
    /// The google.rpc canonical status, for an answer without an FcmError detail
    /// (e.g. UNAUTHENTICATED); defaults to the errorCode's own.
    #[arg(long, requires = "status", conflicts_with = "body")]
    pub canonical: Option<String>,
    /// A file holding the raw answer body.
    #[arg(long, requires = "status")]
    pub body: Option<PathBuf>,
    /// A connection failure before any answer (tls is not an FCM condition).
    #[arg(long, value_enum)]
    pub transport: Option<TransportKind>,
    /// The address that did not answer, for --transport connect, reset or goaway.
    #[arg(long, default_value = "fcm.googleapis.com:443")]
    pub address: String,
    /// A problem found before sending.
    #[arg(long, value_enum)]
    pub pre_send: Option<FcmPreSend>,
    /// The reserved keys used, comma-separated, for --pre-send illegal-keyword.
    #[arg(long, value_delimiter = ',')]
    pub keys: Vec<String>,
    /// The message size in bytes, for --pre-send payload-too-large.
    #[arg(long)]
    pub size: Option<usize>,
}

/// `pushgate outcome classify fcm-auth`
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("result").required(true).args(["error", "body", "transport"])))]
pub struct FcmAuthArgs {
    /// The `error` of the token endpoint's answer, e.g. invalid_grant.
    #[arg(long, conflicts_with = "body")]
    pub error: Option<String>,
    /// The `error_description`, e.g. "Invalid JWT Signature.".
    #[arg(long, requires = "error")]
    pub description: Option<String>,
    /// A file holding the raw answer body.
    #[arg(long)]
    pub body: Option<PathBuf>,
    /// HTTP status of the answer.
    #[arg(long, default_value_t = 400)]
    pub status: u16,
    /// The token endpoint could not be reached, reset, or timed out.
    #[arg(long)]
    pub transport: bool,
}

/// `pushgate outcome classify fcm-legacy`
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("result").required(true).args(["error", "transport"])))]
pub struct FcmLegacyArgs {
    /// The legacy error string, e.g. NotRegistered.
    #[arg(long)]
    pub error: Option<String>,
    /// The connection to the legacy endpoint failed.
    #[arg(long)]
    pub transport: bool,
}

/// The kinds of Baidu failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BaiduKind {
    /// Cannot connect when the delivery starts.
    ConnectAtStart,
    /// Connection lost during the delivery.
    ConnectionLost,
    /// An error in the send response.
    SyncError,
}

/// `pushgate outcome classify baidu`
#[derive(Debug, Args)]
pub struct BaiduArgs {
    /// Which failure.
    #[arg(long, value_enum)]
    pub kind: BaiduKind,
}

/// Runs `pushgate outcome ...`, writing to `out`.
pub fn run(command: OutcomeCommand, out: &mut impl Write) -> anyhow::Result<()> {
    match command {
        OutcomeCommand::List { format } => list(format, out),
        OutcomeCommand::Classify(classify) => {
            let classification = match classify {
                ClassifyCommand::Apns(args) => classify_apns(&args)?,
                ClassifyCommand::Fcm(args) => classify_fcm(&args)?,
                ClassifyCommand::FcmAuth(args) => classify_fcm_auth(&args)?,
                ClassifyCommand::FcmLegacy(args) => classify_fcm_legacy(&args),
                ClassifyCommand::Baidu(args) => classify_baidu(&args),
            };
            serde_json::to_writer(&mut *out, &classification.summary())?;
            writeln!(out)?;
            Ok(())
        }
    }
}

fn list(format: ListFormat, out: &mut impl Write) -> anyhow::Result<()> {
    match format {
        ListFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, OUTCOMES.as_slice())?;
            writeln!(out)?;
        }
        ListFormat::Tsv => {
            writeln!(
                out,
                "id\ttable\tscenario\tstatus\terror_message\tfailure_type\tfailure_reason\tretry"
            )?;
            for outcome in &OUTCOMES {
                writeln!(out, "{}", tsv_line(outcome))?;
            }
        }
    }
    Ok(())
}

/// One row as the spec file spells it, `-` for a blank.
fn tsv_line(outcome: &Outcome) -> String {
    let blank = |value: Option<&str>| value.unwrap_or("-").to_owned();
    let retry = outcome.retry.map(|r| if r { "Yes" } else { "No" });
    [
        outcome.id.as_str().to_owned(),
        outcome.table.as_str().to_owned(),
        outcome.scenario.to_owned(),
        outcome.status.as_str().to_owned(),
        blank(outcome.error_message.spec_text()),
        blank(outcome.failure_type.map(|t| t.as_str())),
        blank(outcome.failure_reason.map(|r| r.label())),
        blank(retry),
    ]
    .join("\t")
}

fn read_body(path: &Path) -> Result<Vec<u8>, UsageError> {
    std::fs::read(path)
        .map_err(|e| UsageError(format!("cannot read --body file {}: {e}", path.display())))
}

fn required<'a, T>(value: &'a Option<T>, what: &str) -> Result<&'a T, UsageError> {
    value
        .as_ref()
        .ok_or_else(|| UsageError(format!("{what} is required here")))
}

fn classify_apns(args: &ApnsArgs) -> Result<Classification, UsageError> {
    if let Some(kind) = args.transport {
        let transport = match kind {
            TransportKind::Connect => Transport::Connect,
            TransportKind::Reset => Transport::Reset,
            TransportKind::Goaway => Transport::GoAway,
            TransportKind::Timeout => Transport::Timeout,
            TransportKind::Tls => {
                let detail = args.detail.as_deref().unwrap_or("TLS handshake failed");
                return Ok(apns::classify(&ApnsResult::Credentials { detail }));
            }
        };
        return Ok(apns::classify(&ApnsResult::Transport(transport)));
    }
    if let Some(pre_send) = args.pre_send {
        let detail = || required(&args.detail, "--detail (with this --pre-send)");
        let result = match pre_send {
            ApnsPreSend::PayloadTooLarge => ApnsResult::PayloadTooLarge {
                size: apns::PAYLOAD_LIMIT + 1,
                limit: apns::PAYLOAD_LIMIT,
            },
            ApnsPreSend::ContentFormat => ApnsResult::ContentFormat { detail: detail()? },
            ApnsPreSend::Certificate => ApnsResult::Credentials { detail: detail()? },
        };
        return Ok(apns::classify(&result));
    }
    let status = *required(&args.status, "--status")?;
    let body = match (&args.reason, &args.body) {
        (Some(reason), _) => serde_json::json!({ "reason": reason })
            .to_string()
            .into_bytes(),
        (None, Some(path)) => read_body(path)?,
        (None, None) => Vec::new(),
    };
    Ok(apns::classify(&ApnsResult::Response {
        status,
        body: &body,
    }))
}

fn classify_fcm(args: &FcmArgs) -> Result<Classification, UsageError> {
    if let Some(kind) = args.transport {
        let result = match kind {
            TransportKind::Connect | TransportKind::Reset | TransportKind::Goaway => {
                FcmResult::ConnectionLost {
                    address: &args.address,
                }
            }
            TransportKind::Timeout => FcmResult::Timeout,
            TransportKind::Tls => {
                return Err(UsageError(
                    "--transport tls is an APNs condition; FCM has no row for it".to_owned(),
                ));
            }
        };
        return Ok(fcm::classify(&result));
    }
    if let Some(pre_send) = args.pre_send {
        let result = match pre_send {
            FcmPreSend::IllegalKeyword if args.keys.is_empty() => {
                return Err(UsageError(
                    "--keys is required with --pre-send illegal-keyword".to_owned(),
                ));
            }
            FcmPreSend::IllegalKeyword => FcmResult::IllegalKeywords { keys: &args.keys },
            FcmPreSend::PayloadTooLarge => FcmResult::PayloadTooLarge {
                size: *required(&args.size, "--size (with --pre-send payload-too-large)")?,
                limit: fcm::MESSAGE_LIMIT,
            },
        };
        return Ok(fcm::classify(&result));
    }
    let status = *required(&args.status, "--status")?;
    let body = match (&args.error_code, &args.canonical, &args.body) {
        (_, _, Some(path)) => read_body(path)?,
        (None, None, None) => Vec::new(),
        (code, canonical, None) => rpc_status_body(status, code.as_deref(), canonical.as_deref()),
    };
    Ok(fcm::classify(&FcmResult::Response {
        status,
        body: &body,
    }))
}

/// A google.rpc.Status body as FCM sends it, with an FcmError detail when a code is given.
fn rpc_status_body(status: u16, code: Option<&str>, canonical: Option<&str>) -> Vec<u8> {
    let canonical = canonical.or_else(|| code.and_then(ErrorCode::parse).map(|c| c.http().1));
    let mut error = serde_json::json!({ "code": status, "message": "" });
    if let Some(canonical) = canonical {
        error["status"] = canonical.into();
    }
    if let Some(code) = code {
        error["details"] = serde_json::json!([{ "@type": fcm::FCM_ERROR_TYPE, "errorCode": code }]);
    }
    serde_json::json!({ "error": error })
        .to_string()
        .into_bytes()
}

fn classify_fcm_auth(args: &FcmAuthArgs) -> Result<Classification, UsageError> {
    if args.transport {
        return Ok(oauth::classify(&OAuthResult::Transport));
    }
    let body = match (&args.error, &args.body) {
        (_, Some(path)) => read_body(path)?,
        (Some(error), None) => serde_json::json!({
            "error": error,
            "error_description": args.description.as_deref().unwrap_or(""),
        })
        .to_string()
        .into_bytes(),
        (None, None) => Vec::new(),
    };
    Ok(oauth::classify(&OAuthResult::Response {
        status: args.status,
        body: &body,
    }))
}

fn classify_fcm_legacy(args: &FcmLegacyArgs) -> Classification {
    let result = match &args.error {
        Some(error) if !args.transport => LegacyFcmResult::Error(error),
        _ => LegacyFcmResult::ConnectionFailure,
    };
    legacy::classify_legacy_fcm(&result)
}

fn classify_baidu(args: &BaiduArgs) -> Classification {
    legacy::classify_baidu(match args.kind {
        BaiduKind::ConnectAtStart => BaiduResult::ConnectAtStart,
        BaiduKind::ConnectionLost => BaiduResult::ConnectionLost,
        BaiduKind::SyncError => BaiduResult::SyncError,
    })
}
