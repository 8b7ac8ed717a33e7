//! Typed configuration, read from environment variables once at cold start.
//!
//! Every value is validated here so that a misconfigured function fails its first (init) phase
//! with a message naming the variable and what it expects, instead of failing batch after batch.
//! [`Config::from_lookup`] takes any lookup function so tests never touch the process
//! environment.

use std::time::Duration;

use crate::mask::{MaskConfig, MaskMode, PiiKinds};
use crate::output::index::IndexTemplate;

/// A configuration problem, naming the variable and what it expects. Values are never echoed
/// back when they could carry a credential (URLs).
#[derive(Debug, thiserror::Error)]
#[error("configuration error in {variable}: {problem}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

impl ConfigError {
    fn new(variable: &'static str, problem: impl Into<String>) -> Self {
        Self {
            variable,
            problem: problem.into(),
        }
    }
}

/// Compression applied to request bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
}

/// Retry and deadline policy shared by every destination and the dead-letter queue.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// First backoff ceiling; doubles per attempt (full jitter draws uniformly below it).
    pub base: Duration,
    /// Largest backoff ceiling.
    pub max_backoff: Duration,
    /// Attempts per request, the first one included.
    pub max_attempts: u32,
    /// Time kept free before the Lambda deadline to settle the batch (dead letters, response).
    pub deadline_margin: Duration,
}

/// Elasticsearch/OpenSearch destination settings.
#[derive(Debug, Clone)]
pub struct ElasticsearchConfig {
    /// Base URL of the cluster, e.g. `https://search-logs.eu-west-1.es.amazonaws.com`.
    pub endpoint: reqwest::Url,
    /// Target index (or data stream) name, with optional `%Y`, `%m`, `%d` placeholders.
    pub index: IndexTemplate,
    /// Largest `_bulk` request body, before compression.
    pub bulk_max_bytes: usize,
    /// Bulk requests in flight at once.
    pub max_concurrency: usize,
    pub compression: Compression,
    /// Timeout of one HTTP request (capped by the time left before the deadline).
    pub request_timeout: Duration,
}

/// Everything the forwarder needs, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub elasticsearch: ElasticsearchConfig,
    /// SQS queue URL for dead letters.
    pub dlq_queue_url: String,
    /// Largest dead-letter message body; larger ones are truncated with a marker.
    pub dlq_max_message_bytes: usize,
    /// `tracing` filter directive (`info`, `debug`, `log_forwarder=debug`, …).
    pub log_level: String,
    /// Object field that receives the fields of JSON messages; `None` disables parsing.
    pub json_field: Option<String>,
    /// Largest decoded (decompressed) Kinesis record; larger ones are dead-lettered.
    pub max_record_bytes: usize,
    pub retry: RetryPolicy,
    /// Masking rules. With `MASK_MODE=hash` and a key in SSM, `mask.mode` is completed at cold
    /// start from [`Config::mask_hash_key_parameter`].
    pub mask: MaskConfig,
    /// SSM parameter holding the HMAC key for `MASK_MODE=hash`.
    pub mask_hash_key_parameter: Option<String>,
}

/// Top-level document fields the forwarder owns; the JSON field may not shadow them.
const RESERVED_FIELDS: [&str; 6] = ["@timestamp", "message", "event", "aws", "cloud", "log"];

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (a variable name → its value, if set).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());

        let endpoint = parse_endpoint(get("ES_ENDPOINT"))?;
        let index = IndexTemplate::parse(get("ES_INDEX").as_deref().unwrap_or(DEFAULT_INDEX))
            .map_err(|problem| ConfigError::new("ES_INDEX", problem))?;
        let bulk_max_bytes = parse_number(
            get("ES_BULK_MAX_BYTES"),
            "ES_BULK_MAX_BYTES",
            5 * 1024 * 1024,
            1024,
            100 * 1024 * 1024,
        )?;
        let max_concurrency =
            parse_number(get("ES_MAX_CONCURRENCY"), "ES_MAX_CONCURRENCY", 4, 1, 64)?;
        let compression = match get("ES_COMPRESSION").as_deref().map(str::trim) {
            None | Some("none") => Compression::None,
            Some("gzip") => Compression::Gzip,
            Some(_) => {
                return Err(ConfigError::new(
                    "ES_COMPRESSION",
                    "expected `none` or `gzip`",
                ))
            }
        };
        let request_timeout = Duration::from_millis(parse_number(
            get("ES_REQUEST_TIMEOUT_MS"),
            "ES_REQUEST_TIMEOUT_MS",
            30_000,
            100,
            900_000,
        )?);

        let dlq_queue_url = get("DLQ_QUEUE_URL").ok_or_else(|| {
            ConfigError::new(
                "DLQ_QUEUE_URL",
                "is required: the URL of the SQS queue that receives events the destination \
                 rejects for good, e.g. https://sqs.eu-west-1.amazonaws.com/123456789012/log-forwarder-dlq",
            )
        })?;
        if !(dlq_queue_url.starts_with("https://") || dlq_queue_url.starts_with("http://")) {
            return Err(ConfigError::new(
                "DLQ_QUEUE_URL",
                "expected an SQS queue URL starting with https:// (or http:// for a local emulator)",
            ));
        }
        let dlq_max_message_bytes = parse_number(
            get("DLQ_MAX_MESSAGE_BYTES"),
            "DLQ_MAX_MESSAGE_BYTES",
            256 * 1024,
            4096,
            1024 * 1024,
        )?;

        let log_level = get("LOG_LEVEL").unwrap_or_else(|| "info".to_owned());
        if tracing_subscriber::EnvFilter::try_new(&log_level).is_err() {
            return Err(ConfigError::new(
                "LOG_LEVEL",
                "expected a level (error, warn, info, debug, trace) or a tracing filter directive",
            ));
        }

        let json_field = match get("JSON_FIELD") {
            None => Some("json".to_owned()),
            Some(v) if v.trim() == "none" => None,
            Some(v) => {
                let v = v.trim().to_owned();
                let valid = v
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                    && !RESERVED_FIELDS.contains(&v.as_str());
                if !valid {
                    return Err(ConfigError::new(
                        "JSON_FIELD",
                        format!(
                            "expected a field name of letters, digits, `_` or `-` that is not one \
                             of {RESERVED_FIELDS:?} (or `none` to disable JSON parsing)"
                        ),
                    ));
                }
                Some(v)
            }
        };

        let max_record_bytes = parse_number(
            get("MAX_RECORD_BYTES"),
            "MAX_RECORD_BYTES",
            16 * 1024 * 1024,
            1024,
            256 * 1024 * 1024,
        )?;

        let retry = RetryPolicy {
            base: Duration::from_millis(parse_number(
                get("RETRY_BASE_MS"),
                "RETRY_BASE_MS",
                200,
                1,
                60_000,
            )?),
            max_backoff: Duration::from_millis(parse_number(
                get("RETRY_MAX_BACKOFF_MS"),
                "RETRY_MAX_BACKOFF_MS",
                10_000,
                1,
                300_000,
            )?),
            max_attempts: parse_number(
                get("RETRY_MAX_ATTEMPTS"),
                "RETRY_MAX_ATTEMPTS",
                8,
                1,
                1000,
            )?,
            deadline_margin: Duration::from_millis(parse_number(
                get("DEADLINE_MARGIN_MS"),
                "DEADLINE_MARGIN_MS",
                3_000,
                0,
                600_000,
            )?),
        };

        let (mask, mask_hash_key_parameter) = parse_mask(&get)?;

        Ok(Self {
            elasticsearch: ElasticsearchConfig {
                endpoint,
                index,
                bulk_max_bytes,
                max_concurrency,
                compression,
                request_timeout,
            },
            dlq_queue_url,
            dlq_max_message_bytes,
            log_level,
            json_field,
            max_record_bytes,
            retry,
            mask,
            mask_hash_key_parameter,
        })
    }
}

fn parse_mask(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<(MaskConfig, Option<String>), ConfigError> {
    let pii =
        match get("MASK_PII").map(|v| v.trim().to_ascii_lowercase()) {
            None => PiiKinds::default(),
            Some(v) if v == "false" || v == "none" => PiiKinds::default(),
            Some(v) if v == "true" || v == "all" => PiiKinds {
                email: true,
                ip: true,
                phone: true,
            },
            Some(v) => {
                let mut kinds = PiiKinds::default();
                for kind in v.split(',').map(str::trim).filter(|k| !k.is_empty()) {
                    match kind {
                        "email" => kinds.email = true,
                        "ip" => kinds.ip = true,
                        "phone" => kinds.phone = true,
                        _ => return Err(ConfigError::new(
                            "MASK_PII",
                            "expected true, false, or a comma-separated list of email, ip, phone",
                        )),
                    }
                }
                kinds
            }
        };
    let extra_keys: Vec<String> = get("MASK_KEYS")
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if extra_keys
        .iter()
        .any(|k| !k.bytes().any(|b| b.is_ascii_alphanumeric()))
    {
        return Err(ConfigError::new(
            "MASK_KEYS",
            "expected comma-separated key names containing letters or digits",
        ));
    }
    let extra_patterns: Vec<String> = match get("MASK_PATTERNS") {
        None => Vec::new(),
        Some(v) => serde_json::from_str(&v).map_err(|_| {
            ConfigError::new(
                "MASK_PATTERNS",
                r#"expected a JSON array of regular expressions, e.g. ["EMP-[0-9]{6}", "ref=([A-Z]{8})"]"#,
            )
        })?,
    };
    for (i, pattern) in extra_patterns.iter().enumerate() {
        if let Err(e) = regex::Regex::new(pattern) {
            return Err(ConfigError::new(
                "MASK_PATTERNS",
                format!("pattern {i} is not a valid regular expression: {e}"),
            ));
        }
    }
    if extra_patterns.len() > 32 {
        return Err(ConfigError::new("MASK_PATTERNS", "at most 32 patterns"));
    }
    let mut parameter = None;
    let mode = match get("MASK_MODE").as_deref().map(str::trim) {
        None | Some("marker") => MaskMode::Marker,
        Some("hash") => match (get("MASK_HASH_KEY"), get("MASK_HASH_KEY_PARAMETER")) {
            (Some(key), _) => MaskMode::Hash(key.into_bytes()),
            (None, Some(name)) => {
                parameter = Some(name.trim().to_owned());
                MaskMode::Marker
            }
            (None, None) => {
                return Err(ConfigError::new(
                    "MASK_HASH_KEY_PARAMETER",
                    "is required with MASK_MODE=hash: the name of an SSM SecureString parameter holding the HMAC key (or MASK_HASH_KEY for local runs)",
                ))
            }
        },
        Some(_) => {
            return Err(ConfigError::new(
                "MASK_MODE",
                "expected `marker` or `hash`",
            ))
        }
    };
    Ok((
        MaskConfig {
            pii,
            extra_keys,
            extra_patterns,
            mode,
        },
        parameter,
    ))
}

/// Default index: one index per UTC day of the event time.
pub const DEFAULT_INDEX: &str = "cloudwatch-%Y.%m.%d";

fn parse_endpoint(value: Option<String>) -> Result<reqwest::Url, ConfigError> {
    const VAR: &str = "ES_ENDPOINT";
    let value = value.ok_or_else(|| {
        ConfigError::new(
            VAR,
            "is required: the base URL of the Elasticsearch/OpenSearch cluster, \
             e.g. https://search-logs.eu-west-1.es.amazonaws.com",
        )
    })?;
    // The value is never echoed: it may carry credentials.
    let url = reqwest::Url::parse(value.trim())
        .map_err(|e| ConfigError::new(VAR, format!("is not a valid URL ({e})")))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(ConfigError::new(VAR, "expected an http:// or https:// URL"));
    }
    if url.host_str().is_none() {
        return Err(ConfigError::new(VAR, "expected a URL with a host name"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ConfigError::new(
            VAR,
            "must not contain credentials (user:password@): credentials belong in SSM \
             Parameter Store, never in an environment variable",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ConfigError::new(
            VAR,
            "expected a base URL without query string or fragment",
        ));
    }
    Ok(url)
}

fn parse_number<T>(
    value: Option<String>,
    variable: &'static str,
    default: T,
    min: T,
    max: T,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    let Some(raw) = value else {
        return Ok(default);
    };
    let parsed: T = raw.trim().parse().map_err(|_| {
        ConfigError::new(
            variable,
            format!("expected a whole number from {min} to {max}, got {raw:?}"),
        )
    })?;
    if parsed < min || parsed > max {
        return Err(ConfigError::new(
            variable,
            format!("expected a whole number from {min} to {max}, got {parsed}"),
        ));
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut map: HashMap<String, String> = [
            ("ES_ENDPOINT", "https://search.example.com"),
            ("DLQ_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/1/dlq"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in vars {
            map.insert(k.to_string(), v.to_string());
        }
        Config::from_lookup(|name| map.get(name).cloned())
    }

    fn error_for(vars: &[(&str, &str)]) -> ConfigError {
        match config(vars) {
            Ok(_) => panic!("expected a configuration error for {vars:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn defaults() {
        let c = config(&[]).unwrap();
        assert_eq!(c.elasticsearch.bulk_max_bytes, 5 * 1024 * 1024);
        assert_eq!(c.elasticsearch.max_concurrency, 4);
        assert_eq!(c.elasticsearch.compression, Compression::None);
        assert_eq!(c.json_field.as_deref(), Some("json"));
        assert_eq!(c.log_level, "info");
        assert_eq!(c.dlq_max_message_bytes, 256 * 1024);
        assert_eq!(c.retry.max_attempts, 8);
    }

    #[test]
    fn missing_required_variables_are_named() {
        let e = Config::from_lookup(|_| None).unwrap_err();
        assert_eq!(e.variable, "ES_ENDPOINT");
        assert!(e.to_string().contains("is required"), "{e}");
        let e = error_for(&[("DLQ_QUEUE_URL", "  ")]);
        assert_eq!(e.variable, "DLQ_QUEUE_URL");
    }

    #[test]
    fn invalid_values_are_named_with_what_is_expected() {
        let cases: &[(&str, &str, &str)] = &[
            ("ES_ENDPOINT", "not a url", "not a valid URL"),
            ("ES_ENDPOINT", "ftp://x.example.com", "http://"),
            ("ES_ENDPOINT", "https://x.example.com/?a=b", "without query"),
            ("ES_INDEX", "Logs-%Y", "lowercase"),
            ("ES_INDEX", "logs-%H", "%H"),
            ("ES_BULK_MAX_BYTES", "lots", "whole number"),
            ("ES_BULK_MAX_BYTES", "10", "from 1024"),
            ("ES_MAX_CONCURRENCY", "0", "from 1 to 64"),
            ("ES_COMPRESSION", "brotli", "`gzip`"),
            ("DLQ_QUEUE_URL", "my-queue", "queue URL"),
            ("LOG_LEVEL", "loud=[", "level"),
            ("JSON_FIELD", "message", "not one of"),
            ("JSON_FIELD", "a b", "letters"),
            ("RETRY_MAX_ATTEMPTS", "0", "from 1"),
            ("MASK_PII", "emails", "email, ip, phone"),
            ("MASK_PATTERNS", "EMP-[0-9]+", "JSON array"),
            ("MASK_PATTERNS", r#"["ok", "(unclosed"]"#, "pattern 1"),
            ("MASK_MODE", "scramble", "`hash`"),
            ("MASK_KEYS", "a,--", "key names"),
        ];
        for (var, value, expect) in cases {
            let e = error_for(&[(var, value)]);
            assert_eq!(e.variable, *var, "{var}={value}: {e}");
            assert!(e.to_string().contains(expect), "{var}={value}: {e}");
        }
    }

    #[test]
    fn endpoint_credentials_are_refused_and_never_echoed() {
        let e = error_for(&[("ES_ENDPOINT", "https://elastic:hunter2@x.example.com")]);
        assert_eq!(e.variable, "ES_ENDPOINT");
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }

    #[test]
    fn hash_mode_needs_a_key() {
        let e = error_for(&[("MASK_MODE", "hash")]);
        assert_eq!(e.variable, "MASK_HASH_KEY_PARAMETER");
        assert!(
            e.to_string().contains("SSM SecureString parameter holding"),
            "{e}"
        );
    }

    #[test]
    fn masking_options() {
        let c = config(&[]).unwrap();
        assert_eq!(c.mask.pii, PiiKinds::default());
        assert_eq!(c.mask.mode, MaskMode::Marker);
        let c = config(&[
            ("MASK_PII", "email, phone"),
            ("MASK_KEYS", "member_no, otp"),
            ("MASK_PATTERNS", r#"["EMP-[0-9]{6}"]"#),
            ("MASK_MODE", "hash"),
            ("MASK_HASH_KEY_PARAMETER", "/log-forwarder/mask-key"),
        ])
        .unwrap();
        assert!(c.mask.pii.email && c.mask.pii.phone && !c.mask.pii.ip);
        assert_eq!(c.mask.extra_keys, ["member_no", "otp"]);
        assert_eq!(c.mask.extra_patterns, ["EMP-[0-9]{6}"]);
        assert_eq!(
            c.mask_hash_key_parameter.as_deref(),
            Some("/log-forwarder/mask-key")
        );
        let c = config(&[("MASK_MODE", "hash"), ("MASK_HASH_KEY", "k")]).unwrap();
        assert_eq!(c.mask.mode, MaskMode::Hash(b"k".to_vec()));
        assert!(!format!("{:?}", c.mask).contains("\"k\""));
    }

    #[test]
    fn json_field_can_be_disabled_or_renamed() {
        assert_eq!(config(&[("JSON_FIELD", "none")]).unwrap().json_field, None);
        // Empty means unset (the default), as for every variable.
        assert_eq!(
            config(&[("JSON_FIELD", "")]).unwrap().json_field.as_deref(),
            Some("json")
        );
        assert_eq!(
            config(&[("JSON_FIELD", "app")])
                .unwrap()
                .json_field
                .as_deref(),
            Some("app")
        );
    }
}
