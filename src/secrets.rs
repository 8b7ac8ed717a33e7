//! Secrets from SSM Parameter Store (SecureString, read with decryption).
//!
//! Secrets are fetched once per container at cold start. A [`Secret`] never prints its value
//! (`Debug` and `Display` are redacted) and errors name the parameter, never its content.

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
