//! Self-test of the fault proxy's authentication checks (`FaultProxy::require_auth`): refused
//! requests never reach osmem-server, verified ones do, and the expected credentials can be
//! rotated between requests. SigV4 requests are signed by the forwarder's own signer
//! (`log_forwarder::output::auth::sign_v4`) and verified by the independent verifier.

mod support;

use std::io::Write as _;
use std::time::{Duration, SystemTime};

use aws_sdk_sqs::config::Credentials;
use base64::Engine as _;
use serde_json::Value;
use support::proxy::{ExpectedAuth, FaultProxy};
use support::servers;
use support::sigv4::TestCredentials;

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

async fn send(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.expect("proxy answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.unwrap();
    Answer {
        status,
        headers,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

/// Documents osmem has in `index` (asked directly, not through the proxy).
async fn count(index: &str) -> u64 {
    let url = format!("{}/{index}/_count", servers::osmem_url());
    let bytes = reqwest::get(url).await.unwrap().bytes().await.unwrap();
    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    v["count"].as_u64().unwrap_or(0)
}

/// PUTs document `id` into `index` through the proxy with `authorization`, refreshing.
async fn put(proxy: &FaultProxy, index: &str, id: &str, authorization: Option<&str>) -> Answer {
    let url = format!("{}/{index}/_doc/{id}?refresh=true", proxy.url);
    let mut request = reqwest::Client::new()
        .put(url)
        .header("content-type", "application/json")
        .body(format!(r#"{{"message":"{id}"}}"#));
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    send(request).await
}

fn basic(user: &str, password: &str) -> String {
    let pair = format!("{user}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_is_checked_refused_requests_are_not_forwarded_and_rotation_works() {
    let proxy = FaultProxy::start(servers::osmem_url()).await;
    let index = "t-proxy-auth-basic";
    proxy.require_auth(ExpectedAuth::basic("elastic", "first-password"));

    let answer = put(&proxy, index, "no-credentials", None).await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.body["error"]["type"], "security_exception");
    assert_eq!(answer.body["status"], 401);
    assert!(answer.body["error"]["reason"]
        .as_str()
        .unwrap()
        .contains("missing authentication credentials"));
    assert!(answer.headers["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Basic realm="));
    assert_eq!(
        proxy.last_auth_failure().unwrap(),
        "no Authorization header"
    );

    let answer = put(&proxy, index, "wrong", Some(&basic("elastic", "guess"))).await;
    assert_eq!(answer.status, 401);
    let reason = proxy.last_auth_failure().unwrap();
    assert!(
        reason.contains("wrong password for user \"elastic\""),
        "{reason}"
    );
    assert!(!reason.contains("guess") && !reason.contains("first-password"));
    let answer = put(
        &proxy,
        index,
        "user",
        Some(&basic("admin", "first-password")),
    )
    .await;
    assert_eq!(answer.status, 401);
    assert!(proxy.last_auth_failure().unwrap().contains("\"admin\""));
    let answer = put(&proxy, index, "scheme", Some("Bearer abc")).await;
    assert_eq!(answer.status, 401);
    assert!(proxy
        .last_auth_failure()
        .unwrap()
        .contains("expected Basic"));
    assert_eq!(proxy.auth_failures(), 4);
    assert_eq!(count(index).await, 0, "a refused request reached osmem");

    let answer = put(
        &proxy,
        index,
        "good",
        Some(&basic("elastic", "first-password")),
    )
    .await;
    assert!(
        answer.status == 200 || answer.status == 201,
        "{}",
        answer.status
    );
    assert_eq!(count(index).await, 1);
    assert_eq!(proxy.auth_passes(), 1);

    // Rotation: the old password stops working, the new one works.
    proxy.set_expected_auth(Some(ExpectedAuth::basic("elastic", "second-password")));
    let answer = put(
        &proxy,
        index,
        "old",
        Some(&basic("elastic", "first-password")),
    )
    .await;
    assert_eq!(answer.status, 401);
    let answer = put(
        &proxy,
        index,
        "new",
        Some(&basic("elastic", "second-password")),
    )
    .await;
    assert!(answer.status < 300, "{}", answer.status);
    // And without a requirement, anything passes again.
    proxy.set_expected_auth(None);
    let answer = put(&proxy, index, "open", None).await;
    assert!(answer.status < 300, "{}", answer.status);
    assert_eq!(count(index).await, 3);
    assert_eq!(proxy.auth_failures(), 5);
    assert_eq!(proxy.requests().len(), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_are_checked() {
    let proxy = FaultProxy::start(servers::osmem_url()).await;
    let index = "t-proxy-auth-apikey";
    proxy.require_auth(ExpectedAuth::api_key(
        "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==",
    ));

    let answer = put(&proxy, index, "basic", Some(&basic("elastic", "x"))).await;
    assert_eq!(answer.status, 401);
    assert!(proxy
        .last_auth_failure()
        .unwrap()
        .contains("expected ApiKey"));
    let answer = put(&proxy, index, "wrong", Some("ApiKey bm9wZTpub3Bl")).await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.body["error"]["type"], "security_exception");
    let reason = proxy.last_auth_failure().unwrap();
    assert!(reason.contains("API key differs"), "{reason}");
    assert!(!reason.contains("bm9wZTpub3Bl"));
    assert_eq!(count(index).await, 0);

    let good = "ApiKey VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==";
    let answer = put(&proxy, index, "good", Some(good)).await;
    assert!(answer.status < 300, "{}", answer.status);
    assert_eq!(count(index).await, 1);
    assert_eq!((proxy.auth_failures(), proxy.auth_passes()), (2, 1));
    assert_eq!(format!("{:?}", ExpectedAuth::api_key("zzz")), "ApiKey(**)");
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// A gzip `_bulk` POST signed by the forwarder's signer at `time`, with `tamper` applied to
/// the body after signing.
async fn signed_bulk(
    proxy: &FaultProxy,
    index: &str,
    ids: &[&str],
    credentials: &Credentials,
    time: SystemTime,
    tamper: impl FnOnce(&mut Vec<u8>),
) -> Answer {
    let mut ndjson = String::new();
    for id in ids {
        ndjson.push_str(&format!(
            "{{\"create\":{{\"_index\":\"{index}\",\"_id\":\"{id}\"}}}}\n{{\"message\":\"{id}\"}}\n"
        ));
    }
    let mut body = gzip(ndjson.as_bytes());
    let url = format!("{}/_bulk?refresh=true", proxy.url);
    let headers = [
        ("content-type", "application/x-ndjson"),
        ("content-encoding", "gzip"),
    ];
    let signed = log_forwarder::output::auth::sign_v4(
        "POST",
        &url,
        &headers,
        &body,
        credentials,
        "eu-west-1",
        "es",
        time,
        true,
    )
    .expect("sign");
    tamper(&mut body);
    let mut request = reqwest::Client::new().post(url).body(body);
    for (name, value) in headers.iter().copied() {
        request = request.header(name, value);
    }
    for (name, value) in &signed {
        request = request.header(name.as_str(), value.as_str());
    }
    send(request).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigv4_signatures_are_verified_with_403_like_amazon_opensearch_service() {
    let proxy = FaultProxy::start(servers::osmem_url()).await;
    let index = "t-proxy-auth-sigv4";
    let token = "IQoJb3JpZ2luX2VjEHQaCWV1LXdlc3QtMSJHMEUCIQ+test/token==";
    let expected = TestCredentials::new("ASIATESTKEY", "role-secret", "eu-west-1", "es")
        .with_session_token(token);
    proxy.require_auth(ExpectedAuth::SigV4(expected.clone()));
    let role = Credentials::new(
        "ASIATESTKEY",
        "role-secret",
        Some(token.into()),
        None,
        "test",
    );
    let now = SystemTime::now();

    let answer = signed_bulk(&proxy, index, &["a", "b"], &role, now, |_| {}).await;
    assert_eq!(
        answer.status,
        200,
        "{:?} {:?}",
        answer.body,
        proxy.last_auth_failure()
    );
    assert_eq!(answer.body["errors"], false);
    assert_eq!(count(index).await, 2);
    let seen = proxy.bulk_requests();
    assert_eq!(seen[0].header("content-encoding"), Some("gzip"));
    assert!(seen[0]
        .header("authorization")
        .unwrap()
        .starts_with("AWS4-HMAC-SHA256 "));

    // A wrong secret, a body changed after signing, a stale clock, a missing token.
    let wrong = Credentials::new("ASIATESTKEY", "other-secret", Some(token.into()), None, "t");
    let answer = signed_bulk(&proxy, index, &["c"], &wrong, now, |_| {}).await;
    assert_eq!(answer.status, 403);
    assert!(answer.body["message"]
        .as_str()
        .unwrap()
        .starts_with("The request signature we calculated does not match"));
    let reason = proxy.last_auth_failure().unwrap();
    assert!(reason.starts_with("signature mismatch"), "{reason}");
    assert!(!reason.contains("other-secret") && !reason.contains("role-secret"));
    assert!(!reason.contains(token), "{reason}");

    // (A different valid gzip body: the proxy, like a cluster, decodes what it receives.)
    let answer = signed_bulk(&proxy, index, &["d"], &role, now, |body| {
        *body = gzip(b"{\"create\":{\"_index\":\"t-proxy-auth-sigv4\",\"_id\":\"x\"}}\n{}\n");
    })
    .await;
    assert_eq!(answer.status, 403);
    assert!(proxy
        .last_auth_failure()
        .unwrap()
        .contains("x-amz-content-sha256"));

    let stale = now - Duration::from_secs(20 * 60);
    let answer = signed_bulk(&proxy, index, &["e"], &role, stale, |_| {}).await;
    assert_eq!(answer.status, 403);
    assert!(answer.body["message"]
        .as_str()
        .unwrap()
        .starts_with("Signature expired"));

    let no_token = Credentials::new("ASIATESTKEY", "role-secret", None, None, "t");
    let answer = signed_bulk(&proxy, index, &["f"], &no_token, now, |_| {}).await;
    assert_eq!(answer.status, 403);
    assert!(proxy
        .last_auth_failure()
        .unwrap()
        .contains("X-Amz-Security-Token missing"));
    assert_eq!(proxy.auth_failures(), 4);
    assert_eq!(count(index).await, 2, "a refused request reached osmem");

    // Rotated role credentials: the old ones are refused, the new ones pass.
    let rotated = TestCredentials::new("ASIAROTATED", "new-secret", "eu-west-1", "es")
        .with_session_token("new-token");
    proxy.set_expected_auth(Some(ExpectedAuth::SigV4(rotated)));
    let answer = signed_bulk(&proxy, index, &["g"], &role, now, |_| {}).await;
    assert_eq!(answer.status, 403);
    assert!(proxy.last_auth_failure().unwrap().contains("access key id"));
    let new_role = Credentials::new(
        "ASIAROTATED",
        "new-secret",
        Some("new-token".into()),
        None,
        "t",
    );
    let answer = signed_bulk(&proxy, index, &["h"], &new_role, now, |_| {}).await;
    assert_eq!(answer.status, 200, "{:?}", proxy.last_auth_failure());
    assert_eq!(count(index).await, 3);
    assert_eq!(proxy.auth_passes(), 2);
}
