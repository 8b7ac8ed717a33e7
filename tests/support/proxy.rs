//! A fault-injecting HTTP proxy in front of osmem-server.
//!
//! osmem answers `_bulk` faithfully but never with backpressure, server errors, 413s or
//! resets; this proxy adds them. It speaks HTTP/1.1 by hand over TCP so it can do what a
//! framework would hide: reset a connection (RST, no response), or hold a request past the
//! client's timeout and *then* forward it (the realistic "unknown outcome" case: the document
//! is indexed although the client saw a timeout).
//!
//! Faults apply to `_bulk` requests only; everything else passes through. Per-item faults are
//! spliced into osmem's real answer: the chosen documents are withheld from osmem (they really
//! are not indexed) and answered with the injected status, the rest get osmem's own results.
//!
//! It can also stand in for a secured cluster ([`FaultProxy::require_auth`]): every request
//! (not only `_bulk`) must then carry valid Basic, API-key or AWS SigV4 credentials, checked
//! before any fault; refused requests are not forwarded. Basic and API-key failures get
//! Elasticsearch's 401 `security_exception`; SigV4 failures get Amazon OpenSearch Service's
//! 403. The expected credentials can change at any time (credential rotation).

use std::collections::VecDeque;
use std::fmt;
use std::io::Read as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::sigv4::{self, RequestParts, TestCredentials};

/// A fault for one whole `_bulk` request.
#[derive(Debug, Clone)]
pub enum RequestFault {
    /// Answer with this status (and an Elasticsearch-style error body) without forwarding.
    Status(u16),
    /// Wait, then forward: the client has usually given up by then.
    Delay(Duration),
    /// Close the connection with a TCP reset, without answering.
    Reset,
}

/// Injects `status` for documents containing `needle`, `times` times.
#[derive(Debug, Clone)]
pub struct ItemFault {
    pub needle: String,
    pub status: u16,
    pub error_type: String,
    pub times: usize,
}

/// Credentials the proxy requires (see [`FaultProxy::require_auth`]).
#[derive(Clone, PartialEq, Eq)]
pub enum ExpectedAuth {
    /// `Authorization: Basic base64(user:password)`.
    Basic { user: String, password: String },
    /// `Authorization: ApiKey <value>` (the value as configured, compared exactly).
    ApiKey(String),
    /// An AWS SigV4 header signature over the request as received (body bytes as on the
    /// wire), verified by the independent verifier in `support::sigv4`.
    SigV4(TestCredentials),
}

impl ExpectedAuth {
    pub fn basic(user: &str, password: &str) -> Self {
        Self::Basic {
            user: user.to_owned(),
            password: password.to_owned(),
        }
    }

    pub fn api_key(value: &str) -> Self {
        Self::ApiKey(value.to_owned())
    }
}

/// Never prints a password, key or secret.
impl fmt::Debug for ExpectedAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Basic { user, .. } => write!(f, "Basic {{ user: {user:?}, password: ** }}"),
            Self::ApiKey(_) => write!(f, "ApiKey(**)"),
            Self::SigV4(creds) => write!(f, "SigV4({creds:?})"),
        }
    }
}

/// One request the proxy received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    /// Length of the body as received.
    pub wire_len: usize,
    /// Body as received (compressed when gzip): what a SigV4 signature covers.
    pub wire: Vec<u8>,
    /// Body after gzip decoding.
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Number of documents in a `_bulk` body (action + source line pairs).
    pub fn bulk_items(&self) -> usize {
        self.body
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .count()
            / 2
    }
}

#[derive(Default)]
struct State {
    queue: VecDeque<RequestFault>,
    always: Option<RequestFault>,
    too_large_over: Option<usize>,
    items: Vec<ItemFault>,
    seen: Vec<Seen>,
    auth: Option<ExpectedAuth>,
    auth_failures: usize,
    auth_passes: usize,
    last_auth_failure: Option<String>,
}

/// A running proxy; it stops with the test's runtime.
#[derive(Clone)]
pub struct FaultProxy {
    pub url: String,
    upstream: String,
    state: Arc<Mutex<State>>,
    client: reqwest::Client,
}

impl FaultProxy {
    /// Starts a proxy forwarding to `upstream` (e.g. osmem's URL).
    pub async fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let url = format!("http://{}", listener.local_addr().expect("proxy address"));
        let proxy = Self {
            url,
            upstream: upstream.trim_end_matches('/').to_owned(),
            state: Arc::default(),
            client: reqwest::Client::new(),
        };
        let server = proxy.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let server = server.clone();
                tokio::spawn(async move { server.serve(stream).await });
            }
        });
        proxy
    }

    /// Queues faults for the next `_bulk` requests, one each, in order.
    pub fn push(&self, faults: impl IntoIterator<Item = RequestFault>) {
        self.state.lock().unwrap().queue.extend(faults);
    }

    /// A fault for every `_bulk` request once the queue is empty (`None` to heal).
    pub fn always(&self, fault: Option<RequestFault>) {
        self.state.lock().unwrap().always = fault;
    }

    /// Answer 413 to `_bulk` bodies larger than `bytes` (as received).
    pub fn too_large_over(&self, bytes: Option<usize>) {
        self.state.lock().unwrap().too_large_over = bytes;
    }

    pub fn item_fault(&self, fault: ItemFault) {
        self.state.lock().unwrap().items.push(fault);
    }

    /// From now on, every request must authenticate with `auth` (401/403 otherwise, not
    /// forwarded).
    pub fn require_auth(&self, auth: ExpectedAuth) {
        self.set_expected_auth(Some(auth));
    }

    /// Changes (or, with `None`, drops) the required authentication; takes effect with the
    /// next request, so a test can rotate credentials between two requests.
    pub fn set_expected_auth(&self, auth: Option<ExpectedAuth>) {
        self.state.lock().unwrap().auth = auth;
    }

    /// Requests refused for their credentials so far.
    pub fn auth_failures(&self) -> usize {
        self.state.lock().unwrap().auth_failures
    }

    /// Requests whose credentials verified so far (while authentication was required).
    pub fn auth_passes(&self) -> usize {
        self.state.lock().unwrap().auth_passes
    }

    /// Why the last refused request was refused (never contains a password, key or secret).
    pub fn last_auth_failure(&self) -> Option<String> {
        self.state.lock().unwrap().last_auth_failure.clone()
    }

    /// Every request seen so far (including refused ones).
    pub fn requests(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    /// The `_bulk` requests seen so far.
    pub fn bulk_requests(&self) -> Vec<Seen> {
        self.state
            .lock()
            .unwrap()
            .seen
            .iter()
            .filter(|s| s.path.contains("_bulk"))
            .cloned()
            .collect()
    }

    async fn serve(&self, mut stream: TcpStream) {
        let mut buffer = Vec::new();
        while let Some(request) = read_request(&mut stream, &mut buffer).await {
            let is_bulk = request.path.contains("_bulk");
            self.state.lock().unwrap().seen.push(request.clone());
            if let Some(refusal) = self.refuse_credentials(&request) {
                let Refusal {
                    status,
                    body,
                    headers,
                } = refusal;
                if respond(&mut stream, status, &body, &headers).await.is_err() {
                    return;
                }
                continue;
            }
            let fault = if is_bulk {
                let mut state = self.state.lock().unwrap();
                let too_large = state
                    .too_large_over
                    .is_some_and(|limit| request.wire_len > limit);
                if too_large {
                    Some(RequestFault::Status(413))
                } else {
                    state.queue.pop_front().or_else(|| state.always.clone())
                }
            } else {
                None
            };
            let (status, body) = match fault {
                Some(RequestFault::Reset) => {
                    #[allow(deprecated)]
                    let _ = stream.set_linger(Some(Duration::ZERO));
                    return;
                }
                Some(RequestFault::Status(status)) => (status, error_body(status)),
                Some(RequestFault::Delay(pause)) => {
                    tokio::time::sleep(pause).await;
                    self.forward(&request).await
                }
                None if is_bulk => self.forward_with_item_faults(&request).await,
                None => self.forward(&request).await,
            };
            if respond(&mut stream, status, &body, &[]).await.is_err() {
                return;
            }
        }
    }

    /// `None` when no authentication is required or the request's verifies; otherwise the
    /// answer to give (and the failure is counted and recorded).
    fn refuse_credentials(&self, request: &Seen) -> Option<Refusal> {
        let expected = self.state.lock().unwrap().auth.clone()?;
        let outcome = check_credentials(&expected, request);
        let mut state = self.state.lock().unwrap();
        match outcome {
            Ok(()) => {
                state.auth_passes += 1;
                None
            }
            Err(reason) => {
                state.auth_failures += 1;
                state.last_auth_failure = Some(reason.clone());
                Some(match expected {
                    ExpectedAuth::SigV4(_) => Refusal {
                        status: 403,
                        body: aws_denied_body(&reason),
                        headers: Vec::new(),
                    },
                    _ => Refusal {
                        status: 401,
                        body: security_exception_body(request),
                        headers: vec![(
                            "WWW-Authenticate".to_owned(),
                            r#"Basic realm="security" charset="UTF-8", ApiKey"#.to_owned(),
                        )],
                    },
                })
            }
        }
    }

    async fn forward(&self, request: &Seen) -> (u16, Vec<u8>) {
        let url = format!("{}{}", self.upstream, request.path);
        let method = reqwest::Method::from_bytes(request.method.as_bytes()).expect("method");
        let mut builder = self.client.request(method, url).body(request.body.clone());
        if let Some(ct) = request.header("content-type") {
            builder = builder.header("content-type", ct);
        }
        match builder.send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                (
                    status,
                    r.bytes().await.map(|b| b.to_vec()).unwrap_or_default(),
                )
            }
            Err(e) => (502, error_body_with(502, &format!("upstream: {e}"))),
        }
    }

    async fn forward_with_item_faults(&self, request: &Seen) -> (u16, Vec<u8>) {
        let lines: Vec<&[u8]> = request
            .body
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        // Decide per document: injected fault, or forwarded.
        let mut plan = Vec::new();
        {
            let mut state = self.state.lock().unwrap();
            for pair in lines.chunks(2) {
                let doc = String::from_utf8_lossy(pair.get(1).copied().unwrap_or_default());
                let rule = state
                    .items
                    .iter_mut()
                    .find(|r| r.times > 0 && doc.contains(&r.needle));
                plan.push(rule.map(|r| {
                    r.times -= 1;
                    (r.status, r.error_type.clone())
                }));
            }
        }
        if plan.iter().all(Option::is_none) {
            return self.forward(request).await;
        }
        let mut forwarded = Vec::new();
        for (pair, fault) in lines.chunks(2).zip(&plan) {
            if fault.is_none() {
                for line in pair {
                    forwarded.extend_from_slice(line);
                    forwarded.push(b'\n');
                }
            }
        }
        let mut upstream_items = VecDeque::new();
        if !forwarded.is_empty() {
            let sub = Seen {
                body: forwarded,
                ..request.clone()
            };
            let (status, body) = self.forward(&sub).await;
            if status != 200 {
                return (status, body);
            }
            let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            upstream_items.extend(parsed["items"].as_array().cloned().unwrap_or_default());
        }
        let mut items = Vec::new();
        for (pair, fault) in lines.chunks(2).zip(plan) {
            match fault {
                Some((status, error_type)) => {
                    let action: Value = serde_json::from_slice(pair[0]).unwrap_or(Value::Null);
                    let meta = &action["create"];
                    items.push(json!({"create": {
                        "_index": meta["_index"], "_id": meta["_id"], "status": status,
                        "error": {"type": error_type, "reason": "injected by the fault proxy"}
                    }}));
                }
                None => items.push(upstream_items.pop_front().unwrap_or(Value::Null)),
            }
        }
        let body = json!({"took": 1, "errors": true, "items": items});
        (200, serde_json::to_vec(&body).expect("json"))
    }
}

/// The answer to a request refused for its credentials.
struct Refusal {
    status: u16,
    body: Vec<u8>,
    headers: Vec<(String, String)>,
}

/// Writes one response.
async fn respond(
    stream: &mut TcpStream,
    status: u16,
    body: &[u8],
    extra_headers: &[(String, String)],
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in extra_headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await
}

/// Checks the request's `Authorization` against `expected`; the error says what is wrong
/// without repeating any credential.
fn check_credentials(expected: &ExpectedAuth, request: &Seen) -> Result<(), String> {
    if let ExpectedAuth::SigV4(creds) = expected {
        let parts = RequestParts::from_target(
            &request.method,
            &request.path,
            request.headers.clone(),
            request.wire.clone(),
        );
        return sigv4::verify(&parts, creds, SystemTime::now());
    }
    let values: Vec<&str> = request
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.as_str())
        .collect();
    let value = match values[..] {
        [] => return Err("no Authorization header".to_owned()),
        [one] => one.trim(),
        _ => return Err("more than one Authorization header".to_owned()),
    };
    let (scheme, credentials) = value.split_once(' ').unwrap_or((value, ""));
    let credentials = credentials.trim();
    match expected {
        ExpectedAuth::Basic { user, password } => {
            if !scheme.eq_ignore_ascii_case("basic") {
                return Err(format!(
                    "Authorization scheme is {scheme:?}, expected Basic"
                ));
            }
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(credentials)
                .map_err(|_| "Basic credentials are not valid base64".to_owned())?;
            let decoded = String::from_utf8(decoded)
                .map_err(|_| "Basic credentials are not UTF-8".to_owned())?;
            let (got_user, got_password) = decoded.split_once(':').ok_or_else(|| {
                "Basic credentials have no ':' between user and password".to_owned()
            })?;
            if got_user != user {
                return Err(format!(
                    "Basic user {got_user:?} is not the expected {user:?}"
                ));
            }
            if got_password != password {
                return Err(format!("wrong password for user {user:?}"));
            }
            Ok(())
        }
        ExpectedAuth::ApiKey(key) => {
            if !scheme.eq_ignore_ascii_case("apikey") {
                return Err(format!(
                    "Authorization scheme is {scheme:?}, expected ApiKey"
                ));
            }
            if credentials != key {
                return Err("API key differs from the expected one".to_owned());
            }
            Ok(())
        }
        ExpectedAuth::SigV4(_) => unreachable!("handled above"),
    }
}

/// Elasticsearch's answer to a request without valid credentials.
fn security_exception_body(request: &Seen) -> Vec<u8> {
    let has_credentials = request
        .headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("authorization"));
    let reason = if has_credentials {
        "unable to authenticate with provided credentials and anonymous access is not allowed for this request".to_owned()
    } else {
        format!(
            "missing authentication credentials for REST request [{}]",
            request.path
        )
    };
    let header =
        json!({"WWW-Authenticate": [r#"Basic realm="security" charset="UTF-8""#, "ApiKey"]});
    let cause = json!({"type": "security_exception", "reason": reason, "header": header});
    let body = json!({
        "error": {
            "root_cause": [cause],
            "type": "security_exception",
            "reason": reason,
            "header": header,
        },
        "status": 401,
    });
    serde_json::to_vec(&body).expect("json")
}

/// Amazon OpenSearch Service's 403 for a request whose signature does not verify.
fn aws_denied_body(reason: &str) -> Vec<u8> {
    let message = if reason.starts_with("signature mismatch") {
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.".to_owned()
    } else if reason.contains("away from the server clock") {
        format!("Signature expired: {reason}")
    } else {
        reason.to_owned()
    };
    serde_json::to_vec(&json!({ "message": message })).expect("json")
}

fn error_body(status: u16) -> Vec<u8> {
    error_body_with(status, "injected by the fault proxy")
}

fn error_body_with(status: u16, reason: &str) -> Vec<u8> {
    let error_type = match status {
        429 => "es_rejected_execution_exception",
        413 => "content_too_long_exception",
        401 | 403 => "security_exception",
        _ => "injected_exception",
    };
    serde_json::to_vec(&json!({"error": {"type": error_type, "reason": reason}, "status": status}))
        .expect("json")
}

/// Reads one HTTP/1.1 request (Content-Length bodies only, which is what reqwest sends for
/// byte bodies). `None` when the connection is closed.
async fn read_request(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<Seen> {
    let header_end = loop {
        if let Some(pos) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..header_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_owned();
    let path = request_line.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while buffer.len() < header_end + length {
        let mut chunk = vec![0u8; 64 * 1024];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    let wire: Vec<u8> = buffer[header_end..header_end + length].to_vec();
    buffer.drain(..header_end + length);
    let gzipped = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("content-encoding") && v.contains("gzip"));
    let body = if gzipped {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&wire[..])
            .read_to_end(&mut out)
            .expect("proxy received invalid gzip");
        out
    } else {
        wire.clone()
    };
    Some(Seen {
        method,
        path,
        headers,
        wire_len: wire.len(),
        wire,
        body,
    })
}
