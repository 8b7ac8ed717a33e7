//! TLS to the destination: a real HTTPS server whose certificate comes from a private CA is
//! trusted only when that CA is given in `TLS_CA_BUNDLE`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use log_forwarder::config::{Config, DestinationConfig};
use log_forwarder::output::auth::Authenticator;
use log_forwarder::output::elasticsearch::Elasticsearch;
use log_forwarder::output::{Destination, ItemVerdict, RequestVerdict, Response};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

/// A private CA (PEM) and an HTTPS `_bulk` endpoint for `localhost` with a certificate it
/// issued. The server answers every request with one created item.
async fn https_server() -> (String, u16) {
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().expect("leaf key");
    let leaf = CertificateParams::new(vec!["localhost".to_owned()])
        .expect("leaf params")
        .signed_by(&leaf_key, &issuer)
        .expect("leaf certificate");

    let _ = tokio_rustls::rustls::crypto::aws_lc_rs::default_provider().install_default();
    let config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(leaf.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )
        .expect("server config");
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = vec![0; 64 * 1024];
                let mut seen = Vec::new();
                // Read the head and a Content-Length body, then answer once.
                loop {
                    let Ok(n) = tls.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&seen);
                    if let Some(head_end) = text.find("\r\n\r\n") {
                        let length = text[..head_end]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if seen.len() >= head_end + 4 + length {
                            break;
                        }
                    }
                }
                let body = r#"{"errors":false,"items":[{"create":{"_index":"i","_id":"1","status":201}}]}"#;
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(response.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (ca_cert.pem(), port)
}

fn destination(port: u16, ca_bundle: Option<&str>) -> Elasticsearch {
    let config = Config::from_lookup(|name| match name {
        "ES_ENDPOINT" => Some(format!("https://localhost:{port}")),
        "DLQ_QUEUE_URL" => Some("http://127.0.0.1:9/q".to_owned()),
        "TLS_CA_BUNDLE" => ca_bundle.map(str::to_owned),
        _ => None,
    })
    .expect("configuration");
    let DestinationConfig::Elasticsearch(es) = &config.destination else {
        unreachable!()
    };
    Elasticsearch::new(es, &config.output, Authenticator::None).expect("client")
}

#[tokio::test]
async fn a_private_ca_is_trusted_only_through_tls_ca_bundle() {
    let (ca_pem, port) = https_server().await;
    let dir = std::env::temp_dir().join(format!("lf-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let bundle = dir.join("private-ca.pem");
    std::fs::write(&bundle, ca_pem).expect("write bundle");
    let body = Bytes::from_static(b"{\"create\":{\"_index\":\"i\",\"_id\":\"1\"}}\n{}\n");

    let trusting = destination(port, bundle.to_str());
    let answer = trusting.send(body.clone(), 1, Duration::from_secs(5)).await;
    assert_eq!(answer, Response::Items(vec![ItemVerdict::Delivered]));

    // Without the bundle the same server is not trusted: a transport error, retried later.
    let default_roots = destination(port, None);
    match default_roots.send(body, 1, Duration::from_secs(5)).await {
        Response::Request(RequestVerdict::Retry(reason)) => {
            assert!(reason.contains("transport error"), "{reason}");
        }
        other => panic!("an untrusted certificate must not be accepted: {other:?}"),
    }
}
