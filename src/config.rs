//! Typed configuration, read from environment variables once at cold start.
//!
//! Every value is validated here so that a misconfigured function fails its first (init) phase
//! with a message naming the variable and what it expects, instead of failing batch after batch.
//! [`Config::from_lookup`] takes any lookup function so tests never touch the process
//! environment.

use std::path::PathBuf;
use std::time::Duration;

use crate::mask::{MaskConfig, MaskMode, PiiKinds};
use crate::output::index::IndexTemplate;
use crate::secrets::Secret;

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

/// Delivery settings shared by every destination.
#[derive(Debug, Clone)]
pub struct OutputConfig {
    /// Largest request body, before compression.
    pub max_request_bytes: usize,
    /// Requests in flight at once.
    pub max_concurrency: usize,
    /// Timeout of one HTTP request (capped by the time left before the deadline).
    pub request_timeout: Duration,
    /// Extra trusted root certificates (PEM file), added to the system/webpki roots.
    pub ca_bundle: Option<PathBuf>,
}

/// A secret: the name of an SSM parameter to read at cold start, or (local runs) the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    Parameter(String),
    Value(Secret),
}

/// How requests to Elasticsearch/OpenSearch authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EsAuth {
    None,
    /// `Authorization: Basic …`.
    Basic {
        username: String,
        password: SecretSource,
    },
    /// `Authorization: ApiKey …` (the base64 "encoded" form Elasticsearch returns).
    ApiKey(SecretSource),
    /// AWS Signature V4 with the function's role credentials.
    SigV4 {
        service: String,
        region: String,
    },
}

/// Elasticsearch/OpenSearch destination settings.
#[derive(Debug, Clone)]
pub struct ElasticsearchConfig {
    /// Base URL of the cluster, e.g. `https://search-logs.eu-west-1.es.amazonaws.com`.
    pub endpoint: reqwest::Url,
    /// Target index (or data stream) name, with optional `%Y`, `%m`, `%d` placeholders.
    pub index: IndexTemplate,
    pub compression: Compression,
    pub auth: EsAuth,
    /// Send the event id as `_id` (exactly-once). Off only for stores that assign their own ids
    /// (OpenSearch Serverless time-series collections).
    pub document_ids: bool,
}

/// Logz.io listener settings.
#[derive(Debug, Clone)]
pub struct LogzioConfig {
    /// Listener base URL, e.g. `https://listener-eu.logz.io:8071`.
    pub listener_url: reqwest::Url,
    pub token: SecretSource,
    /// Log type (`type=` on every request).
    pub log_type: String,
}

/// Where documents go.
#[derive(Debug, Clone)]
pub enum DestinationConfig {
    Elasticsearch(ElasticsearchConfig),
    Logzio(LogzioConfig),
}

/// How records are read (`RECORD_FORMAT`): detected by content, or forced for the rare
/// stream whose records detection would misfile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordFormat {
    Auto,
    CloudWatch,
    CloudFront,
    Json,
    Apache,
    Text,
}

/// Everything the forwarder needs, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub destination: DestinationConfig,
    pub output: OutputConfig,
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
    pub record_format: RecordFormat,
    /// CloudFront real-time log fields (`CLOUDFRONT_FIELDS`); empty = AWS's full list.
    pub cloudfront_fields: Vec<String>,
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

        let destination = match get("DESTINATION").as_deref().map(str::trim) {
            None | Some("elasticsearch") | Some("opensearch") => {
                DestinationConfig::Elasticsearch(parse_elasticsearch(&get)?)
            }
            Some("logzio") => DestinationConfig::Logzio(parse_logzio(&get)?),
            Some(_) => {
                return Err(ConfigError::new(
                    "DESTINATION",
                    "expected `elasticsearch` (also for OpenSearch) or `logzio`",
                ))
            }
        };
        let request_limit = match destination {
            DestinationConfig::Elasticsearch(_) => 100 * 1024 * 1024,
            DestinationConfig::Logzio(_) => LOGZIO_MAX_REQUEST_BYTES,
        };
        let output = OutputConfig {
            max_request_bytes: parse_number(
                get("MAX_REQUEST_BYTES"),
                "MAX_REQUEST_BYTES",
                5 * 1024 * 1024,
                1024,
                request_limit,
            )?,
            max_concurrency: parse_number(get("MAX_CONCURRENCY"), "MAX_CONCURRENCY", 4, 1, 64)?,
            request_timeout: Duration::from_millis(parse_number(
                get("REQUEST_TIMEOUT_MS"),
                "REQUEST_TIMEOUT_MS",
                30_000,
                100,
                900_000,
            )?),
            ca_bundle: match get("TLS_CA_BUNDLE") {
                None => None,
                Some(path) => {
                    let path = PathBuf::from(path.trim());
                    if !path.is_file() {
                        return Err(ConfigError::new(
                            "TLS_CA_BUNDLE",
                            format!(
                                "expected the path of a PEM file of CA certificates; {} is not a readable file",
                                path.display()
                            ),
                        ));
                    }
                    Some(path)
                }
            },
        };

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

        let record_format = match get("RECORD_FORMAT").as_deref().map(str::trim) {
            None | Some("auto") => RecordFormat::Auto,
            Some("cloudwatch") => RecordFormat::CloudWatch,
            Some("cloudfront") => RecordFormat::CloudFront,
            Some("json") => RecordFormat::Json,
            Some("apache") => RecordFormat::Apache,
            Some("text") => RecordFormat::Text,
            Some(_) => {
                return Err(ConfigError::new(
                    "RECORD_FORMAT",
                    "expected `auto` (detect per record), `cloudwatch`, `cloudfront`, `json`, \
                     `apache` or `text`",
                ))
            }
        };
        let cloudfront_fields: Vec<String> = get("CLOUDFRONT_FIELDS")
            .map(|v| {
                v.split(|c: char| c == ',' || c.is_whitespace())
                    .filter(|f| !f.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        if !cloudfront_fields.is_empty() {
            let names: Vec<&str> = cloudfront_fields.iter().map(String::as_str).collect();
            crate::input::cloudfront::CloudFrontFormat::new_in_aws_order(&names).map_err(|e| {
                ConfigError::new(
                    "CLOUDFRONT_FIELDS",
                    format!(
                        "{e}; expected the real-time log configuration's field names, \
                         comma-separated, e.g. timestamp,c-ip,sc-status,cs-method,cs-uri-stem"
                    ),
                )
            })?;
        }

        Ok(Self {
            destination,
            output,
            dlq_queue_url,
            dlq_max_message_bytes,
            log_level,
            json_field,
            max_record_bytes,
            record_format,
            cloudfront_fields,
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
    // The prefilter finds a key by its words; a word needs 2 letters or digits.
    let has_word = |k: &str| {
        k.split(|c: char| !c.is_ascii_alphanumeric())
            .any(|w| w.len() >= 2)
    };
    if extra_keys.iter().any(|k| !has_word(k)) {
        return Err(ConfigError::new(
            "MASK_KEYS",
            "expected comma-separated key names, each with a word of at least 2 letters or digits",
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

/// The Logz.io listener's request limit (before compression).
pub const LOGZIO_MAX_REQUEST_BYTES: usize = 10_000_000;
/// The Logz.io listener's limit for one line (document).
pub const LOGZIO_MAX_LINE_BYTES: usize = 500_000;
/// Default Logz.io listener.
pub const DEFAULT_LOGZIO_LISTENER: &str = "https://listener.logz.io:8071";
/// Default SSM parameter of the Logz.io data shipping token.
pub const DEFAULT_LOGZIO_TOKEN_PARAMETER: &str = "/logz-io/data-shipping-token";

fn parse_elasticsearch(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<ElasticsearchConfig, ConfigError> {
    let endpoint = parse_url(
        "ES_ENDPOINT",
        get("ES_ENDPOINT").ok_or_else(|| {
            ConfigError::new(
                "ES_ENDPOINT",
                "is required with DESTINATION=elasticsearch: the base URL of the \
                 Elasticsearch/OpenSearch cluster, e.g. https://search-logs.eu-west-1.es.amazonaws.com",
            )
        })?,
    )?;
    let index = IndexTemplate::parse(get("ES_INDEX").as_deref().unwrap_or(DEFAULT_INDEX))
        .map_err(|problem| ConfigError::new("ES_INDEX", problem))?;
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
    let auth = match get("ES_AUTH").as_deref().map(str::trim) {
        None | Some("none") => EsAuth::None,
        Some("basic") => EsAuth::Basic {
            username: get("ES_USERNAME")
                .map(|u| u.trim().to_owned())
                .ok_or_else(|| ConfigError::new("ES_USERNAME", "is required with ES_AUTH=basic"))?,
            password: secret_source(get, "ES_PASSWORD_PARAMETER", "ES_PASSWORD", None)?,
        },
        Some("api_key") => EsAuth::ApiKey(secret_source(
            get,
            "ES_API_KEY_PARAMETER",
            "ES_API_KEY",
            None,
        )?),
        Some("sigv4") => {
            let host = endpoint.host_str().unwrap_or_default();
            let (host_service, host_region) = sigv4_scope_from_host(host);
            let service = match get("ES_SIGV4_SERVICE").as_deref().map(str::trim) {
                Some(s @ ("es" | "aoss")) => s.to_owned(),
                Some(_) => return Err(ConfigError::new(
                    "ES_SIGV4_SERVICE",
                    "expected `es` (Amazon OpenSearch Service) or `aoss` (OpenSearch Serverless)",
                )),
                None => host_service.unwrap_or("es").to_owned(),
            };
            let region = get("ES_SIGV4_REGION")
                .map(|r| r.trim().to_owned())
                .or_else(|| host_region.map(str::to_owned))
                .or_else(|| get("AWS_REGION"))
                .or_else(|| get("AWS_DEFAULT_REGION"))
                .ok_or_else(|| {
                    ConfigError::new(
                        "ES_SIGV4_REGION",
                        "is required with ES_AUTH=sigv4 when the region is not in the endpoint \
                         host name and AWS_REGION is not set",
                    )
                })?;
            if region.is_empty()
                || !region
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            {
                return Err(ConfigError::new(
                    "ES_SIGV4_REGION",
                    "expected an AWS region name such as eu-west-1",
                ));
            }
            EsAuth::SigV4 { service, region }
        }
        Some(_) => {
            return Err(ConfigError::new(
                "ES_AUTH",
                "expected `none`, `basic`, `api_key` or `sigv4`",
            ))
        }
    };
    let document_ids = match get("ES_DOCUMENT_IDS").as_deref().map(str::trim) {
        None | Some("true") => true,
        Some("false") => false,
        Some(_) => {
            return Err(ConfigError::new(
                "ES_DOCUMENT_IDS",
                "expected `true` (documents keep their event id: retries cannot duplicate) or \
                 `false` (the store assigns ids, e.g. OpenSearch Serverless time-series collections)",
            ))
        }
    };
    Ok(ElasticsearchConfig {
        endpoint,
        index,
        compression,
        auth,
        document_ids,
    })
}

/// `(service, region)` of an Amazon OpenSearch endpoint host:
/// `search-<domain>-<id>.<region>.es.amazonaws.com` or `<id>.<region>.aoss.amazonaws.com`.
pub fn sigv4_scope_from_host(host: &str) -> (Option<&'static str>, Option<&str>) {
    let labels: Vec<&str> = host.split('.').collect();
    for (i, label) in labels.iter().enumerate() {
        let service = match *label {
            "es" => "es",
            "aoss" => "aoss",
            _ => continue,
        };
        if labels.get(i + 1) == Some(&"amazonaws") && i >= 1 {
            let region = labels[i - 1];
            let looks_like_region = region.contains('-')
                && region
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            return (Some(service), looks_like_region.then_some(region));
        }
    }
    (None, None)
}

fn parse_logzio(get: &impl Fn(&str) -> Option<String>) -> Result<LogzioConfig, ConfigError> {
    let listener_url = parse_url(
        "LOGZIO_LISTENER_URL",
        get("LOGZIO_LISTENER_URL").unwrap_or_else(|| DEFAULT_LOGZIO_LISTENER.to_owned()),
    )?;
    let token = secret_source(
        get,
        "LOGZIO_TOKEN_PARAMETER",
        "LOGZIO_TOKEN",
        Some(DEFAULT_LOGZIO_TOKEN_PARAMETER),
    )?;
    let log_type = get("LOGZIO_TYPE")
        .map(|t| t.trim().to_owned())
        .unwrap_or_else(|| "cloudwatch".to_owned());
    let valid = log_type.len() <= 100
        && log_type
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if !valid {
        return Err(ConfigError::new(
            "LOGZIO_TYPE",
            "expected a log type of at most 100 letters, digits, `_`, `-` or `.`",
        ));
    }
    Ok(LogzioConfig {
        listener_url,
        token,
        log_type,
    })
}

/// A secret named by `parameter_var` (an SSM parameter name), or given directly in `value_var`
/// for local runs; `value_var` wins when both are set.
fn secret_source(
    get: &impl Fn(&str) -> Option<String>,
    parameter_var: &'static str,
    value_var: &'static str,
    default_parameter: Option<&str>,
) -> Result<SecretSource, ConfigError> {
    if let Some(value) = get(value_var) {
        return Ok(SecretSource::Value(Secret::new(value)));
    }
    match get(parameter_var)
        .map(|p| p.trim().to_owned())
        .or_else(|| default_parameter.map(str::to_owned))
    {
        Some(name) if is_parameter_name(&name) => Ok(SecretSource::Parameter(name)),
        Some(_) => Err(ConfigError::new(
            parameter_var,
            "expected an SSM parameter name such as /log-forwarder/secret (letters, digits and \
             _ . - / only)",
        )),
        None => Err(ConfigError::new(
            parameter_var,
            format!(
                "is required: the name of the SSM SecureString parameter holding the secret \
                 (or {value_var} with the value itself, for local runs)"
            ),
        )),
    }
}

fn is_parameter_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 2048
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'/'))
}

/// Default index: one index per UTC day of the event time.
pub const DEFAULT_INDEX: &str = "cloudwatch-%Y.%m.%d";

fn parse_url(var: &'static str, value: String) -> Result<reqwest::Url, ConfigError> {
    // The value is never echoed: it may carry credentials.
    let url = reqwest::Url::parse(value.trim())
        .map_err(|e| ConfigError::new(var, format!("is not a valid URL ({e})")))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(ConfigError::new(var, "expected an http:// or https:// URL"));
    }
    if url.host_str().is_none() {
        return Err(ConfigError::new(var, "expected a URL with a host name"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ConfigError::new(
            var,
            "must not contain credentials (user:password@): credentials belong in SSM \
             Parameter Store, never in an environment variable",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ConfigError::new(
            var,
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
        assert_eq!(c.output.max_request_bytes, 5 * 1024 * 1024);
        assert_eq!(c.output.max_concurrency, 4);
        assert_eq!(c.output.ca_bundle, None);
        let DestinationConfig::Elasticsearch(es) = &c.destination else {
            panic!("elasticsearch is the default destination")
        };
        assert_eq!(es.compression, Compression::None);
        assert_eq!(es.auth, EsAuth::None);
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
            ("MAX_REQUEST_BYTES", "lots", "whole number"),
            ("MAX_REQUEST_BYTES", "10", "from 1024"),
            ("MAX_CONCURRENCY", "0", "from 1 to 64"),
            ("TLS_CA_BUNDLE", "/nonexistent/ca.pem", "PEM file"),
            ("DESTINATION", "splunk", "`logzio`"),
            ("ES_AUTH", "token", "`sigv4`"),
            ("ES_DOCUMENT_IDS", "yes", "`true`"),
            ("RECORD_FORMAT", "xml", "`cloudfront`"),
            (
                "CLOUDFRONT_FIELDS",
                "timestamp,c-ip,no-such-field",
                "no-such-field",
            ),
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
    fn destinations_and_authentication() {
        // Logz.io: the token parameter has the shippers' default name; no ES_ENDPOINT needed.
        let c = Config::from_lookup(|name| match name {
            "DESTINATION" => Some("logzio".into()),
            "DLQ_QUEUE_URL" => Some("https://sqs.example.com/1/q".into()),
            _ => None,
        })
        .unwrap();
        let DestinationConfig::Logzio(l) = &c.destination else {
            panic!("logzio expected")
        };
        assert_eq!(l.listener_url.as_str(), "https://listener.logz.io:8071/");
        assert_eq!(
            l.token,
            SecretSource::Parameter("/logz-io/data-shipping-token".into())
        );
        assert_eq!(l.log_type, "cloudwatch");
        let c = config(&[
            ("DESTINATION", "logzio"),
            ("LOGZIO_TOKEN", "abc"),
            ("LOGZIO_TYPE", "app-logs"),
            ("LOGZIO_LISTENER_URL", "https://listener-eu.logz.io:8071"),
        ])
        .unwrap();
        let DestinationConfig::Logzio(l) = &c.destination else {
            panic!("logzio expected")
        };
        assert_eq!(l.token, SecretSource::Value(Secret::new("abc")));
        assert!(
            !format!("{c:?}").contains("abc\""),
            "the token is never printed"
        );
        // The listener's request limit caps MAX_REQUEST_BYTES.
        let e = error_for(&[("DESTINATION", "logzio"), ("MAX_REQUEST_BYTES", "20000000")]);
        assert_eq!(e.variable, "MAX_REQUEST_BYTES");
        let e = error_for(&[("DESTINATION", "logzio"), ("LOGZIO_TYPE", "a b")]);
        assert_eq!(e.variable, "LOGZIO_TYPE");

        let e = error_for(&[("ES_AUTH", "basic")]);
        assert_eq!(e.variable, "ES_USERNAME");
        let e = error_for(&[("ES_AUTH", "basic"), ("ES_USERNAME", "elastic")]);
        assert_eq!(e.variable, "ES_PASSWORD_PARAMETER");
        assert!(e.to_string().contains("ES_PASSWORD"), "{e}");
        let e = error_for(&[
            ("ES_AUTH", "api_key"),
            ("ES_API_KEY_PARAMETER", "bad name!"),
        ]);
        assert_eq!(e.variable, "ES_API_KEY_PARAMETER");
        let auth = |vars: &[(&str, &str)]| match config(vars).unwrap().destination {
            DestinationConfig::Elasticsearch(es) => es.auth,
            DestinationConfig::Logzio(_) => panic!("elasticsearch expected"),
        };
        assert_eq!(
            auth(&[
                ("ES_AUTH", "basic"),
                ("ES_USERNAME", "elastic"),
                ("ES_PASSWORD_PARAMETER", "/es/password")
            ]),
            EsAuth::Basic {
                username: "elastic".into(),
                password: SecretSource::Parameter("/es/password".into())
            }
        );
        // SigV4 service and region come from the endpoint host…
        assert_eq!(
            auth(&[
                ("ES_AUTH", "sigv4"),
                (
                    "ES_ENDPOINT",
                    "https://search-logs-abc123.eu-west-1.es.amazonaws.com"
                )
            ]),
            EsAuth::SigV4 {
                service: "es".into(),
                region: "eu-west-1".into()
            }
        );
        assert_eq!(
            auth(&[
                ("ES_AUTH", "sigv4"),
                ("ES_ENDPOINT", "https://0abc.us-east-2.aoss.amazonaws.com")
            ]),
            EsAuth::SigV4 {
                service: "aoss".into(),
                region: "us-east-2".into()
            }
        );
        // …or from the settings and the function's region for a custom domain name.
        assert_eq!(
            auth(&[
                ("ES_AUTH", "sigv4"),
                ("ES_ENDPOINT", "https://logs.example.com"),
                ("AWS_REGION", "ap-south-1")
            ]),
            EsAuth::SigV4 {
                service: "es".into(),
                region: "ap-south-1".into()
            }
        );
        assert_eq!(
            auth(&[
                ("ES_AUTH", "sigv4"),
                ("ES_SIGV4_SERVICE", "aoss"),
                ("ES_SIGV4_REGION", "eu-north-1")
            ]),
            EsAuth::SigV4 {
                service: "aoss".into(),
                region: "eu-north-1".into()
            }
        );
        let e = error_for(&[("ES_AUTH", "sigv4"), ("ES_SIGV4_SERVICE", "s3")]);
        assert_eq!(e.variable, "ES_SIGV4_SERVICE");
        let e = error_for(&[
            ("ES_AUTH", "sigv4"),
            ("ES_ENDPOINT", "https://logs.example.com"),
        ]);
        assert_eq!(e.variable, "ES_SIGV4_REGION");
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
