//! The real servers the integration tests talk to: moto (SQS, Kinesis, CloudWatch Logs) and
//! osmem-server (an OpenSearch-compatible server). Each test binary starts its own instances
//! once; they exit with the test process because both watch the stdin pipe we hold open.
//!
//! Tools are looked up in `$LF_TOOLS/venv/bin` (default `~/.cache/log-forwarder-tools`), where
//! `make tools` installs them, then on `PATH`.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

const SETUP_HINT: &str = "run `make tools` (installs moto and osmem-server into ~/.cache/log-forwarder-tools), or set LF_TOOLS to where they are";

/// Keeps a server alive: its stdin pipe closes (and the server exits) when the test process
/// ends.
struct Running {
    _child: Child,
    _stdin: Option<ChildStdin>,
}

static KEEP: Mutex<Vec<Running>> = Mutex::new(Vec::new());

fn tools_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("LF_TOOLS") {
        return PathBuf::from(dir);
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".to_owned());
    PathBuf::from(home).join(".cache/log-forwarder-tools")
}

/// The venv's python, which has moto and osmem-server installed.
fn python() -> PathBuf {
    let venv = tools_dir().join("venv/bin/python");
    if venv.exists() {
        return venv;
    }
    panic!(
        "test tools not found: {} does not exist; {SETUP_HINT}",
        venv.display()
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free local port")
}

fn wait_http(url: &str, what: &str) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        if answers_http(url) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what} did not answer at {url} within 30 s; {SETUP_HINT}");
}

/// Whether a plain blocking GET to `url` gets an HTTP answer (used before any runtime exists).
fn answers_http(url: &str) -> bool {
    use std::io::{Read, Write};
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let Ok(mut stream) = std::net::TcpStream::connect(host) else {
        return false;
    };
    let request = format!("GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    let mut head = [0u8; 12];
    stream.write_all(request.as_bytes()).is_ok()
        && stream.read_exact(&mut head).is_ok()
        && head.starts_with(b"HTTP/1.")
}

/// URL of this test binary's moto server (started on first use).
pub fn moto_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        if let Ok(url) = std::env::var("LF_MOTO_URL") {
            return url;
        }
        let port = free_port();
        // moto has no stdin watch of its own: a thread exits the process when stdin closes.
        let script = format!(
            "import os, sys, threading\n\
             threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()\n\
             from moto.server import main\n\
             main(['-H', '127.0.0.1', '-p', '{port}'])\n"
        );
        let mut child = Command::new(python())
            .args(["-c", &script])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start moto server: {e}; {SETUP_HINT}"));
        let stdin = child.stdin.take();
        KEEP.lock().unwrap().push(Running {
            _child: child,
            _stdin: stdin,
        });
        let url = format!("http://127.0.0.1:{port}");
        wait_http(&format!("{url}/moto-api/"), "moto server");
        url
    })
}

/// URL of this test binary's osmem-server (started on first use).
pub fn osmem_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        if let Ok(url) = std::env::var("LF_OSMEM_URL") {
            return url;
        }
        let out = Command::new(python())
            .args([
                "-c",
                "import osmem_server; print(osmem_server.resolve_binary())",
            ])
            .output()
            .unwrap_or_else(|e| panic!("cannot locate osmem-server: {e}; {SETUP_HINT}"));
        let binary = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        assert!(
            out.status.success() && !binary.is_empty(),
            "osmem-server is not installed; {SETUP_HINT}"
        );
        // Without -no-stdin-watch, osmem exits when stdin closes: exactly the lifetime we want.
        let mut child = Command::new(&binary)
            .args(["-addr", "127.0.0.1:0", "-no-ja"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary}: {e}; {SETUP_HINT}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("osmem-server printed no ready line");
        let ready: serde_json::Value = serde_json::from_str(line.trim())
            .unwrap_or_else(|e| panic!("unexpected osmem-server ready line {line:?}: {e}"));
        let url = ready["url"]
            .as_str()
            .unwrap_or_else(|| panic!("no url in osmem-server ready line {line:?}"))
            .to_owned();
        let stdin = child.stdin.take();
        KEEP.lock().unwrap().push(Running {
            _child: child,
            _stdin: stdin,
        });
        url.trim_end_matches('/').to_owned()
    })
}

/// The AWS settings that point the SDK at moto.
pub fn aws_env() -> [(&'static str, String); 4] {
    [
        ("AWS_ENDPOINT_URL", moto_url().to_owned()),
        ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
    ]
}

/// An SDK configuration for moto, built without touching the process environment.
pub async fn aws_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(moto_url())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .load()
        .await
}
