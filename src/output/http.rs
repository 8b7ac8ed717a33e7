//! What every destination's HTTP side shares: the client (TLS roots, keep-alive), request body
//! compression, and transport error text that never carries a URL (a Logz.io URL holds the
//! token in its query string).

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;

/// Why the HTTP client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot read TLS_CA_BUNDLE {path}: {detail}")]
    CaBundle { path: String, detail: String },
    #[error("TLS_CA_BUNDLE {path} holds no PEM certificate")]
    EmptyCaBundle { path: String },
    #[error("cannot build the HTTP client: {0}")]
    Build(#[source] reqwest::Error),
}

/// The client for one destination: rustls with the system/webpki roots plus `ca_bundle`.
pub fn client(ca_bundle: Option<&Path>) -> Result<reqwest::Client, ClientError> {
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("log-forwarder/", env!("CARGO_PKG_VERSION")))
        .pool_idle_timeout(Duration::from_secs(50))
        .tcp_keepalive(Duration::from_secs(30));
    if let Some(path) = ca_bundle {
        let display = path.display().to_string();
        let pem = std::fs::read(path).map_err(|e| ClientError::CaBundle {
            path: display.clone(),
            detail: e.to_string(),
        })?;
        let certs =
            reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| ClientError::CaBundle {
                path: display.clone(),
                detail: e.to_string(),
            })?;
        if certs.is_empty() {
            return Err(ClientError::EmptyCaBundle { path: display });
        }
        builder = builder.tls_certs_merge(certs);
    }
    builder.build().map_err(ClientError::Build)
}

/// gzip at the fastest level: request bodies are compressed once per attempt, and on the
/// destination side the size matters far less than our CPU.
pub fn gzip(body: &[u8]) -> Option<Bytes> {
    let mut compressor = libdeflater::Compressor::new(libdeflater::CompressionLvl::fastest());
    let mut out = vec![0; compressor.gzip_compress_bound(body.len())];
    let n = compressor.gzip_compress(body, &mut out).ok()?;
    out.truncate(n);
    Some(Bytes::from(out))
}

/// A transport failure as text, without the request URL.
pub fn transport_error(e: reqwest::Error) -> String {
    let timeout = e.is_timeout();
    let e = e.without_url();
    let mut text = if timeout {
        format!("request timed out: {e}")
    } else {
        format!("transport error: {e}")
    };
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The start of a response body, for error messages.
pub fn body_summary(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(300)]);
    text.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_round_trips() {
        let body = b"{\"a\":1}\n".repeat(1000);
        let packed = gzip(&body).unwrap();
        let mut d = libdeflater::Decompressor::new();
        let mut out = vec![0; body.len()];
        assert_eq!(d.gzip_decompress(&packed, &mut out).unwrap(), body.len());
        assert_eq!(out, body);
    }

    #[test]
    fn a_ca_bundle_that_is_not_pem_is_named() {
        let dir = std::env::temp_dir().join(format!("lf-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("empty.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let e = client(Some(&path)).unwrap_err();
        assert!(e.to_string().contains("empty.pem"), "{e}");
        let missing = client(Some(&dir.join("missing.pem"))).unwrap_err();
        assert!(missing.to_string().contains("missing.pem"), "{missing}");
    }
}
