//! Self-test of the Logz.io listener emulator (`tests/support/logzio.rs`): it must answer
//! like the listener before the forwarder's Logz.io tests can rely on it.

// Only the support module this test needs, so that it builds whatever state the harness in
// `support/mod.rs` is in.
mod support {
    #![allow(dead_code)]
    pub mod logzio;
}

use std::io::Write as _;
use std::time::Duration;

use serde_json::{json, Value};
use support::logzio::{LineCounts, ListenerFault, LogzioListener};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOKEN: &str = "oCwtQDtWjDOMcHXHGGNrnRgkEMxCDuiO";

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn ndjson(docs: &[Value]) -> Vec<u8> {
    let mut body = Vec::new();
    for d in docs {
        body.extend_from_slice(d.to_string().as_bytes());
        body.push(b'\n');
    }
    body
}

struct Answer {
    status: u16,
    body: String,
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    body: Vec<u8>,
    gzipped: bool,
) -> Result<Answer, reqwest::Error> {
    let mut request = client
        .post(url)
        .header("content-type", "application/json")
        .body(body);
    if gzipped {
        request = request.header("content-encoding", "gzip");
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    let body = response.text().await?;
    Ok(Answer { status, body })
}

fn url(listener: &LogzioListener, token: &str, log_type: &str) -> String {
    format!("{}/?token={token}&type={log_type}", listener.url())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_documents_are_accepted_with_200_and_stored() {
    let listener = LogzioListener::start(TOKEN).await;
    let client = reqwest::Client::new();
    let raw = ndjson(&[
        json!({"message": "one", "n": 1}),
        json!({"message": "two", "n": 2}),
        json!({"message": "three", "n": 3}),
    ]);
    let wire = gzip(&raw);
    let answer = post(
        &client,
        &url(&listener, TOKEN, "cloudwatch"),
        wire.clone(),
        true,
    )
    .await
    .unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, "");

    let lines = listener.lines();
    assert_eq!(lines.len(), 3);
    assert_eq!(
        lines[0],
        json!({"message": "one", "n": 1, "type": "cloudwatch"})
    );
    assert_eq!(lines[2]["message"], "three");
    assert_eq!(listener.count_containing("\"two\""), 1);

    let requests = listener.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.token.as_deref(), Some(TOKEN));
    assert_eq!(r.log_type.as_deref(), Some("cloudwatch"));
    assert!(r.gzip && !r.chunked);
    assert_eq!(r.wire_len, wire.len());
    assert_eq!(r.body_len, Some(raw.len()));
    assert_eq!(r.lines, 3);
    assert_eq!(r.status, Some(200));
    assert_eq!(
        r.counts,
        LineCounts {
            successful: 3,
            ..LineCounts::default()
        }
    );

    // Several gzip members in one body (a concatenation of compressed parts) all count.
    let mut members = gzip(&ndjson(&[json!({"message": "m1"})]));
    members.extend(gzip(&ndjson(&[json!({"message": "m2"})])));
    let answer = post(&client, &url(&listener, TOKEN, "cloudwatch"), members, true)
        .await
        .unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(listener.count_containing("\"m1\""), 1);
    assert_eq!(listener.count_containing("\"m2\""), 1);

    // Plain (uncompressed) bodies are accepted too.
    let answer = post(
        &client,
        &url(&listener, TOKEN, "cloudwatch"),
        ndjson(&[json!({"message": "plain"})]),
        false,
    )
    .await
    .unwrap();
    assert_eq!(answer.status, 200);
    assert!(!listener.requests()[2].gzip);
    assert_eq!(listener.lines().len(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_wrong_token_gets_401_and_stores_nothing() {
    let listener = LogzioListener::start(TOKEN).await;
    let client = reqwest::Client::new();
    let body = || gzip(&ndjson(&[json!({"message": "secret stuff"})]));

    let missing = format!("{}/?type=cloudwatch", listener.url());
    let answer = post(&client, &missing, body(), true).await.unwrap();
    assert_eq!(answer.status, 401);
    assert!(
        answer.body.contains("Logging token is missing"),
        "{}",
        answer.body
    );

    let answer = post(
        &client,
        &url(&listener, "wrong", "cloudwatch"),
        body(),
        true,
    )
    .await
    .unwrap();
    assert_eq!(answer.status, 401);
    assert!(
        answer.body.contains("Logging token is not valid"),
        "{}",
        answer.body
    );
    assert!(listener.lines().is_empty());
    let requests = listener.requests();
    assert_eq!(requests[0].token, None);
    assert_eq!(requests[1].token.as_deref(), Some("wrong"));
    assert_eq!(listener.statuses(), vec![Some(401), Some(401)]);

    // Token rotation: the old token stops working, the new one works.
    listener.set_token("rotated-token");
    let answer = post(&client, &url(&listener, TOKEN, "cloudwatch"), body(), true)
        .await
        .unwrap();
    assert_eq!(answer.status, 401);
    let answer = post(&client, &url(&listener, "rotated-token", "x"), body(), true)
        .await
        .unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(listener.lines().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_limit_get_413_measured_uncompressed() {
    let listener = LogzioListener::start(TOKEN).await;
    let client = reqwest::Client::new();
    // 20 lines of exactly 500,000 bytes (the largest accepted line) plus their newlines:
    // 10,000,020 bytes uncompressed, a few kilobytes on the wire.
    let filler = "x".repeat(500_000 - r#"{"message":""}"#.len());
    let line = format!(r#"{{"message":"{filler}"}}"#);
    assert_eq!(line.len(), 500_000);
    let mut raw = Vec::new();
    for _ in 0..20 {
        raw.extend_from_slice(line.as_bytes());
        raw.push(b'\n');
    }
    let wire = gzip(&raw);
    assert!(wire.len() < 100_000);
    let answer = post(&client, &url(&listener, TOKEN, "t"), wire, true)
        .await
        .unwrap();
    assert_eq!(answer.status, 413);
    assert!(listener.lines().is_empty());
    assert_eq!(listener.requests()[0].body_len, Some(10_000_020));

    // Exactly at the limit is fine: 19 lines of 500,000 bytes and their newlines, then a
    // last line of 499,981 bytes without one — 10,000,000 bytes.
    let mut raw = Vec::new();
    for i in 0..20 {
        let line = if i < 19 {
            line.clone()
        } else {
            format!(r#"{{"message":"{}"}}"#, &filler[..filler.len() - 19])
        };
        raw.extend_from_slice(line.as_bytes());
        if i < 19 {
            raw.push(b'\n');
        }
    }
    assert_eq!(raw.len(), 10_000_000);
    let answer = post(&client, &url(&listener, TOKEN, "t"), gzip(&raw), true)
        .await
        .unwrap();
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(listener.lines().len(), 20);

    // The limit is a setting.
    listener.set_max_body_bytes(1_000);
    let small = ndjson(&vec![json!({"message": "0123456789"}); 50]);
    assert!(small.len() > 1_000);
    let answer = post(&client, &url(&listener, TOKEN, "t"), small, false)
        .await
        .unwrap();
    assert_eq!(answer.status, 413);
    assert_eq!(listener.lines().len(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_lines_get_400_with_counts_and_the_good_lines_are_stored() {
    let listener = LogzioListener::start(TOKEN).await;
    let client = reqwest::Client::new();
    listener.reject_lines_containing("poison-pill");
    let largest = format!(r#"{{"message":"{}"}}"#, "y".repeat(500_000 - 14));
    assert_eq!(largest.len(), 500_000);
    let oversized = format!(r#"{{"message":"{}"}}"#, "z".repeat(500_001 - 14));
    let body = [
        r#"{"message":"good-1"}"#,
        "",
        "   ",
        "not json at all",
        "[1,2,3]",
        r#""a string""#,
        r#"{"message":"has poison-pill inside"}"#,
        &oversized,
        &largest,
        r#"{"message":"good-2"}"#,
    ]
    .join("\n");
    let answer = post(
        &client,
        &url(&listener, TOKEN, "app"),
        gzip(body.as_bytes()),
        true,
    )
    .await
    .unwrap();
    assert_eq!(answer.status, 400);
    let counts: Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(
        counts,
        json!({"malformedLines": 4, "successfulLines": 3, "oversizedLines": 1, "emptyLogLines": 2})
    );
    let stored = listener.lines();
    assert_eq!(stored.len(), 3);
    assert_eq!(stored[0]["message"], "good-1");
    assert_eq!(stored[1]["message"].as_str().unwrap().len(), 500_000 - 14);
    assert_eq!(stored[2]["message"], "good-2");
    assert_eq!(listener.count_containing("poison-pill"), 0);
    let r = &listener.requests()[0];
    assert_eq!(r.lines, 10);
    assert_eq!(r.counts.refused(), 7);

    // Without the needle, the same document is accepted.
    listener.clear_rejections();
    let answer = post(
        &client,
        &url(&listener, TOKEN, "app"),
        ndjson(&[json!({"message": "has poison-pill inside"})]),
        false,
    )
    .await
    .unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(listener.count_containing("poison-pill"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_type_overrides_the_request_type() {
    let listener = LogzioListener::start(TOKEN).await;
    let client = reqwest::Client::new();
    let body = ndjson(&[
        json!({"message": "a"}),
        json!({"message": "b", "type": "nginx"}),
    ]);
    let answer = post(
        &client,
        &url(&listener, TOKEN, "cloudwatch"),
        body.clone(),
        false,
    )
    .await
    .unwrap();
    assert_eq!(answer.status, 200);
    let without_type = format!("{}/?token={TOKEN}", listener.url());
    let answer = post(&client, &without_type, body, false).await.unwrap();
    assert_eq!(answer.status, 200);
    let types: Vec<Value> = listener.lines().iter().map(|d| d["type"].clone()).collect();
    assert_eq!(
        types,
        vec![
            json!("cloudwatch"),
            json!("nginx"),
            json!("http-bulk"),
            json!("nginx")
        ]
    );
    assert_eq!(listener.requests()[1].log_type, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_statuses_store_nothing_and_are_consumed_in_order() {
    let listener = LogzioListener::start(TOKEN).await;
    let client = reqwest::Client::new();
    listener.fail_next(ListenerFault::Status(429));
    listener.fail_next_n(ListenerFault::Status(503), 2);
    listener.fail_next(ListenerFault::Status(413));
    assert_eq!(listener.pending_faults(), 4);
    let mut statuses = Vec::new();
    for i in 0..5 {
        let body = gzip(&ndjson(&[json!({"message": format!("try-{i}")})]));
        let answer = post(&client, &url(&listener, TOKEN, "t"), body, true)
            .await
            .unwrap();
        statuses.push(answer.status);
    }
    assert_eq!(statuses, vec![429, 503, 503, 413, 200]);
    let stored = listener.lines();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["message"], "try-4");
    let requests = listener.requests();
    assert_eq!(requests[0].fault, Some(ListenerFault::Status(429)));
    assert_eq!(requests[4].fault, None);
    assert_eq!(listener.pending_faults(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delayed_request_times_out_at_the_client_but_is_stored() {
    let listener = LogzioListener::start(TOKEN).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    listener.fail_next(ListenerFault::Delay(Duration::from_millis(700)));
    let body = gzip(&ndjson(&[json!({"message": "late"})]));
    let err = post(&client, &url(&listener, TOKEN, "t"), body, true)
        .await
        .err()
        .expect("the client gives up first");
    assert!(err.is_timeout(), "{err}");
    assert!(listener.lines().is_empty(), "stored before the delay ended");
    assert!(listener.wait_for_requests(1, Duration::from_secs(5)).await);
    assert_eq!(listener.count_containing("late"), 1);
    assert_eq!(listener.statuses(), vec![Some(200)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_answers_nothing_and_stores_nothing() {
    let listener = LogzioListener::start(TOKEN).await;
    let client = reqwest::Client::new();
    listener.fail_next(ListenerFault::Reset);
    let body = || gzip(&ndjson(&[json!({"message": "reset me"})]));
    let err = post(&client, &url(&listener, TOKEN, "t"), body(), true)
        .await
        .err()
        .expect("connection reset");
    assert!(!err.is_timeout(), "{err}");
    assert!(listener.lines().is_empty());
    let r = &listener.requests()[0];
    assert!(r.reset && r.status.is_none() && r.done());
    // The next request (on a new connection) goes through.
    let answer = post(&client, &url(&listener, TOKEN, "t"), body(), true)
        .await
        .unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(listener.count_containing("reset me"), 1);
}

/// Reads one response with a `Content-Length` body from a raw connection.
async fn read_response(stream: &mut tokio::net::TcpStream) -> (String, String) {
    let mut buf = Vec::new();
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap();
            while buf.len() < end + 4 + length {
                let mut chunk = [0u8; 4096];
                let n = stream.read(&mut chunk).await.unwrap();
                assert!(n > 0, "connection closed mid-response");
                buf.extend_from_slice(&chunk[..n]);
            }
            let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + length]).into_owned();
            return (head, body);
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed before a response");
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_chunked_bodies_and_expect_continue_over_raw_tcp() {
    let listener = LogzioListener::start(TOKEN).await;
    let mut stream = tokio::net::TcpStream::connect(listener.addr())
        .await
        .unwrap();
    let host = listener.addr().to_string();

    // 1: Content-Length body.
    let body = b"{\"message\":\"first\"}\n";
    let request = format!(
        "POST /?token={TOKEN}&type=raw HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let (head, _) = read_response(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");

    // 2: chunked gzip body with a chunk extension and a trailer, same connection.
    let wire = gzip(b"{\"message\":\"second\"}\n{\"message\":\"third\"}\n");
    let (a, b) = wire.split_at(wire.len() / 2);
    let mut request = format!(
        "POST /?token={TOKEN}&type=raw HTTP/1.1\r\nHost: {host}\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n{:x};ext=1\r\n",
        a.len()
    )
    .into_bytes();
    request.extend_from_slice(a);
    request.extend_from_slice(format!("\r\n{:x}\r\n", b.len()).as_bytes());
    request.extend_from_slice(b);
    request.extend_from_slice(b"\r\n0\r\nX-Trailer: yes\r\n\r\n");
    // Sent in two pieces, to exercise reading a body that arrives late.
    let (first, rest) = request.split_at(request.len() / 2);
    stream.write_all(first).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    stream.write_all(rest).await.unwrap();
    let (head, _) = read_response(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");

    // 3: Expect: 100-continue, then a refused line; then Connection: close.
    let body = b"{\"message\":\"fourth\"}\nnope\n";
    let request = format!(
        "POST /?token={TOKEN}&type=raw HTTP/1.1\r\nHost: {host}\r\nExpect: 100-continue\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut interim = [0u8; 25];
    stream.read_exact(&mut interim).await.unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    stream.write_all(body).await.unwrap();
    let (head, body) = read_response(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 400 "), "{head}");
    assert!(body.contains("\"malformedLines\":1"), "{body}");
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty(), "the server closed after Connection: close");

    let requests = listener.requests();
    assert_eq!(requests.len(), 3);
    assert!(requests[1].chunked && requests[1].gzip);
    assert_eq!(requests[1].wire_len, wire.len());
    assert_eq!(requests[1].lines, 2);
    let messages: Vec<Value> = listener
        .lines()
        .iter()
        .map(|d| d["message"].clone())
        .collect();
    assert_eq!(
        messages,
        vec![
            json!("first"),
            json!("second"),
            json!("third"),
            json!("fourth")
        ]
    );

    // Not POST / → refused.
    let client = reqwest::Client::new();
    let get = client.get(url(&listener, TOKEN, "t")).send().await.unwrap();
    assert_eq!(get.status().as_u16(), 405);
    let elsewhere = format!("{}/bulk?token={TOKEN}", listener.url());
    let answer = post(&client, &elsewhere, b"{}\n".to_vec(), false)
        .await
        .unwrap();
    assert_eq!(answer.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_stops_when_the_handle_is_dropped() {
    let listener = LogzioListener::start(TOKEN).await;
    let addr = listener.addr();
    // An idle keep-alive connection, open before the drop.
    let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    drop(listener);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(2), idle.read(&mut buf))
        .await
        .expect("the open connection is closed, not left hanging")
        .unwrap_or(0);
    assert_eq!(n, 0);

    let listener = LogzioListener::start(TOKEN).await;
    let addr = listener.addr();
    listener.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
