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

use std::collections::VecDeque;
use std::io::Read as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

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

/// One request the proxy received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    /// Body as received.
    pub wire_len: usize,
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
            let head = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            if stream.write_all(head.as_bytes()).await.is_err()
                || stream.write_all(&body).await.is_err()
            {
                return;
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
        body,
    })
}
