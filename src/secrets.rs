//! Secrets from SSM Parameter Store (SecureString, read with decryption).
//!
//! Secrets are fetched once per container at cold start and cached ([`CachedSecret`]). When a
//! destination answers 401/403 the secret is read again — at most once per
//! [`REFRESH_INTERVAL`] — so a rotated secret is picked up without a cold start while a wrong
//! one does not hammer SSM. A [`Secret`] never prints its value (`Debug` is redacted) and
//! errors name the parameter, never its content.

use std::sync::RwLock;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::SecretSource;

use aws_sdk_ssm::error::ProvideErrorMetadata;

/// A secret value. Its `Debug` output is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Why a parameter could not be read; each variant says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error(
        "SSM parameter {name} does not exist: create it with \
         `aws ssm put-parameter --name {name} --type SecureString --value …`"
    )]
    NotFound { name: String },
    #[error(
        "access to SSM parameter {name} is denied: the function's role needs ssm:GetParameter \
         on it (and kms:Decrypt when it is encrypted with a customer-managed key)"
    )]
    Denied { name: String },
    #[error("SSM parameter {name} is empty")]
    Empty { name: String },
    #[error("cannot read SSM parameter {name}: {detail}")]
    Unavailable { name: String, detail: String },
}

/// Reads `name` with decryption.
pub async fn fetch(client: &aws_sdk_ssm::Client, name: &str) -> Result<Secret, SecretError> {
    let output = client
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| {
            let code = e.code().unwrap_or_default().to_owned();
            match code.as_str() {
                "ParameterNotFound" => SecretError::NotFound {
                    name: name.to_owned(),
                },
                "AccessDeniedException" | "AccessDenied" | "KMSAccessDeniedException" => {
                    SecretError::Denied {
                        name: name.to_owned(),
                    }
                }
                _ => SecretError::Unavailable {
                    name: name.to_owned(),
                    detail: aws_sdk_ssm::error::DisplayErrorContext(&e).to_string(),
                },
            }
        })?;
    match output.parameter.and_then(|p| p.value) {
        Some(value) if !value.is_empty() => Ok(Secret(value)),
        _ => Err(SecretError::Empty {
            name: name.to_owned(),
        }),
    }
}

/// Shortest time between two reads of the same parameter after a refusal.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(60);

/// A secret cached for the life of the container, re-readable after a 401/403.
pub struct CachedSecret {
    /// Where to read it again; `None` for a value given directly (local runs).
    parameter: Option<(aws_sdk_ssm::Client, String)>,
    value: RwLock<Secret>,
    /// When the last refresh happened; the first one is never delayed.
    last_refresh: tokio::sync::Mutex<Option<Instant>>,
}

impl std::fmt::Debug for CachedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedSecret")
            .field("parameter", &self.parameter.as_ref().map(|(_, name)| name))
            .finish_non_exhaustive()
    }
}

impl CachedSecret {
    /// Reads the secret `source` names (from SSM with `ssm`, or the value itself).
    pub async fn load(
        source: &SecretSource,
        ssm: Option<&aws_sdk_ssm::Client>,
    ) -> Result<Self, SecretError> {
        match source {
            SecretSource::Value(value) => Ok(Self::fixed(value.clone())),
            SecretSource::Parameter(name) => {
                let client = ssm.ok_or_else(|| SecretError::Unavailable {
                    name: name.clone(),
                    detail: "no SSM client configured".to_owned(),
                })?;
                let value = fetch(client, name).await?;
                Ok(Self {
                    parameter: Some((client.clone(), name.clone())),
                    value: RwLock::new(value),
                    last_refresh: tokio::sync::Mutex::new(None),
                })
            }
        }
    }

    /// A secret that never changes.
    pub fn fixed(value: Secret) -> Self {
        Self {
            parameter: None,
            value: RwLock::new(value),
            last_refresh: tokio::sync::Mutex::new(None),
        }
    }

    /// The current value.
    pub fn get(&self) -> Secret {
        // A poisoned lock only means a panic elsewhere mid-write of a whole value.
        self.value
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Reads the parameter again after the destination refused the current value. Returns
    /// `true` when the value changed (a request is worth repeating), `false` when it is the same,
    /// cannot be read, was refreshed less than [`REFRESH_INTERVAL`] ago, or is not from SSM.
    pub async fn refresh(&self) -> bool {
        let Some((client, name)) = &self.parameter else {
            return false;
        };
        let mut last_refresh = self.last_refresh.lock().await;
        if last_refresh.is_some_and(|at| at.elapsed() < REFRESH_INTERVAL) {
            return false;
        }
        *last_refresh = Some(Instant::now());
        match fetch(client, name).await {
            Ok(fresh) => {
                let mut value = self
                    .value
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                let changed = *value != fresh;
                *value = fresh;
                if changed {
                    tracing::info!(parameter = %name, "secret changed in SSM; using the new value");
                }
                changed
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot re-read a refused secret");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print_their_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        assert_eq!(s.expose(), "hunter2");
    }
}
