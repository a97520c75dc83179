//! The AWS requests of the code under test, written down for the IAM proof (`make iam-proof`,
//! tools/iam-proof/) when `ECS_REDEPLOY_REQUEST_LOG` names a directory: every moto server records what reaches
//! it (moto's own recorder, `MOTO_ENABLE_RECORDING`), every front what it receives (it answers some ECS calls
//! itself), one JSON line per request in moto's recorder format. The function's clients sign with
//! [`FUNCTION_ACCESS_KEY`], which tells its requests from the tests' seeding; the front marks what it sends to
//! moto with [`FRONT_HEADER`], so that a request through the front is counted once, and the front's own reads
//! not at all.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use hyper::header::HeaderMap;
use serde_json::{Map, Value, json};

pub const REQUEST_LOG_VAR: &str = "ECS_REDEPLOY_REQUEST_LOG";
/// The access key id of the function's clients in tests (moto gives every unknown key the default account).
pub const FUNCTION_ACCESS_KEY: &str = "AKIAECSREDEPLOYFUNCTION";
/// On every request the front sends to moto.
pub const FRONT_HEADER: &str = "x-testkit-front";

fn directory() -> Option<PathBuf> {
    std::env::var_os(REQUEST_LOG_VAR)
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
}

/// A file of the log directory no other process or front writes: `PREFIX-BINARY-PID-N.jsonl`, BINARY the test
/// binary's name without Cargo's hash (`integration`; `front` for the testkit's own tests of the front, whose
/// requests are the front's test cases, not the function's).
fn unique_file(prefix: &str) -> Option<PathBuf> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = directory()?;
    std::fs::create_dir_all(&dir).expect("the request log directory can be made");
    let binary = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .map(|stem| stem.split('-').next().unwrap_or_default().to_owned())
        .unwrap_or_default();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    Some(dir.join(format!("{prefix}-{binary}-{}-{n}.jsonl", std::process::id())))
}

/// Turns moto's recorder on for a moto server about to start, when requests are logged.
pub fn record_moto(command: &mut Command) {
    if let Some(file) = unique_file("moto") {
        command
            .env("MOTO_ENABLE_RECORDING", "True")
            .env("MOTO_RECORDER_FILEPATH", file);
    }
}

/// The front's log: what it receives, as moto's recorder writes it.
#[derive(Debug)]
pub struct RequestLog(Mutex<File>);

impl RequestLog {
    /// `None` when requests are not logged.
    pub fn open() -> Option<RequestLog> {
        let path = unique_file("front")?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
        Some(RequestLog(Mutex::new(file)))
    }

    pub fn record(&self, uri: &str, headers: &HeaderMap, body: &[u8]) {
        let headers: Map<String, Value> = headers
            .iter()
            .map(|(name, value)| (name.to_string(), Value::from(String::from_utf8_lossy(value.as_bytes()))))
            .collect();
        let entry = json!({
            "headers": headers,
            "method": "POST",
            "url": uri,
            "body": String::from_utf8_lossy(body),
            "body_encoded": false,
        });
        let mut file = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        writeln!(file, "{entry}").expect("the request log is writable");
    }
}
