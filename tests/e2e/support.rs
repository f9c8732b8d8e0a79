//! The harness: the mocks in-process (library), a fresh database (SQLite, or PostgreSQL
//! for the variant), a configuration file with explicit credentials from the mocks'
//! fixtures (not mock mode), and the real `pushgate` binary started with `serve` on port
//! 0. The server is killed when its guard goes, also when a test panics.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use pushgate_mocks::{ApnsKey, MockConfig, MockServers, ServiceAccount};
use pushgate_store::Store;
use pushgate_store::testing::TestDatabase;
use serde_json::{Value, json};

/// The admin key of the test configurations.
pub const ADMIN_KEY: &str = "pg_e2e_admin";
/// The key of `ios-app` only.
pub const IOS_KEY: &str = "pg_e2e_ios_only";
/// The key of `android-app` only.
pub const ANDROID_KEY: &str = "pg_e2e_android_only";

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in the test's folder.
    Sqlite,
    /// A database of its own on the test PostgreSQL server.
    Postgres,
}

/// Everything one test needs: mocks, database, configuration, and the server.
pub struct World {
    pub mocks: MockServers,
    pub db: TestDatabase,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub http: reqwest::Client,
}

fn sha256(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

impl World {
    /// A world on SQLite.
    pub async fn new() -> Self {
        Self::with(Backend::Sqlite, "")
            .await
            .expect("SQLite is always there")
    }

    /// A world on `backend` (`None`: PostgreSQL is unreachable and this is not CI), with
    /// `extra` TOML appended to the configuration.
    pub async fn with(backend: Backend, extra: &str) -> Option<Self> {
        let db = match backend {
            Backend::Sqlite => TestDatabase::sqlite().await,
            Backend::Postgres => TestDatabase::postgres().await?,
        };
        let dir = tempfile::tempdir().expect("a temporary folder");
        let key = ApnsKey::generate("E2EKEY0001", "E2ETEAM001").expect("an APNs key");
        let mut config = MockConfig::default();
        config.apns.keys.push(key.mock_key());
        let mocks = MockServers::start(config).await.expect("the mocks start");
        let p8 = key.write_p8(dir.path()).expect("the .p8 is written");
        let account = ServiceAccount::generate(
            "e2e@e2e-project.iam.gserviceaccount.com",
            "e2e-project",
            mocks.oauth_token_url(),
        )
        .expect("a service account");
        mocks
            .add_oauth_account(&account.mock_account())
            .expect("the account is registered");
        let sa = account
            .write_key_file(dir.path(), "service-account.json")
            .expect("the key file is written");
        let text = format!(
            r#"database_url = "{url}"
listen = "127.0.0.1:0"
node = "e2e"

[pipeline]
idle_poll_ms = 50
write_interval_ms = 5
lease_secs = 5
drain_timeout_secs = 10

[retry]
initial_backoff_secs = 1
max_backoff_secs = 1
jitter = 0.0

[analysis]
poll_ms = 100

[[api_keys]]
name = "admin"
sha256 = "{admin}"

[[api_keys]]
name = "ios-backend"
sha256 = "{ios}"
app = "ios-app"

[[api_keys]]
name = "android-backend"
sha256 = "{android}"
app = "android-app"

[[apps]]
id = "ios-app"
platform = "ios"
[apps.apns]
endpoint = "{apns_url}"
topic = "com.example.e2e"
trust_roots = "{ca}"
auth = {{ kind = "token", key_file = "{p8}", key_id = "E2EKEY0001", team_id = "E2ETEAM001" }}

[[apps]]
id = "other-ios"
platform = "ios"
[apps.apns]
endpoint = "{apns_url}"
topic = "com.example.other"
trust_roots = "{ca}"
auth = {{ kind = "token", key_file = "{p8}", key_id = "E2EKEY0001", team_id = "E2ETEAM001" }}

[[apps]]
id = "android-app"
platform = "android"
[apps.fcm]
service_account_file = "{sa}"
base_url = "{fcm_url}"
token_uri = "{token_url}"
trust_roots = "{ca}"
[apps.fcm.retry]
max_retries = 0
quota_min_backoff_secs = 1
{extra}
"#,
            url = db.url,
            admin = sha256(ADMIN_KEY),
            ios = sha256(IOS_KEY),
            android = sha256(ANDROID_KEY),
            apns_url = mocks.apns_url(),
            fcm_url = mocks.fcm_url(),
            token_url = mocks.oauth_token_url(),
            ca = mocks.ca_path().display(),
            p8 = p8.display(),
            sa = sa.display(),
        );
        let config = dir.path().join("pushgate.toml");
        std::fs::write(&config, text).expect("the configuration is written");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("an HTTP client");
        Some(Self {
            mocks,
            db,
            dir,
            config,
            http,
        })
    }

    /// The store, to look at what was (not) written.
    pub fn store(&self) -> &Store {
        &self.db.store
    }

    /// Runs a one-shot `pushgate` command with this configuration, off the test's
    /// runtime thread (the in-process mocks keep answering meanwhile).
    pub async fn cli(&self, args: &[&str]) -> Output {
        let config = self.config.clone();
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        tokio::task::spawn_blocking(move || {
            command(&config)
                .args(&args)
                .output()
                .expect("the pushgate binary runs")
        })
        .await
        .expect("the command's thread")
    }

    /// Starts `pushgate serve` and waits for its address.
    pub fn serve(&self) -> Server {
        self.serve_with(&[])
    }

    /// Starts `pushgate serve` with these environment variables.
    pub fn serve_with(&self, env: &[(&str, &str)]) -> Server {
        Server::start(&self.config, env, &self.dir.path().join("serve.log"))
    }
}

/// `pushgate --config FILE` with a clean environment of ours.
pub fn command(config: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pushgate"));
    command.arg("--config").arg(config);
    for (name, _) in std::env::vars() {
        if name.starts_with("PUSHGATE_") {
            command.env_remove(name);
        }
    }
    command.env("RUST_LOG", "info,pushgate_mocks=warn");
    command
}

/// A running `pushgate serve`, killed when dropped.
pub struct Server {
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    pub log: PathBuf,
}

impl Server {
    /// Starts the binary and reads `{"listen": ...}` from its standard output.
    pub fn start(config: &Path, env: &[(&str, &str)], log: &Path) -> Self {
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("the log file opens");
        let mut child = command(config)
            .envs(env.iter().copied())
            .arg("serve")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .spawn()
            .expect("pushgate serve starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        let read = BufReader::new(stdout).read_line(&mut line);
        let listen = read
            .ok()
            .and_then(|_| serde_json::from_str::<Value>(&line).ok())
            .and_then(|v| v["listen"].as_str().map(str::to_owned));
        let Some(listen) = listen else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "pushgate serve did not print its address: {line:?}\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        };
        Self {
            child,
            base: format!("http://{listen}"),
            log: log.to_owned(),
        }
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends SIGTERM and waits (at most `limit`) for the exit status.
    pub fn terminate(mut self, limit: Duration) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -TERM {pid}");
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            assert!(
                started.elapsed() < limit,
                "pushgate did not exit within {limit:?} of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// An answer: status and JSON body (or the text, as a JSON string).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub text: String,
    pub headers: reqwest::header::HeaderMap,
}

impl Answer {
    /// The error's code, field and message.
    pub fn error(&self) -> (&str, Option<&str>, &str) {
        let error = &self.body["error"];
        (
            error["code"].as_str().unwrap_or("<no code>"),
            error["field"].as_str(),
            error["message"].as_str().unwrap_or("<no message>"),
        )
    }
}

/// Sends a request with an optional key and JSON body.
pub async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> Answer {
    let mut request = http.request(method, url);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("a body");
    let body = serde_json::from_str(&text).unwrap_or_else(|_| json!(text));
    Answer {
        status,
        body,
        text,
        headers,
    }
}

/// GET with the admin key.
pub async fn get(world: &World, server: &Server, path: &str) -> Answer {
    call(
        &world.http,
        reqwest::Method::GET,
        &server.url(path),
        Some(ADMIN_KEY),
        None,
    )
    .await
}

/// POST JSON with the admin key.
pub async fn post(world: &World, server: &Server, path: &str, body: Value) -> Answer {
    call(
        &world.http,
        reqwest::Method::POST,
        &server.url(path),
        Some(ADMIN_KEY),
        Some(body),
    )
    .await
}

/// Registers `token` for `profile` in `app`; panics unless 200/201.
pub async fn register(
    world: &World,
    server: &Server,
    app: &str,
    profile: &str,
    token: &str,
) -> Value {
    let answer = post(
        world,
        server,
        &format!("/v1/apps/{app}/subscriptions"),
        json!({"profile": profile, "token": token}),
    )
    .await;
    assert!(matches!(answer.status, 200 | 201), "{answer:?}");
    answer.body
}

/// Creates a delivery; panics unless 202. Returns its id.
pub async fn deliver(world: &World, server: &Server, app: &str, body: Value) -> String {
    let answer = post(world, server, &format!("/v1/apps/{app}/deliveries"), body).await;
    assert_eq!(answer.status, 202, "{answer:?}");
    answer.body["id"].as_str().expect("an id").to_owned()
}

/// Waits (at most a minute) until the delivery's state is `done`; returns its summary.
pub async fn wait_done(world: &World, server: &Server, id: &str) -> Value {
    let started = Instant::now();
    loop {
        let answer = get(world, server, &format!("/v1/deliveries/{id}")).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        if answer.body["delivery"]["state"] == "done" {
            return answer.body["summary"].clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "delivery {id} not done: {}\n{}",
            answer.body,
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A hex token for tests: `prefix` then a number, padded to 64 hex digits.
pub fn ios_token(prefix: &str, n: usize) -> String {
    format!("{prefix}{n:0>width$x}", width = 64 - prefix.len())
}
