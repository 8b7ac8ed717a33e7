//! An independent AWS Signature Version 4 verifier, written from the specification with
//! `hmac` + `sha2` + `hex` only.
//!
//! The forwarder signs with the AWS SDK's `aws-sigv4` crate; this module is the server side
//! of the check, so it must not share code with the signer. It verifies header-signed
//! requests (`Authorization: AWS4-HMAC-SHA256 …`) the way an AWS service such as Amazon
//! OpenSearch Service does:
//!
//! - the canonical URI is the path *as it appears on the wire*, normalized (RFC 3986 dot
//!   segments removed, repeated slashes collapsed) unless told otherwise, then URI-encoded
//!   segment by segment. Encoding the already-encoded wire path is what AWS calls "double
//!   encoding" (every service but S3): `/a%3Db` is canonicalized as `/a%253Db`. The published
//!   test vectors give *unencoded* paths (`/example space/`, `/ሴ`) and expect them encoded
//!   once, which is the same rule applied to the raw text.
//! - the canonical query string is each `name=value` pair percent-decoded, then re-encoded
//!   with the strict SigV4 set (only `A-Za-z0-9-._~` left alone), sorted by name then value.
//!   `+` is taken literally (encoded as `%2B`), not as a space.
//! - canonical headers: the signed names, lowercase, each with all its values in arrival
//!   order, trimmed, runs of spaces collapsed to one, joined with `,`.
//! - the payload hash is always the SHA-256 of the body bytes exactly as received (so the
//!   *compressed* bytes when the request is gzip-encoded); an `x-amz-content-sha256` header,
//!   when present, must equal it (`UNSIGNED-PAYLOAD` is refused).
//!
//! Error strings say what did not match; they never contain the secret access key nor the
//! session token.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// A request as the server received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestParts {
    pub method: String,
    /// Path exactly as on the request line (still percent-encoded), without the query.
    pub path: String,
    /// Raw query string, without the `?` (empty when there is none).
    pub query: String,
    /// Headers as received, in order, possibly repeated; names in any case.
    pub headers: Vec<(String, String)>,
    /// Body bytes exactly as on the wire (compressed when `Content-Encoding: gzip`).
    pub body: Vec<u8>,
}

impl RequestParts {
    /// From a request target (`/path?query`) as on the request line.
    pub fn from_target(
        method: &str,
        target: &str,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Self {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        Self {
            method: method.to_owned(),
            path: path.to_owned(),
            query: query.to_owned(),
            headers,
            body,
        }
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of header `name` (case-insensitive), in arrival order.
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// The credentials and scope the server expects.
#[derive(Clone, PartialEq, Eq)]
pub struct TestCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// When set, the request must carry it in `X-Amz-Security-Token`.
    pub session_token: Option<String>,
    pub region: String,
    pub service: String,
}

impl TestCredentials {
    pub fn new(access_key_id: &str, secret_access_key: &str, region: &str, service: &str) -> Self {
        Self {
            access_key_id: access_key_id.to_owned(),
            secret_access_key: secret_access_key.to_owned(),
            session_token: None,
            region: region.to_owned(),
            service: service.to_owned(),
        }
    }

    pub fn with_session_token(mut self, token: &str) -> Self {
        self.session_token = Some(token.to_owned());
        self
    }
}

/// Never prints the secret nor the session token.
impl fmt::Debug for TestCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"** redacted **")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "** redacted **"),
            )
            .field("region", &self.region)
            .field("service", &self.service)
            .finish()
    }
}

/// Server-side verification settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyOptions {
    /// Remove dot segments and collapse repeated slashes before encoding the path (what
    /// every AWS service but S3 does, and `aws-sigv4`'s default).
    pub normalize_path: bool,
    /// Largest accepted difference between `X-Amz-Date` and the server's clock.
    pub max_skew: Duration,
    /// Whether `X-Amz-Security-Token` must be among the signed headers (some services accept
    /// it added after signing; the SigV4 test suite's `post-sts-header-after` does that).
    pub security_token_must_be_signed: bool,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        Self {
            normalize_path: true,
            max_skew: Duration::from_secs(15 * 60),
            security_token_must_be_signed: true,
        }
    }
}

/// The parsed `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationHeader {
    pub access_key_id: String,
    /// `YYYYMMDD` of the credential scope.
    pub date: String,
    pub region: String,
    pub service: String,
    /// As listed (lowercase, sorted, `;`-separated on the wire).
    pub signed_headers: Vec<String>,
    /// Lowercase hex.
    pub signature: String,
}

impl AuthorizationHeader {
    /// `date/region/service/aws4_request`.
    pub fn scope(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            self.date, self.region, self.service
        )
    }
}

/// Parses `AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/service/aws4_request,
/// SignedHeaders=host;x-amz-date, Signature=…`.
pub fn parse_authorization(value: &str) -> Result<AuthorizationHeader, String> {
    let value = value.trim();
    let rest = value.strip_prefix(ALGORITHM).ok_or_else(|| {
        let scheme = value.split_whitespace().next().unwrap_or("");
        format!("Authorization scheme is {scheme:?}, expected {ALGORITHM}")
    })?;
    if !rest.starts_with([' ', '\t']) {
        return Err(format!("no space after {ALGORITHM} in Authorization"));
    }
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        let Some((key, val)) = part.split_once('=') else {
            return Err(format!("Authorization component {part:?} is not key=value"));
        };
        let slot = match key.trim() {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed,
            "Signature" => &mut signature,
            other => return Err(format!("unknown Authorization component {other:?}")),
        };
        if slot.replace(val.trim().to_owned()).is_some() {
            return Err(format!("Authorization component {key} appears twice"));
        }
    }
    let credential = credential.ok_or("Authorization has no Credential=")?;
    let signed = signed.ok_or("Authorization has no SignedHeaders=")?;
    let signature = signature.ok_or("Authorization has no Signature=")?;
    let fields: Vec<&str> = credential.split('/').collect();
    let [access_key_id, date, region, service, terminator] = fields[..] else {
        return Err(format!(
            "Credential has {} '/'-separated parts, expected 5 (key/date/region/service/aws4_request)",
            fields.len()
        ));
    };
    if terminator != "aws4_request" {
        return Err(format!(
            "credential scope ends with {terminator:?}, expected \"aws4_request\""
        ));
    }
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("credential scope date {date:?} is not YYYYMMDD"));
    }
    let signed_headers: Vec<String> = signed.split(';').map(str::to_owned).collect();
    if signed_headers.iter().any(|h| h.is_empty()) {
        return Err(format!("SignedHeaders {signed:?} has an empty name"));
    }
    if signed_headers.iter().any(|h| *h != h.to_ascii_lowercase()) {
        return Err(format!("SignedHeaders {signed:?} is not all lowercase"));
    }
    if signed_headers.windows(2).any(|w| w[0] >= w[1]) {
        return Err(format!(
            "SignedHeaders {signed:?} is not sorted or has duplicates"
        ));
    }
    if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "Signature is not 64 hex digits (got {} characters)",
            signature.len()
        ));
    }
    Ok(AuthorizationHeader {
        access_key_id: access_key_id.to_owned(),
        date: date.to_owned(),
        region: region.to_owned(),
        service: service.to_owned(),
        signed_headers,
        signature: signature.to_ascii_lowercase(),
    })
}

/// Verifies a header-signed request with [`VerifyOptions::default`].
pub fn verify(req: &RequestParts, creds: &TestCredentials, now: SystemTime) -> Result<(), String> {
    verify_with(req, creds, now, &VerifyOptions::default())
}

/// Verifies a header-signed request: scope, clock, session token, payload hash, then the
/// signature recomputed from the canonical request.
pub fn verify_with(
    req: &RequestParts,
    creds: &TestCredentials,
    now: SystemTime,
    options: &VerifyOptions,
) -> Result<(), String> {
    let authorization = match req.header_values("authorization")[..] {
        [] => return Err("no Authorization header".to_owned()),
        [one] => one,
        _ => return Err("more than one Authorization header".to_owned()),
    };
    let auth = parse_authorization(authorization)?;
    if auth.access_key_id != creds.access_key_id {
        return Err(format!(
            "access key id {:?} is not the expected {:?}",
            auth.access_key_id, creds.access_key_id
        ));
    }
    if auth.region != creds.region {
        return Err(format!(
            "credential scope region {:?} is not the expected {:?}",
            auth.region, creds.region
        ));
    }
    if auth.service != creds.service {
        return Err(format!(
            "credential scope service {:?} is not the expected {:?}",
            auth.service, creds.service
        ));
    }
    let signed = |name: &str| auth.signed_headers.iter().any(|h| h == name);
    if !signed("host") {
        return Err("the host header is not signed".to_owned());
    }
    let amz_date = match req.header_values("x-amz-date")[..] {
        [] => return Err("no X-Amz-Date header".to_owned()),
        [one] => one.trim(),
        _ => return Err("more than one X-Amz-Date header".to_owned()),
    };
    if !signed("x-amz-date") {
        return Err("the x-amz-date header is not signed".to_owned());
    }
    let signed_at = parse_amz_date(amz_date)?;
    let skew = match now.duration_since(signed_at) {
        Ok(d) => d,
        Err(e) => e.duration(),
    };
    if skew > options.max_skew {
        return Err(format!(
            "X-Amz-Date {amz_date} is {}s away from the server clock (limit {}s)",
            skew.as_secs(),
            options.max_skew.as_secs()
        ));
    }
    if amz_date[..8] != auth.date {
        return Err(format!(
            "credential scope date {} does not match X-Amz-Date {amz_date}",
            auth.date
        ));
    }
    let tokens = req.header_values("x-amz-security-token");
    match (&creds.session_token, &tokens[..]) {
        (None, []) => {}
        (None, _) => {
            return Err("X-Amz-Security-Token present but no session token expected".to_owned())
        }
        (Some(_), []) => {
            return Err("X-Amz-Security-Token missing (a session token is expected)".to_owned())
        }
        (Some(expected), [got]) => {
            if got.trim() != expected {
                return Err(
                    "X-Amz-Security-Token differs from the expected session token \
                            (values not shown)"
                        .to_owned(),
                );
            }
            if options.security_token_must_be_signed && !signed("x-amz-security-token") {
                return Err("the x-amz-security-token header is not signed".to_owned());
            }
        }
        (Some(_), _) => return Err("more than one X-Amz-Security-Token header".to_owned()),
    }
    let payload_hash = sha256_hex(&req.body);
    if let Some(declared) = req.header("x-amz-content-sha256") {
        let declared = declared.trim();
        if declared == "UNSIGNED-PAYLOAD" {
            return Err("x-amz-content-sha256 is UNSIGNED-PAYLOAD: the body is not signed".into());
        }
        if !declared.eq_ignore_ascii_case(&payload_hash) {
            return Err(format!(
                "x-amz-content-sha256 {declared} is not the SHA-256 of the {} body bytes received ({payload_hash})",
                req.body.len()
            ));
        }
    }
    let canonical = canonical_request(req, &auth.signed_headers, options.normalize_path)?;
    let to_sign = string_to_sign(amz_date, &auth.scope(), &canonical);
    let key = signing_key(
        &creds.secret_access_key,
        &auth.date,
        &auth.region,
        &auth.service,
    );
    let expected = signature(&key, &to_sign);
    if expected != auth.signature {
        return Err(format!(
            "signature mismatch: request has {}, server computed {expected}\n\
             canonical request:\n{}\nstring to sign:\n{to_sign}",
            auth.signature,
            redact_token(&canonical)
        ));
    }
    Ok(())
}

/// The canonical request (the text whose hash is signed) for `signed_headers`.
pub fn canonical_request(
    req: &RequestParts,
    signed_headers: &[String],
    normalize_path: bool,
) -> Result<String, String> {
    Ok(format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method,
        canonical_uri(&req.path, normalize_path),
        canonical_query(&req.query),
        canonical_headers(req, signed_headers)?,
        signed_headers.join(";"),
        sha256_hex(&req.body)
    ))
}

/// The canonical URI: `path` as given (the wire form), optionally normalized, each segment
/// URI-encoded (see the module documentation on double encoding).
pub fn canonical_uri(path: &str, normalize: bool) -> String {
    let path = if path.is_empty() { "/" } else { path };
    let path = if normalize {
        normalize_path(path)
    } else {
        path.to_owned()
    };
    path.split('/')
        .map(|segment| uri_encode(segment.as_bytes()))
        .collect::<Vec<_>>()
        .join("/")
}

/// RFC 3986 §5.2.4 dot-segment removal plus collapsing of empty segments (`//`).
fn normalize_path(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let mut last = "";
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
        last = segment;
    }
    let mut normalized = format!("/{}", out.join("/"));
    if !out.is_empty() && matches!(last, "" | "." | "..") {
        normalized.push('/');
    }
    normalized
}

/// The canonical query string.
pub fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                uri_encode(&percent_decode(k)),
                uri_encode(&percent_decode(v)),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The canonical headers block (each `name:value\n`) for `signed_headers`.
pub fn canonical_headers(req: &RequestParts, signed_headers: &[String]) -> Result<String, String> {
    let mut block = String::new();
    for name in signed_headers {
        let values = req.header_values(name);
        if values.is_empty() {
            return Err(format!("signed header {name:?} is not in the request"));
        }
        let values: Vec<String> = values.iter().map(|v| canonical_header_value(v)).collect();
        block.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    Ok(block)
}

/// Trimmed, with runs of whitespace (spaces, tabs, folded line breaks) reduced to one space.
fn canonical_header_value(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `AWS4-HMAC-SHA256\n<amz_date>\n<scope>\n<hex sha256 of canonical request>`.
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

/// `HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let k_date = hmac_sha256(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    hmac_sha256(&k_service, b"aws4_request")
}

/// Lowercase hex HMAC-SHA256 of the string to sign.
pub fn signature(signing_key: &[u8], string_to_sign: &str) -> String {
    hex::encode(hmac_sha256(signing_key, string_to_sign.as_bytes()))
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// SigV4 URI encoding: everything but `A-Za-z0-9-._~` as `%XX` (uppercase).
pub fn uri_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes; a `%` not followed by two hex digits is kept as is.
fn percent_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex_val(bytes[i + 1]), hex_val(bytes[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

fn hex_val(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

fn redact_token(canonical: &str) -> String {
    canonical
        .lines()
        .map(|l| {
            if l.starts_with("x-amz-security-token:") {
                "x-amz-security-token:** redacted **"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Parses `YYYYMMDDTHHMMSSZ`.
pub fn parse_amz_date(s: &str) -> Result<SystemTime, String> {
    let bad = || format!("X-Amz-Date {s:?} is not YYYYMMDDTHHMMSSZ");
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return Err(bad());
    }
    let num = |range: std::ops::Range<usize>| -> Result<i64, String> {
        let part = &s[range];
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().map_err(|_| bad())
        } else {
            Err(bad())
        }
    };
    let (year, month, day) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hour, minute, second) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return Err(bad());
    }
    if second > 60 {
        return Err(bad());
    }
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    u64::try_from(secs)
        .map(|secs| UNIX_EPOCH + Duration::from_secs(secs))
        .map_err(|_| bad())
}

/// Formats a time as `YYYYMMDDTHHMMSSZ`.
pub fn format_amz_date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).expect("after 1970").as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

// ---------------------------------------------------------------------------------------
// The AWS SigV4 test suite (tests/fixtures/sigv4/<case>/)
// ---------------------------------------------------------------------------------------

/// Where the vendored test-suite cases live.
pub fn vector_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sigv4")
}

/// Names of the vendored cases, sorted.
pub fn vector_cases() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(vector_dir())
        .expect("tests/fixtures/sigv4 exists")
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// One case of the AWS SigV4 test suite, as vendored under `tests/fixtures/sigv4/<name>/`.
///
/// `request` is the unsigned input; signing it with `credentials` for `region`/`service` at
/// `timestamp` — adding `X-Amz-Date`, plus `x-amz-content-sha256` when `sign_body`, plus
/// `X-Amz-Security-Token` (signed unless `omit_session_token`) when the credentials have a
/// session token, and normalizing the path when `normalize` — must give `expected_signature`
/// and the `Authorization` header found in `signed_request`.
#[derive(Debug, Clone)]
pub struct VectorCase {
    pub name: String,
    pub dir: PathBuf,
    /// `request.txt`: the request before signing.
    pub request: RequestParts,
    /// `header-signed-request.txt`: the request with the signature headers added.
    pub signed_request: Option<RequestParts>,
    /// From `context.json` (`None` for the two cases that ship without one).
    pub credentials: Option<TestCredentials>,
    /// `context.json` `timestamp`.
    pub timestamp: Option<SystemTime>,
    /// `context.json` `normalize`: whether the signer normalizes the URI path.
    pub normalize: bool,
    /// `context.json` `sign_body`: whether the signer adds `x-amz-content-sha256`.
    pub sign_body: bool,
    /// `context.json` `omit_session_token`: the token is added after signing, unsigned.
    pub omit_session_token: bool,
    pub expected_canonical_request: Option<String>,
    pub expected_string_to_sign: Option<String>,
    /// `header-signature.txt`: lowercase hex.
    pub expected_signature: Option<String>,
}

impl VectorCase {
    /// The verification settings this case was signed for.
    pub fn verify_options(&self) -> VerifyOptions {
        VerifyOptions {
            normalize_path: self.normalize,
            security_token_must_be_signed: !self.omit_session_token,
            ..VerifyOptions::default()
        }
    }
}

/// Loads vendored case `name` (request, signed request, context and expected outputs).
///
/// Use it to sign `case.request` with the forwarder's signer (credentials, region, service
/// and time from the case) and compare with `case.expected_signature`:
///
/// ```ignore
/// let case = support::sigv4::load_case("post-vanilla").unwrap();
/// let creds = case.credentials.clone().unwrap();
/// let at = case.timestamp.unwrap();
/// // … sign case.request (method, path, query, headers, body) with our signer …
/// assert_eq!(our_signature, case.expected_signature.unwrap());
/// ```
pub fn load_case(name: &str) -> Result<VectorCase, String> {
    load_case_from(&vector_dir().join(name))
}

/// [`load_case`] from any directory laid out like the AWS suite.
pub fn load_case_from(dir: &Path) -> Result<VectorCase, String> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let read = |file: &str| -> Result<Option<Vec<u8>>, String> {
        match std::fs::read(dir.join(file)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("{}: {e}", dir.join(file).display())),
        }
    };
    let text = |file: &str| -> Result<Option<String>, String> {
        read(file)?
            .map(|b| String::from_utf8(b).map_err(|e| format!("{name}/{file}: {e}")))
            .transpose()
    };
    let request =
        parse_http_message(&read("request.txt")?.ok_or_else(|| format!("{name}: no request.txt"))?)
            .map_err(|e| format!("{name}/request.txt: {e}"))?;
    let signed_request = read("header-signed-request.txt")?
        .map(|b| {
            parse_http_message(&b).map_err(|e| format!("{name}/header-signed-request.txt: {e}"))
        })
        .transpose()?;
    let mut case = VectorCase {
        name: name.clone(),
        dir: dir.to_owned(),
        request,
        signed_request,
        credentials: None,
        timestamp: None,
        normalize: true,
        sign_body: false,
        omit_session_token: false,
        expected_canonical_request: text("header-canonical-request.txt")?,
        expected_string_to_sign: text("header-string-to-sign.txt")?,
        expected_signature: text("header-signature.txt")?.map(|s| s.trim().to_owned()),
    };
    if let Some(context) = text("context.json")? {
        let v: serde_json::Value =
            serde_json::from_str(&context).map_err(|e| format!("{name}/context.json: {e}"))?;
        let field = |k: &str| -> Result<String, String> {
            v.pointer(k)
                .and_then(|x| x.as_str())
                .map(str::to_owned)
                .ok_or_else(|| format!("{name}/context.json has no {k}"))
        };
        let mut creds = TestCredentials::new(
            &field("/credentials/access_key_id")?,
            &field("/credentials/secret_access_key")?,
            &field("/region")?,
            &field("/service")?,
        );
        creds.session_token = v["credentials"]["token"].as_str().map(str::to_owned);
        case.credentials = Some(creds);
        case.timestamp = Some(parse_rfc3339(&field("/timestamp")?)?);
        case.normalize = v["normalize"].as_bool().unwrap_or(true);
        case.sign_body = v["sign_body"].as_bool().unwrap_or(false);
        case.omit_session_token = v["omit_session_token"].as_bool().unwrap_or(false);
    }
    Ok(case)
}

/// `2015-08-30T12:36:00Z` (UTC, whole seconds — what the suite's contexts use).
fn parse_rfc3339(s: &str) -> Result<SystemTime, String> {
    let compact: String = s.chars().filter(|c| *c != '-' && *c != ':').collect();
    parse_amz_date(&compact).map_err(|_| format!("timestamp {s:?} is not YYYY-MM-DDTHH:MM:SSZ"))
}

/// Parses a test-suite HTTP message: `METHOD target [HTTP/1.1]`, `Name:value` header lines
/// (LF or CRLF; lines starting with whitespace continue the previous value, obsolete line
/// folding), a blank line, the body (all remaining bytes, exactly). The target may contain
/// raw spaces and UTF-8 (the suite's unencoded inputs).
pub fn parse_http_message(bytes: &[u8]) -> Result<RequestParts, String> {
    let (head, body) = match find(bytes, b"\r\n\r\n") {
        Some(i) => (&bytes[..i], &bytes[i + 4..]),
        None => match find(bytes, b"\n\n") {
            Some(i) => (&bytes[..i], &bytes[i + 2..]),
            None => (bytes, &[][..]),
        },
    };
    let head = std::str::from_utf8(head).map_err(|e| format!("head is not UTF-8: {e}"))?;
    let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let request_line = lines.next().ok_or("empty message")?;
    let (method, rest) = request_line
        .split_once(' ')
        .ok_or_else(|| format!("request line {request_line:?} has no target"))?;
    let target = match rest.rsplit_once(' ') {
        Some((target, version)) if version.starts_with("HTTP/") => target,
        _ => rest,
    };
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in lines {
        if line.is_empty() {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            let last = headers
                .last_mut()
                .ok_or_else(|| format!("continuation line {line:?} before any header"))?;
            last.1.push(' ');
            last.1.push_str(line);
            continue;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("header line {line:?} has no ':'"))?;
        headers.push((name.to_owned(), value.to_owned()));
    }
    Ok(RequestParts::from_target(
        method,
        target,
        headers,
        body.to_vec(),
    ))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
