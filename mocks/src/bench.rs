//! Benchmark support shared by the senders' benchmarks: the `pushgate-mock` binary as a
//! child process, `h2load` runs, peak RSS from `/proc`, and medians.
//!
//! A benchmark starts the mock once ([`MockProcess::start`], one tokio worker), measures
//! the mock's ceiling with [`h2load`], then runs the sender under test (best in fresh
//! child processes, so [`peak_rss_kib`] of each is its own) and compares the medians.
//! Linux only (`/proc`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Environment variable naming the `pushgate-mock` binary.
pub const MOCK_BIN_ENV: &str = "PUSHGATE_MOCK_BIN";

type Result<T> = std::result::Result<T, BenchError>;

/// What went wrong while setting up or measuring a benchmark.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A process could not be started or read.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// A process said something we could not understand.
    #[error("{0}")]
    Output(String),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BenchError {
    let what = what.into();
    move |source| BenchError::Io { what, source }
}

/// The `pushgate-mock` binary: `$PUSHGATE_MOCK_BIN`, else `target/release/pushgate-mock`
/// in the target folder of the running executable (`target/<profile>/deps/<bench>`).
pub fn mock_bin() -> PathBuf {
    if let Some(path) = std::env::var_os(MOCK_BIN_ENV) {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().unwrap_or_default();
    let target = exe
        .ancestors()
        .find(|dir| dir.file_name().is_some_and(|n| n == "deps"))
        .and_then(Path::parent)
        .and_then(Path::parent);
    target.map_or_else(
        || PathBuf::from("target/release/pushgate-mock"),
        |t| t.join("release").join("pushgate-mock"),
    )
}

/// [`mock_bin`], or an error that says how to build it.
pub fn built_mock_bin() -> Result<PathBuf> {
    let bin = mock_bin();
    if bin.exists() {
        Ok(bin)
    } else {
        Err(BenchError::Output(format!(
            "{} not found: run `cargo build --release -p pushgate-mocks` or set {MOCK_BIN_ENV}",
            bin.display()
        )))
    }
}

/// Prints the machine's load as `uptime` reports it (a benchmark's figures mean little
/// without it).
pub fn print_load() {
    let load = Command::new("uptime")
        .output()
        .map(|o| o.stdout)
        .unwrap_or_default();
    println!("load: {}", String::from_utf8_lossy(&load).trim());
}

/// The addresses the mock prints at start.
#[derive(Debug, Clone, Deserialize)]
pub struct MockAddrs {
    /// APNs listener, `127.0.0.1:PORT`.
    pub apns: String,
    /// FCM listener.
    pub fcm: String,
    /// OAuth listener.
    pub oauth: String,
    /// Admin listener (plain HTTP).
    pub admin: String,
    /// The CA certificate to trust.
    pub ca: PathBuf,
}

/// A running `pushgate-mock` child process; killed when dropped.
#[derive(Debug)]
pub struct MockProcess {
    child: Child,
    /// Where it listens.
    pub addrs: MockAddrs,
}

impl MockProcess {
    /// Starts `bin` with `--worker-threads 1` and `args`, and reads its JSON line.
    pub fn start(bin: &Path, args: &[&str]) -> Result<Self> {
        let mut child = Command::new(bin)
            .args(["--worker-threads", "1"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(io(format!("starting {}", bin.display())))?;
        let mut line = String::new();
        if let Some(stdout) = child.stdout.take() {
            BufReader::new(stdout)
                .read_line(&mut line)
                .map_err(io("reading the mock's address line"))?;
        }
        let addrs = match serde_json::from_str::<MockAddrs>(&line) {
            Ok(addrs) => addrs,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(BenchError::Output(format!(
                    "mock address line {line:?}: {e}"
                )));
            }
        };
        Ok(Self { child, addrs })
    }

    /// The mock's process id (for [`peak_rss_kib`]).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `https://127.0.0.1:PORT` of the APNs mock.
    pub fn apns_url(&self) -> String {
        format!("https://{}", self.addrs.apns)
    }

    /// `https://127.0.0.1:PORT` of the FCM mock.
    pub fn fcm_url(&self) -> String {
        format!("https://{}", self.addrs.fcm)
    }

    /// `https://127.0.0.1:PORT/token` of the OAuth mock.
    pub fn oauth_token_url(&self) -> String {
        format!("https://{}/token", self.addrs.oauth)
    }

    /// `http://127.0.0.1:PORT` of the admin API.
    pub fn admin_url(&self) -> String {
        format!("http://{}", self.addrs.admin)
    }
}

impl Drop for MockProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The files `pushgate-mock fixtures --dir DIR` wrote, as it lists them.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct Fixtures {
    /// The APNs signing key (`.p8`).
    pub apns_key: PathBuf,
    /// Its key id.
    pub key_id: String,
    /// Its team id.
    pub team_id: String,
    /// A notification payload (`payload.json`).
    pub payload: PathBuf,
    /// A mock configuration that uses them all (`mock.toml`).
    pub config: PathBuf,
    /// The CA certificate clients trust.
    pub ca: PathBuf,
    /// A Google service-account key file for the mock's OAuth endpoint.
    pub service_account: PathBuf,
}

/// Where [`Fixtures::create`] keeps the list, for child processes to read it again.
const FIXTURES_FILE: &str = "fixtures.json";

impl Fixtures {
    /// Runs `bin fixtures --dir dir` and keeps its list in `dir`.
    pub fn create(bin: &Path, dir: &Path) -> Result<Self> {
        let output = Command::new(bin)
            .args(["fixtures", "--dir"])
            .arg(dir)
            .output()
            .map_err(io(format!("running {} fixtures", bin.display())))?;
        if !output.status.success() {
            return Err(BenchError::Output(format!(
                "fixtures failed: {}",
                String::from_utf8_lossy(&output.stderr)
            )));
        }
        std::fs::write(dir.join(FIXTURES_FILE), &output.stdout)
            .map_err(io("writing the fixtures list"))?;
        Self::parse(&output.stdout)
    }

    /// The fixtures [`Fixtures::create`] made in `dir`.
    pub fn read(dir: &Path) -> Result<Self> {
        let text =
            std::fs::read(dir.join(FIXTURES_FILE)).map_err(io("reading the fixtures list"))?;
        Self::parse(&text)
    }

    fn parse(text: &[u8]) -> Result<Self> {
        serde_json::from_slice(text)
            .map_err(|e| BenchError::Output(format!("fixtures list not understood: {e}")))
    }

    /// A provider token for the APNs key (`bin apns-token`), for h2load's headers.
    pub fn apns_provider_token(&self, bin: &Path) -> Result<String> {
        let output = Command::new(bin)
            .args(["apns-token", "--key"])
            .arg(&self.apns_key)
            .args(["--key-id", &self.key_id, "--team-id", &self.team_id])
            .output()
            .map_err(io("running apns-token"))?;
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    }
}

/// What one `h2load` run reported.
#[derive(Debug, Clone, PartialEq)]
pub struct H2loadReport {
    /// `req/s` of the "finished in" line.
    pub requests_per_sec: f64,
    /// Requests that got a 2xx.
    pub succeeded: u64,
    /// Requests that failed, errored or timed out.
    pub failed: u64,
}

/// The load every benchmark compares with: `h2load -n N -c 4 -m 100` (4 connections, 100
/// streams on each, 400 requests in flight), POSTing the file `body` with `headers`
/// (`name: value`) to `url`. Returns its parsed summary.
pub fn h2load(n: usize, headers: &[String], body: &Path, url: &str) -> Result<H2loadReport> {
    let mut args: Vec<String> = ["-n", &n.to_string(), "-c", "4", "-m", "100"]
        .iter()
        .map(|arg| arg.to_string())
        .collect();
    for header in headers {
        args.push("-H".into());
        args.push(header.clone());
    }
    args.extend(["-d".into(), body.display().to_string(), url.to_owned()]);
    let output = Command::new("h2load").args(&args).output().map_err(io(
        "running h2load (Debian/Ubuntu: `apt-get install nghttp2-client`)",
    ))?;
    let text = String::from_utf8_lossy(&output.stdout);
    parse_h2load(&text).ok_or_else(|| {
        BenchError::Output(format!(
            "h2load output not understood (exit {}): {text}",
            output.status
        ))
    })
}

/// Alternates `h2load_runs` reference runs (`reference`, which returns its h2load report)
/// with `runs` measured runs (`measured`, given the run's number), a reference run first in
/// each round, so that both see the same shared, noisy machine. Prints each reference run
/// and returns their rates.
pub fn alternate<E>(
    h2load_runs: usize,
    runs: usize,
    mut reference: impl FnMut() -> std::result::Result<H2loadReport, E>,
    mut measured: impl FnMut(usize) -> std::result::Result<(), E>,
) -> std::result::Result<Vec<f64>, E> {
    let mut rates = Vec::with_capacity(h2load_runs);
    for run in 1..=runs.max(h2load_runs) {
        if run <= h2load_runs {
            let h2 = reference()?;
            println!(
                "h2load run {run}: {:.0} req/s ({} succeeded, {} failed)",
                h2.requests_per_sec, h2.succeeded, h2.failed
            );
            rates.push(h2.requests_per_sec);
        }
        if run <= runs {
            measured(run)?;
        }
    }
    Ok(rates)
}

/// One run of a sender benchmark, as its child process reports it to the parent.
#[derive(Debug, Serialize, Deserialize)]
pub struct SenderRun {
    /// Notifications per second.
    pub rate: f64,
    /// Seconds the sending took.
    pub secs: f64,
    /// Notifications accepted.
    pub ok: usize,
    /// Notifications refused or lost.
    pub failed: usize,
    /// The child's peak RSS, in KiB.
    pub peak_rss_kib: u64,
    /// CPU time (user + system) of the whole child process.
    pub cpu_secs: f64,
}

impl SenderRun {
    /// The line a benchmark prints for run number `run`.
    pub fn line(&self, run: usize) -> String {
        format!(
            "sender run {run}: {:.0} notifications/s in {:.2}s, {} ok, {} failed, peak RSS {:.1} MiB",
            self.rate,
            self.secs,
            self.ok,
            self.failed,
            self.peak_rss_kib as f64 / 1024.0
        )
    }
}

/// Runs `command` (a benchmark's own executable in its child mode) and reads the report
/// it prints on standard output as one JSON line; what it wrote to standard error goes
/// into the error if there is no such line. With `BENCH_CHILD_STDERR` set, the child's
/// standard error (its log, filtered by `RUST_LOG`) goes to the benchmark's own instead.
pub fn child_report<T: DeserializeOwned>(command: &mut Command) -> Result<T> {
    if std::env::var_os("BENCH_CHILD_STDERR").is_some() {
        command.stderr(Stdio::inherit());
    }
    let out = command.output().map_err(io("running a benchmark child"))?;
    let line = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(line.trim()).map_err(|e| {
        BenchError::Output(format!(
            "child run ({}): {e}: {line} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    })
}

/// Parses h2load's `finished in 1.23s, 162345.67 req/s, ...` and `requests: ...` lines.
pub fn parse_h2load(text: &str) -> Option<H2loadReport> {
    let finished = text.lines().find(|l| l.starts_with("finished in"))?;
    let rate = finished
        .split(',')
        .find(|part| part.trim_end().ends_with("req/s"))?
        .trim()
        .trim_end_matches("req/s")
        .trim()
        .parse()
        .ok()?;
    let requests = text.lines().find(|l| l.starts_with("requests:"))?;
    let count = |label: &str| -> u64 {
        requests
            .split(',')
            .find_map(|part| part.trim().strip_suffix(label))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    };
    Some(H2loadReport {
        requests_per_sec: rate,
        succeeded: count("succeeded"),
        failed: count("failed") + count("errored") + count("timeout"),
    })
}

/// CPU time (user + system) a process has used so far, from `/proc/<pid>/stat` (in
/// USER_HZ = 100 ticks per second, as on every Linux this runs on).
pub fn cpu_secs(pid: &str) -> Result<f64> {
    let times = cpu_ticks(pid)?;
    Ok((times.utime + times.stime) as f64 / 100.0)
}

/// CPU time (user + system) of this process's waited-for children so far.
pub fn children_cpu_secs() -> Result<f64> {
    let times = cpu_ticks("self")?;
    Ok((times.cutime + times.cstime) as f64 / 100.0)
}

/// The CPU times of `/proc/<pid>/stat`, in ticks.
struct CpuTicks {
    utime: u64,
    stime: u64,
    cutime: u64,
    cstime: u64,
}

/// Reads fields 14 to 17 of `/proc/<pid>/stat` (counted after the command name, which is
/// in parentheses and may hold spaces). An unreadable or short line is an error, not a
/// zero that would pass for a measurement.
fn cpu_ticks(pid: &str) -> Result<CpuTicks> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).map_err(io(format!("reading {path}")))?;
    // After the name: state, ppid, pgrp, session, tty_nr, tpgid, flags, minflt,
    // cminflt, majflt, cmajflt, then utime, stime, cutime, cstime.
    let times: Option<Vec<u64>> = stat.rsplit_once(')').and_then(|(_, rest)| {
        rest.split_whitespace()
            .skip(11)
            .take(4)
            .map(|v| v.parse().ok())
            .collect()
    });
    match times.as_deref() {
        Some(&[utime, stime, cutime, cstime]) => Ok(CpuTicks {
            utime,
            stime,
            cutime,
            cstime,
        }),
        _ => Err(BenchError::Output(format!(
            "no CPU times in {path}: {stat:?}"
        ))),
    }
}

/// Peak resident set size (`VmHWM`) of process `pid`, in KiB.
pub fn peak_rss_kib(pid: u32) -> Result<u64> {
    read_hwm(&format!("/proc/{pid}/status"))
}

/// Peak resident set size of this process, in KiB.
pub fn self_peak_rss_kib() -> Result<u64> {
    read_hwm("/proc/self/status")
}

fn read_hwm(path: &str) -> Result<u64> {
    let status = std::fs::read_to_string(path).map_err(io(format!("reading {path}")))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| BenchError::Output(format!("no VmHWM in {path}")))
}

/// Resets this process's peak RSS to its current RSS (`/proc/self/clear_refs`).
pub fn reset_peak_rss() -> Result<()> {
    std::fs::write("/proc/self/clear_refs", "5").map_err(io("writing /proc/self/clear_refs"))
}

/// The median (the mean of the two middle values for an even count); `None` if empty.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted: Vec<f64> = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => sorted.get(n / 2).copied(),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_report_is_read_from_its_json_line_and_a_missing_one_shows_its_stderr() {
        let run: SenderRun = child_report(Command::new("sh").args([
            "-c",
            r#"echo '{"rate":2.0,"secs":1.5,"ok":3,"failed":0,"peak_rss_kib":2048,"cpu_secs":0.25}'"#,
        ]))
        .unwrap();
        assert_eq!(
            run.line(7),
            "sender run 7: 2 notifications/s in 1.50s, 3 ok, 0 failed, peak RSS 2.0 MiB"
        );
        let error = child_report::<SenderRun>(Command::new("sh").args(["-c", "echo broken >&2"]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("broken"), "{error}");
    }

    #[test]
    fn cpu_times_of_this_process_are_read_and_a_missing_process_is_an_error() {
        let busy = std::time::Instant::now();
        while busy.elapsed() < std::time::Duration::from_millis(30) {
            std::hint::black_box(busy.elapsed());
        }
        assert!(cpu_secs("self").unwrap() > 0.0);
        assert!(children_cpu_secs().unwrap() >= 0.0);
        let missing = cpu_secs("999999999").unwrap_err().to_string();
        assert!(missing.contains("/proc/999999999/stat"), "{missing}");
    }

    #[test]
    fn h2load_summaries_parse() {
        let text = "starting benchmark...\n\
            finished in 1.39s, 143863.03 req/s, 5.21MB/s\n\
            requests: 200000 total, 200000 started, 200000 done, 199990 succeeded, 10 failed, 0 errored, 0 timeout\n";
        let report = parse_h2load(text).unwrap();
        assert!((report.requests_per_sec - 143_863.03).abs() < 1e-6);
        assert_eq!((report.succeeded, report.failed), (199_990, 10));
        assert_eq!(parse_h2load("nothing"), None);
    }

    #[test]
    fn medians_and_peak_rss() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        assert!(self_peak_rss_kib().unwrap() > 0);
        assert!(peak_rss_kib(std::process::id()).unwrap() > 0);
    }
}
