//! Authentication of requests to Elasticsearch/OpenSearch: none, basic, API key, or AWS
//! Signature V4.
//!
//! Credentials are resolved at cold start (secrets from SSM, the role's credentials from the
//! default chain) and cached. On a 401/403 the destination calls [`Authenticator::refresh`]
//! once: a rotated secret or expired role credentials are read again and the request repeated;
//! if nothing changed the refusal is an outage.
//!
//! SigV4 signs the exact bytes that go on the wire (the compressed body when gzip is on) with
//! the AWS SDK's own signing crate (`aws-sigv4`); nothing here is hand-rolled crypto.

use std::sync::RwLock;
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use base64::Engine as _;
use reqwest::header::{HeaderName, HeaderValue, AUTHORIZATION};

use crate::config::EsAuth;
use crate::secrets::{CachedSecret, SecretError};

/// Why requests cannot be authenticated.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(
        "ES_AUTH=sigv4 needs AWS credentials and none were found (the Lambda role provides them; \
         locally set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE)"
    )]
    NoCredentialsProvider,
    #[error("cannot get AWS credentials for SigV4: {0}")]
    Credentials(String),
    #[error("cannot sign the request with SigV4: {0}")]
    Signing(String),
    #[error("{0} contains characters that cannot go in an HTTP header")]
    InvalidHeader(&'static str),
}

/// Renew role credentials this long before they expire.
const CREDENTIALS_EARLY_REFRESH: Duration = Duration::from_secs(300);

/// Adds credentials to requests.
pub enum Authenticator {
    None,
    Basic {
        username: String,
        password: CachedSecret,
    },
    ApiKey(CachedSecret),
    SigV4(SigV4Signer),
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.kind())
    }
}

impl Authenticator {
    /// Resolves the credentials `auth` needs: SSM parameters with `ssm`, role credentials from
    /// `credentials`.
    pub async fn new(
        auth: &EsAuth,
        ssm: Option<&aws_sdk_ssm::Client>,
        credentials: Option<SharedCredentialsProvider>,
    ) -> Result<Self, AuthError> {
        Ok(match auth {
            EsAuth::None => Self::None,
            EsAuth::Basic { username, password } => Self::Basic {
                username: username.clone(),
                password: CachedSecret::load(password, ssm).await?,
            },
            EsAuth::ApiKey(key) => Self::ApiKey(CachedSecret::load(key, ssm).await?),
            EsAuth::SigV4 { service, region } => {
                let provider = credentials.ok_or(AuthError::NoCredentialsProvider)?;
                let signer = SigV4Signer {
                    provider,
                    cached: RwLock::new(None),
                    service: service.clone(),
                    region: region.clone(),
                };
                // Fail at cold start, not on the first batch, when there are no credentials.
                signer.credentials().await?;
                Self::SigV4(signer)
            }
        })
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Basic { .. } => "basic",
            Self::ApiKey(_) => "api_key",
            Self::SigV4(_) => "sigv4",
        }
    }

    /// The headers that authenticate a request. `headers` are the request's own headers that
    /// SigV4 signs (content type and encoding); `body` is exactly what is sent.
    pub async fn headers(
        &self,
        method: &str,
        url: &reqwest::Url,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Vec<(HeaderName, HeaderValue)>, AuthError> {
        match self {
            Self::None => Ok(Vec::new()),
            Self::Basic { username, password } => {
                let pair = format!("{username}:{}", password.get().expose());
                let value = format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                );
                Ok(vec![(AUTHORIZATION, sensitive(&value, "the password")?)])
            }
            Self::ApiKey(key) => {
                let value = format!("ApiKey {}", key.get().expose().trim());
                Ok(vec![(AUTHORIZATION, sensitive(&value, "the API key")?)])
            }
            Self::SigV4(signer) => {
                let credentials = signer.credentials().await?;
                let signed = sign_v4(
                    method,
                    url.as_str(),
                    headers,
                    body,
                    &credentials,
                    &signer.region,
                    &signer.service,
                    SystemTime::now(),
                    true,
                )?;
                signed
                    .into_iter()
                    .map(|(name, value)| {
                        let name = HeaderName::from_bytes(name.as_bytes())
                            .map_err(|_| AuthError::InvalidHeader("a SigV4 header name"))?;
                        Ok((name, sensitive(&value, "a SigV4 header")?))
                    })
                    .collect()
            }
        }
    }

    /// Called after a 401/403: reads the credentials again. `true` when they changed and the
    /// request is worth repeating.
    pub async fn refresh(&self) -> bool {
        match self {
            Self::None => false,
            Self::Basic { password, .. } => password.refresh().await,
            Self::ApiKey(key) => key.refresh().await,
            Self::SigV4(signer) => signer.refresh().await,
        }
    }
}

fn sensitive(value: &str, what: &'static str) -> Result<HeaderValue, AuthError> {
    let mut v = HeaderValue::from_str(value).map_err(|_| AuthError::InvalidHeader(what))?;
    v.set_sensitive(true);
    Ok(v)
}

/// SigV4 with cached role credentials.
pub struct SigV4Signer {
    provider: SharedCredentialsProvider,
    cached: RwLock<Option<Credentials>>,
    service: String,
    region: String,
}

impl SigV4Signer {
    async fn credentials(&self) -> Result<Credentials, AuthError> {
        let now = SystemTime::now();
        if let Some(c) = self
            .cached
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .as_ref()
        {
            let fresh = c
                .expiry()
                .is_none_or(|expiry| expiry > now + CREDENTIALS_EARLY_REFRESH);
            if fresh {
                return Ok(c.clone());
            }
        }
        let c = self
            .provider
            .provide_credentials()
            .await
            .map_err(|e| AuthError::Credentials(e.to_string()))?;
        *self
            .cached
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(c.clone());
        Ok(c)
    }

    async fn refresh(&self) -> bool {
        let before = self
            .cached
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        match self.credentials().await {
            Ok(after) => before.is_none_or(|b| {
                b.access_key_id() != after.access_key_id()
                    || b.secret_access_key() != after.secret_access_key()
                    || b.session_token() != after.session_token()
            }),
            Err(e) => {
                tracing::warn!(error = %e, "cannot renew AWS credentials after a refusal");
                false
            }
        }
    }
}

/// Signs a request with SigV4 and returns the headers to add (`x-amz-date`, `authorization`,
/// `x-amz-security-token` with temporary credentials, `x-amz-content-sha256` when
/// `content_sha256` — OpenSearch Serverless requires it). `url` must be encoded as sent.
#[allow(clippy::too_many_arguments)] // one call site; a struct would only rename the list
pub fn sign_v4(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    credentials: &Credentials,
    region: &str,
    service: &str,
    time: SystemTime,
    content_sha256: bool,
) -> Result<Vec<(String, String)>, AuthError> {
    let identity: Identity = credentials.clone().into();
    let mut settings = SigningSettings::default();
    if content_sha256 {
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    }
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| AuthError::Signing(e.to_string()))?
        .into();
    let request = SignableRequest::new(
        method,
        url,
        headers.iter().copied(),
        SignableBody::Bytes(body),
    )
    .map_err(|e| AuthError::Signing(e.to_string()))?;
    let (instructions, _signature) = sign(request, &params)
        .map_err(|e| AuthError::Signing(e.to_string()))?
        .into_parts();
    Ok(instructions
        .headers()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SecretSource;
    use crate::secrets::Secret;

    fn url() -> reqwest::Url {
        reqwest::Url::parse("https://search.example.com/_bulk").unwrap()
    }

    #[tokio::test]
    async fn basic_and_api_key_headers() {
        let auth = Authenticator::new(
            &EsAuth::Basic {
                username: "elastic".into(),
                password: SecretSource::Value(Secret::new("pa:ss")),
            },
            None,
            None,
        )
        .await
        .unwrap();
        let h = auth.headers("POST", &url(), &[], b"").await.unwrap();
        assert_eq!(h[0].0, AUTHORIZATION);
        // base64("elastic:pa:ss")
        assert_eq!(h[0].1, "Basic ZWxhc3RpYzpwYTpzcw==");
        assert!(h[0].1.is_sensitive());
        assert!(!format!("{auth:?}").contains("pa:ss"));

        let auth = Authenticator::new(
            &EsAuth::ApiKey(SecretSource::Value(Secret::new(
                "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw== ",
            ))),
            None,
            None,
        )
        .await
        .unwrap();
        let h = auth.headers("POST", &url(), &[], b"").await.unwrap();
        assert_eq!(
            h[0].1,
            "ApiKey VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="
        );
        // A fixed value has nothing to re-read.
        assert!(!auth.refresh().await);
    }

    #[tokio::test]
    async fn sigv4_without_credentials_fails_with_a_hint() {
        let e = Authenticator::new(
            &EsAuth::SigV4 {
                service: "es".into(),
                region: "eu-west-1".into(),
            },
            None,
            None,
        )
        .await
        .unwrap_err();
        assert!(e.to_string().contains("Lambda role"), "{e}");
    }

    #[tokio::test]
    async fn sigv4_signs_body_date_and_session_token() {
        let creds = Credentials::new("AKIDEXAMPLE", "secret", Some("token".into()), None, "test");
        let auth = Authenticator::new(
            &EsAuth::SigV4 {
                service: "aoss".into(),
                region: "eu-west-1".into(),
            },
            None,
            Some(SharedCredentialsProvider::new(creds)),
        )
        .await
        .unwrap();
        let h = auth
            .headers(
                "POST",
                &url(),
                &[("content-type", "application/x-ndjson")],
                b"{}\n",
            )
            .await
            .unwrap();
        let get = |n: &str| {
            h.iter()
                .find(|(k, _)| k.as_str() == n)
                .map(|(_, v)| v.to_str().unwrap().to_owned())
        };
        let authz = get("authorization").unwrap();
        assert!(
            authz.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"),
            "{authz}"
        );
        assert!(authz.contains("/eu-west-1/aoss/aws4_request"), "{authz}");
        assert!(
            authz.contains("content-type;host;x-amz-content-sha256;x-amz-date"),
            "{authz}"
        );
        assert_eq!(get("x-amz-security-token").as_deref(), Some("token"));
        // sha256("{}\n")
        assert_eq!(
            get("x-amz-content-sha256").as_deref(),
            Some("ca3d163bab055381827226140568f3bef7eaac187cebd76878e0b63e9e442356")
        );
        // Static credentials: nothing new to pick up.
        assert!(!auth.refresh().await);
    }
}
