//! A Logz.io bulk HTTP listener emulator (`https://listener.logz.io:8071`).
//!
//! Like the real listener it takes `POST /?token=<token>&type=<type>` with a body of
//! newline-delimited JSON documents, optionally `Content-Encoding: gzip`, and answers:
//!
//! - 401 when the token is missing or wrong (`{"message":"Logging token is missing"}` /
//!   `{"message":"Logging token is not valid"}`), nothing stored;
//! - 413 when the (decompressed) body is larger than [`DEFAULT_MAX_BODY_BYTES`], nothing stored;
//! - 200 with an empty body when every line is accepted;
//! - 400 with `{"malformedLines":M,"successfulLines":S,"oversizedLines":O,"emptyLogLines":E}`
//!   when any line is refused — and, like the listener, the successful lines of that request
//!   **are** stored (which is why the forwarder cannot simply resend a 400'd request).
//!
//! A line is empty (only whitespace), oversized (over [`DEFAULT_MAX_LINE_BYTES`] bytes),
//! malformed (not a JSON object, or containing a needle given to
//! [`LogzioListener::reject_lines_containing`]) or accepted. An accepted document gets the
//! request's `type` (default `http-bulk`) unless it has a `type` field of its own.
//!
//! It speaks HTTP/1.1 by hand over TCP (keep-alive, `Content-Length` and chunked bodies,
//! `Expect: 100-continue`) so it can also misbehave: one-shot faults answer a status without
//! storing anything, hold a request past the client's timeout and *then* store it (the
//! "unknown outcome" case), or reset the connection.
//!
//! The server stops when the [`LogzioListener`] is dropped (or [`LogzioListener::shutdown`]).

use std::collections::VecDeque;
use std::io::Read as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// Request body limit, uncompressed (the documented "10 MB"; one version of the Logz.io docs
/// says 10,485,760 bytes — the emulator is the stricter of the two by default).
pub const DEFAULT_MAX_BODY_BYTES: usize = 10_000_000;
/// Line limit: a line of more than this many bytes is an `oversizedLines` line.
pub const DEFAULT_MAX_LINE_BYTES: usize = 500_000;
/// The `type` of documents sent without a `type` query parameter.
pub const DEFAULT_TYPE: &str = "http-bulk";

/// A one-shot fault for the next request (consumed before the request is looked at).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenerFault {
    /// Answer this status (429, 500, 503, 401, 413, …) and store nothing.
    Status(u16),
    /// Wait, then process (and store) as usual: the client has usually timed out by then.
    Delay(Duration),
    /// Close the connection with a TCP reset, without answering or storing.
    Reset,
}

/// Per-request line counts, as in the listener's 400 body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LineCounts {
    pub successful: usize,
    pub malformed: usize,
    pub oversized: usize,
    pub empty: usize,
}

impl LineCounts {
    pub fn refused(self) -> usize {
        self.malformed + self.oversized + self.empty
    }

    /// The listener's 400 body.
    pub fn to_json(self) -> Value {
        json!({
            "malformedLines": self.malformed,
            "successfulLines": self.successful,
            "oversizedLines": self.oversized,
            "emptyLogLines": self.empty,
        })
    }
}

/// One request the listener received.
#[derive(Debug, Clone)]
pub struct ListenerRequest {
    pub method: String,
    /// Request target as on the request line (`/?token=…&type=…`).
    pub target: String,
    /// `token` query parameter (decoded), if any.
    pub token: Option<String>,
    /// `type` query parameter (decoded), if any.
    pub log_type: Option<String>,
    pub gzip: bool,
    pub chunked: bool,
    pub content_type: Option<String>,
    /// Body bytes as received (compressed when gzip).
    pub wire_len: usize,
    /// Body bytes after gzip decoding (`None` when the gzip was invalid).
    pub body_len: Option<usize>,
    /// Lines in the (decoded) body; a final newline ends the last line, it does not start an
    /// empty one.
    pub lines: usize,
    /// What the line check found (all zero when the request was refused as a whole).
    pub counts: LineCounts,
    /// The injected fault, if any.
    pub fault: Option<ListenerFault>,
    /// Status answered; `None` while the request is being processed or when it was reset.
    pub status: Option<u16>,
    /// The connection was reset instead of answered.
    pub reset: bool,
}

impl ListenerRequest {
    pub fn done(&self) -> bool {
        self.status.is_some() || self.reset
    }
}

struct State {
    token: String,
    max_body_bytes: usize,
    max_line_bytes: usize,
    reject_needles: Vec<String>,
    faults: VecDeque<ListenerFault>,
    lines: Vec<Value>,
    requests: Vec<ListenerRequest>,
}

/// A running emulator; stops when dropped.
pub struct LogzioListener {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

impl Drop for LogzioListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl LogzioListener {
    /// Starts a listener on `127.0.0.1:0` accepting `token`.
    pub async fn start(token: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind Logz.io listener emulator");
        let addr = listener.local_addr().expect("listener address");
        let state = Arc::new(Mutex::new(State {
            token: token.to_owned(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            reject_needles: Vec::new(),
            faults: VecDeque::new(),
            lines: Vec::new(),
            requests: Vec::new(),
        }));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            // Connections live in the set: aborting this task drops it, which aborts them.
            let mut connections = JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                while connections.try_join_next().is_some() {}
                connections.spawn(serve(stream, shared.clone()));
            }
        });
        Self { addr, state, task }
    }

    /// `http://127.0.0.1:PORT` (no trailing slash; add `/?token=…&type=…`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting and closes every open connection.
    pub async fn shutdown(mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }

    /// Rotates the accepted token: the old one gets 401 from now on.
    pub fn set_token(&self, token: &str) {
        self.lock().token = token.to_owned();
    }

    /// Body limit (uncompressed bytes) above which a request gets 413.
    pub fn set_max_body_bytes(&self, bytes: usize) {
        self.lock().max_body_bytes = bytes;
    }

    /// Line limit (bytes) above which a line counts as oversized.
    pub fn set_max_line_bytes(&self, bytes: usize) {
        self.lock().max_line_bytes = bytes;
    }

    /// Lines containing `needle` count as malformed (the rest of their request is still
    /// accepted): to test split-to-isolate.
    pub fn reject_lines_containing(&self, needle: &str) {
        self.lock().reject_needles.push(needle.to_owned());
    }

    /// Stops rejecting lines by needle.
    pub fn clear_rejections(&self) {
        self.lock().reject_needles.clear();
    }

    /// Queues `fault` for the next request.
    pub fn fail_next(&self, fault: ListenerFault) {
        self.fail_next_n(fault, 1);
    }

    /// Queues `fault` for each of the next `n` requests (after faults already queued).
    pub fn fail_next_n(&self, fault: ListenerFault, n: usize) {
        let mut state = self.lock();
        state.faults.extend(std::iter::repeat_n(fault, n));
    }

    /// Faults still queued.
    pub fn pending_faults(&self) -> usize {
        self.lock().faults.len()
    }

    /// Accepted documents, in arrival order.
    pub fn lines(&self) -> Vec<Value> {
        self.lock().lines.clone()
    }

    /// Accepted documents whose JSON text contains `needle`.
    pub fn lines_containing(&self, needle: &str) -> Vec<Value> {
        self.lock()
            .lines
            .iter()
            .filter(|v| v.to_string().contains(needle))
            .cloned()
            .collect()
    }

    /// How many accepted documents' JSON text contains `needle`.
    pub fn count_containing(&self, needle: &str) -> usize {
        self.lines_containing(needle).len()
    }

    /// Every request received, in arrival order (including faulted and refused ones).
    pub fn requests(&self) -> Vec<ListenerRequest> {
        self.lock().requests.clone()
    }

    /// The status of each request (`None`: reset or still in progress).
    pub fn statuses(&self) -> Vec<Option<u16>> {
        self.lock().requests.iter().map(|r| r.status).collect()
    }

    /// Waits until `n` requests have been answered or reset (e.g. the delayed one the client
    /// gave up on); false after `timeout`.
    pub async fn wait_for_requests(&self, n: usize, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.lock().requests.iter().filter(|r| r.done()).count() >= n {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }
}

/// A request as read off the connection.
struct Incoming {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    chunked: bool,
}

impl Incoming {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

async fn serve(mut stream: TcpStream, state: Arc<Mutex<State>>) {
    let mut buffer = Vec::new();
    while let Some(request) = read_request(&mut stream, &mut buffer).await {
        let close = request
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let (index, fault) = {
            let mut state = state.lock().unwrap();
            let fault = state.faults.pop_front();
            state.requests.push(record(&request, fault.clone()));
            (state.requests.len() - 1, fault)
        };
        let (status, body) = match fault {
            Some(ListenerFault::Reset) => {
                state.lock().unwrap().requests[index].reset = true;
                #[allow(deprecated)]
                let _ = stream.set_linger(Some(Duration::ZERO));
                return;
            }
            Some(ListenerFault::Status(status)) => (status, fault_body(status)),
            Some(ListenerFault::Delay(pause)) => {
                tokio::time::sleep(pause).await;
                process(&request, &state, index)
            }
            None => process(&request, &state, index),
        };
        state.lock().unwrap().requests[index].status = Some(status);
        let head = format!(
            "HTTP/1.1 {status} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}\r\n",
            reason(status),
            if body.is_empty() {
                "text/plain"
            } else {
                "application/json"
            },
            body.len(),
            if close { "Connection: close\r\n" } else { "" },
        );
        if stream.write_all(head.as_bytes()).await.is_err()
            || stream.write_all(&body).await.is_err()
            || close
        {
            return;
        }
    }
}

/// The record of a request before it is processed.
fn record(request: &Incoming, fault: Option<ListenerFault>) -> ListenerRequest {
    let query = query_params(&request.target);
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let gzip = is_gzip(request);
    let decoded = decode(request).ok();
    ListenerRequest {
        method: request.method.clone(),
        target: request.target.clone(),
        token: param("token"),
        log_type: param("type"),
        gzip,
        chunked: request.chunked,
        content_type: request.header("content-type").map(str::to_owned),
        wire_len: request.body.len(),
        body_len: decoded.as_ref().map(Vec::len),
        lines: decoded.as_deref().map(split_lines).map_or(0, |l| l.len()),
        counts: LineCounts::default(),
        fault,
        status: None,
        reset: false,
    }
}

/// What the listener does with a request: auth, size, lines.
fn process(request: &Incoming, state: &Mutex<State>, index: usize) -> (u16, Vec<u8>) {
    let message = |text: &str| serde_json::to_vec(&json!({ "message": text })).expect("json");
    let (path, _) = request
        .target
        .split_once('?')
        .unwrap_or((&request.target, ""));
    if request.method != "POST" {
        return (405, message("Only POST is supported"));
    }
    if !(path.is_empty() || path == "/") {
        return (404, message("Not found"));
    }
    let mut state = state.lock().unwrap();
    let record = state.requests[index].clone();
    match &record.token {
        None => return (401, message("Logging token is missing")),
        Some(t) if t.is_empty() => return (401, message("Logging token is missing")),
        Some(t) if *t != state.token => return (401, message("Logging token is not valid")),
        Some(_) => {}
    }
    let too_large = format!(
        "Request is too large. Make sure the request payload is less than {} bytes",
        state.max_body_bytes
    );
    if record.wire_len > state.max_body_bytes {
        return (413, message(&too_large));
    }
    let Ok(body) = decode(request) else {
        return (400, message("Could not decompress the gzip request body"));
    };
    if body.len() > state.max_body_bytes {
        return (413, message(&too_large));
    }
    let log_type = record
        .log_type
        .clone()
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| DEFAULT_TYPE.to_owned());
    let mut counts = LineCounts::default();
    for line in split_lines(&body) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            counts.empty += 1;
            continue;
        }
        if line.len() > state.max_line_bytes {
            counts.oversized += 1;
            continue;
        }
        let Ok(Value::Object(mut doc)) = serde_json::from_slice::<Value>(line) else {
            counts.malformed += 1;
            continue;
        };
        if state
            .reject_needles
            .iter()
            .any(|needle| contains(line, needle.as_bytes()))
        {
            counts.malformed += 1;
            continue;
        }
        doc.entry("type")
            .or_insert_with(|| Value::String(log_type.clone()));
        state.lines.push(Value::Object(doc));
        counts.successful += 1;
    }
    state.requests[index].counts = counts;
    if counts.refused() == 0 {
        (200, Vec::new())
    } else {
        (400, serde_json::to_vec(&counts.to_json()).expect("json"))
    }
}

fn fault_body(status: u16) -> Vec<u8> {
    let text = match status {
        401 => "Logging token is not valid",
        413 => "Request is too large",
        429 => "Too many requests",
        _ => "injected by the Logz.io listener emulator",
    };
    serde_json::to_vec(&json!({ "message": text })).expect("json")
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Request Entity Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Injected",
    }
}

fn is_gzip(request: &Incoming) -> bool {
    request
        .header("content-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("gzip"))
}

/// The body after gzip decoding (all members).
fn decode(request: &Incoming) -> Result<Vec<u8>, std::io::Error> {
    if !is_gzip(request) {
        return Ok(request.body.clone());
    }
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(&request.body[..]).read_to_end(&mut out)?;
    Ok(out)
}

/// Lines of a body: split on `\n`, a final `\n` terminating the last line.
fn split_lines(body: &[u8]) -> Vec<&[u8]> {
    if body.is_empty() {
        return Vec::new();
    }
    let body = body.strip_suffix(b"\n").unwrap_or(body);
    body.split(|&b| b == b'\n').collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// Decoded `name=value` pairs of the target's query (`+` is a space, as in forms).
fn query_params(target: &str) -> Vec<(String, String)> {
    let Some((_, query)) = target.split_once('?') else {
        return Vec::new();
    };
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (form_decode(k), form_decode(v))
        })
        .collect()
}

fn form_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads more bytes into `buffer`; false on EOF or error.
async fn fill(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> bool {
    let mut chunk = vec![0u8; 64 * 1024];
    match stream.read(&mut chunk).await {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            buffer.extend_from_slice(&chunk[..n]);
            true
        }
    }
}

/// Position of `needle` in `buffer` at or after `from`, reading more as needed.
async fn wait_for(
    stream: &mut TcpStream,
    buffer: &mut Vec<u8>,
    from: usize,
    needle: &[u8],
) -> Option<usize> {
    loop {
        if let Some(i) = buffer[from..]
            .windows(needle.len())
            .position(|w| w == needle)
        {
            return Some(from + i);
        }
        if !fill(stream, buffer).await {
            return None;
        }
    }
}

/// Reads one HTTP/1.1 request (`Content-Length` or chunked body). `None` when the connection
/// is closed or the request is not HTTP.
async fn read_request(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<Incoming> {
    let head_end = wait_for(stream, buffer, 0, b"\r\n\r\n").await? + 4;
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_owned();
    let target = request_line.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    if header("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
        stream
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .await
            .ok()?;
    }
    let chunked =
        header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let mut body = Vec::new();
    let mut pos = head_end;
    if chunked {
        loop {
            let line_end = wait_for(stream, buffer, pos, b"\r\n").await?;
            let size_text = String::from_utf8_lossy(&buffer[pos..line_end]).into_owned();
            let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
            pos = line_end + 2;
            if size == 0 {
                // Trailers, up to an empty line.
                loop {
                    let end = wait_for(stream, buffer, pos, b"\r\n").await?;
                    let empty = end == pos;
                    pos = end + 2;
                    if empty {
                        break;
                    }
                }
                break;
            }
            while buffer.len() < pos + size + 2 {
                if !fill(stream, buffer).await {
                    return None;
                }
            }
            body.extend_from_slice(&buffer[pos..pos + size]);
            pos += size + 2;
        }
    } else {
        let length: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while buffer.len() < head_end + length {
            if !fill(stream, buffer).await {
                return None;
            }
        }
        body.extend_from_slice(&buffer[head_end..head_end + length]);
        pos = head_end + length;
    }
    buffer.drain(..pos);
    Some(Incoming {
        method,
        target,
        headers,
        body,
        chunked,
    })
}
