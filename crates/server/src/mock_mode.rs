//! Mock mode (`[mocks] enabled = true`): the bundled APNs, FCM and OAuth mocks start
//! in-process, with credentials kept in `[mocks] dir` (generated once, reused after), and
//! every app is pointed at them. For trying pushgate out: nothing reaches Apple or Google.

use std::path::{Path, PathBuf};

use anyhow::Context;
use pushgate_mocks::{
    ApnsKey, KeySource, MockCa, MockConfig, MockServers, OAuthAccountConfig, ServiceAccount,
};

/// The mock APNs key's id and team.
pub const MOCK_KEY_ID: &str = "MOCKKEY001";
/// The mock APNs key's team.
pub const MOCK_TEAM_ID: &str = "MOCKTEAM01";
/// The mock Firebase project.
pub const MOCK_PROJECT: &str = "demo-project";
/// The mock service account.
pub const MOCK_CLIENT_EMAIL: &str = "pushgate@demo-project.iam.gserviceaccount.com";

/// Where the running mocks are and the credentials that work with them.
#[derive(Debug, Clone)]
pub struct MockCredentials {
    /// The APNs `.p8` key file.
    pub apns_key_file: PathBuf,
    /// The service account's JSON key file.
    pub service_account_file: PathBuf,
    /// The mock CA, PEM file: the trust root for every mock.
    pub ca_file: PathBuf,
    /// `https://127.0.0.1:PORT` of the mock APNs.
    pub apns_url: String,
    /// `https://127.0.0.1:PORT` of the mock FCM.
    pub fcm_url: String,
    /// The mock OAuth token URL.
    pub oauth_token_url: String,
}

/// The running mocks and their credentials.
pub struct RunningMocks {
    /// The servers (scripting, stats, shutdown).
    pub servers: MockServers,
    /// What a sender needs to use them.
    pub credentials: MockCredentials,
}

/// Starts the mocks with the credentials in `dir` (created and filled on first use).
pub async fn start(dir: &Path) -> anyhow::Result<RunningMocks> {
    std::fs::create_dir_all(dir).with_context(|| {
        format!(
            "cannot create the mock credentials folder {}",
            dir.display()
        )
    })?;
    let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned());

    let ca_file = dir.join("ca.pem");
    let ca_key_file = dir.join("ca.key.pem");
    if !ca_file.is_file() || !ca_key_file.is_file() {
        let ca = MockCa::generate().context("cannot generate the mock CA")?;
        let key = ca.key_pem().context("the generated mock CA has no key")?;
        write_private(&ca_key_file, &key)?;
        std::fs::write(&ca_file, ca.cert_pem())
            .with_context(|| format!("cannot write {}", ca_file.display()))?;
    }

    let apns_key_file = dir.join(format!("AuthKey_{MOCK_KEY_ID}.p8"));
    let apns_key = match std::fs::read_to_string(&apns_key_file) {
        Ok(p8) => ApnsKey::from_p8(MOCK_KEY_ID, MOCK_TEAM_ID, &p8)
            .with_context(|| format!("cannot read the APNs key {}", apns_key_file.display()))?,
        Err(_) => {
            let key = ApnsKey::generate(MOCK_KEY_ID, MOCK_TEAM_ID)
                .context("cannot generate the mock APNs key")?;
            write_private(&apns_key_file, key.private_key_pem())?;
            key
        }
    };

    let mut config = MockConfig::default();
    config.tls.ca_dir = Some(dir.clone());
    config.tls.ca_file = Some(ca_file.clone());
    config.tls.ca_key_file = Some(ca_key_file);
    config.apns.keys.push(apns_key.mock_key());
    let servers = MockServers::start(config)
        .await
        .context("cannot start the bundled mocks")?;

    // The service account: its key file is reused; the token URI (the mock's port changes
    // at each start) is given to the sender separately.
    let service_account_file = dir.join("service-account.json");
    let account = match std::fs::read_to_string(&service_account_file) {
        Ok(text) => account_from_file(&text)
            .with_context(|| format!("cannot read {}", service_account_file.display()))?,
        Err(_) => {
            let account = ServiceAccount::generate(
                MOCK_CLIENT_EMAIL,
                MOCK_PROJECT,
                servers.oauth_token_url(),
            )
            .context("cannot generate the mock service account")?;
            write_private(&service_account_file, &account.key_file_json())?;
            account.mock_account()
        }
    };
    servers
        .add_oauth_account(&account)
        .context("cannot register the mock service account")?;

    let credentials = MockCredentials {
        apns_key_file,
        service_account_file,
        ca_file: servers.ca_path().to_owned(),
        apns_url: servers.apns_url(),
        fcm_url: servers.fcm_url(),
        oauth_token_url: servers.oauth_token_url(),
    };
    Ok(RunningMocks {
        servers,
        credentials,
    })
}

/// The mock's view of a stored service-account key file (it takes the private key and
/// uses its public half).
fn account_from_file(text: &str) -> anyhow::Result<OAuthAccountConfig> {
    let json: serde_json::Value = serde_json::from_str(text).context("not JSON")?;
    let field = |name: &str| {
        json.get(name)
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
            .with_context(|| format!("no {name}"))
    };
    Ok(OAuthAccountConfig {
        client_email: field("client_email")?,
        private_key_id: field("private_key_id")?,
        project_id: field("project_id")?,
        public_key: KeySource::Pem(field("private_key")?),
        disabled: false,
    })
}

/// Writes a file only its owner can read (it holds a private key).
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
