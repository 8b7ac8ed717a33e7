//! The independent SigV4 verifier (`tests/support/sigv4.rs`) against AWS's published SigV4
//! test suite (vendored in `tests/fixtures/sigv4/`, see its README).
//!
//! For every case: the canonical request and string to sign are reproduced byte for byte,
//! the signed request verifies, and changing one body byte, one signed header or the
//! signature makes it fail.

// Only the support module this test needs, so that it builds whatever state the harness in
// `support/mod.rs` is in.
mod support {
    #![allow(dead_code)]
    pub mod sigv4;
}

use std::io::Write as _;
use std::time::{Duration, SystemTime};

use support::sigv4::{self, RequestParts, TestCredentials, VectorCase, VerifyOptions};

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

const EXAMPLE_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

/// The cases the suite must at least contain (the brief's list and the path-normalization
/// and duplicate-header ones).
const REQUIRED: &[&str] = &[
    "get-vanilla",
    "post-vanilla",
    "post-vanilla-query",
    "get-vanilla-query-order-encoded",
    "get-vanilla-query-order-key-case",
    "post-x-www-form-urlencoded",
    "post-x-www-form-urlencoded-parameters",
    "post-header-key-sort",
    "post-header-value-case",
    "get-header-value-trim",
    "get-header-key-duplicate",
    "get-header-value-multiline",
    "get-utf8",
    "get-space-normalized",
    "get-space-unnormalized",
    "get-slashes-normalized",
    "get-relative-relative-normalized",
    "get-vanilla-with-session-token",
    "post-sts-header-before",
    "post-sts-header-after",
    "double-url-encode",
    "double-encode-path",
];

/// Cases with a `context.json` (all but the two old-format double-encoding ones).
fn cases_with_context() -> Vec<VectorCase> {
    let cases: Vec<VectorCase> = sigv4::vector_cases()
        .iter()
        .map(|name| sigv4::load_case(name).unwrap_or_else(|e| panic!("{e}")))
        .filter(|c| c.credentials.is_some())
        .collect();
    assert!(cases.len() >= 30, "only {} cases with context", cases.len());
    cases
}

fn signed(case: &VectorCase) -> &RequestParts {
    case.signed_request
        .as_ref()
        .unwrap_or_else(|| panic!("{}: no header-signed-request.txt", case.name))
}

fn check(case: &VectorCase, request: &RequestParts) -> Result<(), String> {
    sigv4::verify_with(
        request,
        case.credentials.as_ref().expect("context"),
        case.timestamp.expect("context"),
        &case.verify_options(),
    )
}

#[test]
fn the_vendored_suite_has_the_required_cases() {
    let names = sigv4::vector_cases();
    for required in REQUIRED {
        assert!(
            names.iter().any(|n| n == required),
            "{required} missing from tests/fixtures/sigv4"
        );
    }
    for name in &names {
        let case = sigv4::load_case(name).unwrap();
        assert!(case.signed_request.is_some(), "{name}");
        assert!(case.expected_canonical_request.is_some(), "{name}");
    }
}

#[test]
fn canonical_request_string_to_sign_and_signature_match_the_suite() {
    let mut failures = Vec::new();
    for case in cases_with_context() {
        let request = signed(&case);
        let auth = sigv4::parse_authorization(request.header("authorization").unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let canonical = sigv4::canonical_request(request, &auth.signed_headers, case.normalize)
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let expected = case.expected_canonical_request.as_deref().unwrap();
        if canonical != expected {
            failures.push(format!(
                "{}: canonical request\n--- ours\n{canonical}\n--- suite\n{expected}",
                case.name
            ));
            continue;
        }
        let amz_date = request.header("x-amz-date").unwrap();
        let to_sign = sigv4::string_to_sign(amz_date, &auth.scope(), &canonical);
        let expected = case.expected_string_to_sign.as_deref().unwrap();
        if to_sign != expected {
            failures.push(format!(
                "{}: string to sign\n--- ours\n{to_sign}\n--- suite\n{expected}",
                case.name
            ));
            continue;
        }
        let creds = case.credentials.as_ref().unwrap();
        let key = sigv4::signing_key(
            &creds.secret_access_key,
            &auth.date,
            &creds.region,
            &creds.service,
        );
        let signature = sigv4::signature(&key, &to_sign);
        if Some(&signature) != case.expected_signature.as_ref() || signature != auth.signature {
            failures.push(format!(
                "{}: signature {signature}, suite {:?}",
                case.name, case.expected_signature
            ));
        }
        // The signed request's date and scope are those of the context.
        assert_eq!(
            sigv4::parse_amz_date(amz_date).unwrap(),
            case.timestamp.unwrap(),
            "{}",
            case.name
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_signed_request_of_the_suite_verifies() {
    let failures: Vec<String> = cases_with_context()
        .iter()
        .filter_map(|case| {
            check(case, signed(case))
                .err()
                .map(|e| format!("{}: {e}", case.name))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_unsigned_requests_of_the_suite_are_refused() {
    for case in cases_with_context() {
        let err = check(&case, &case.request).expect_err(&case.name);
        assert!(err.contains("Authorization"), "{}: {err}", case.name);
    }
}

/// Changes the last digit of `value` (or, without digits, its last letter).
fn tamper(value: &str) -> String {
    let mut chars: Vec<char> = value.chars().collect();
    let pos = chars
        .iter()
        .rposition(char::is_ascii_digit)
        .or_else(|| chars.iter().rposition(char::is_ascii_alphabetic))
        .unwrap_or_else(|| panic!("nothing to change in {value:?}"));
    chars[pos] = match chars[pos] {
        '9' => '0',
        'z' => 'a',
        'Z' => 'A',
        c => (c as u8 + 1) as char,
    };
    chars.into_iter().collect()
}

#[test]
fn one_changed_body_byte_is_refused() {
    for case in cases_with_context() {
        let mut request = signed(&case).clone();
        match request.body.last_mut() {
            Some(b) => *b ^= 1,
            None => request.body.push(b'x'),
        }
        let err = check(&case, &request).expect_err(&case.name);
        let expected = if case.sign_body {
            "x-amz-content-sha256"
        } else {
            "signature mismatch"
        };
        assert!(err.contains(expected), "{}: {err}", case.name);
    }
}

#[test]
fn one_changed_signed_header_is_refused() {
    let mut tried = 0;
    for case in cases_with_context() {
        let original = signed(&case);
        let auth = sigv4::parse_authorization(original.header("authorization").unwrap()).unwrap();
        for name in &auth.signed_headers {
            let mut request = original.clone();
            let header = request
                .headers
                .iter_mut()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .unwrap();
            header.1 = tamper(&header.1);
            let err = check(&case, &request)
                .err()
                .unwrap_or_else(|| panic!("{}: changed {name} accepted", case.name));
            let expected = match name.as_str() {
                "x-amz-content-sha256" => "x-amz-content-sha256",
                "x-amz-security-token" => "X-Amz-Security-Token differs",
                _ => "signature mismatch",
            };
            assert!(err.contains(expected), "{} {name}: {err}", case.name);
            tried += 1;
        }
    }
    assert!(tried > 70, "only {tried} header changes tried");
}

#[test]
fn one_changed_signature_digit_is_refused() {
    for case in cases_with_context() {
        let mut request = signed(&case).clone();
        let header = request
            .headers
            .iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
            .unwrap();
        let last = header.1.pop().unwrap();
        header.1.push(if last == '0' { '1' } else { '0' });
        let err = check(&case, &request).expect_err(&case.name);
        assert!(err.contains("signature mismatch"), "{}: {err}", case.name);
    }
}

#[test]
fn an_unsigned_header_may_change() {
    // Headers outside SignedHeaders are not covered: adding one must not break verification
    // (a proxy or client adding `user-agent`/`accept-encoding` is normal).
    let case = sigv4::load_case("post-header-value-case").unwrap();
    let mut request = signed(&case).clone();
    request
        .headers
        .push(("User-Agent".to_owned(), "reqwest".to_owned()));
    check(&case, &request).unwrap();
}

#[test]
fn double_encoding_cases() {
    // double-url-encode: the wire path's `%3A` is encoded again as `%253A` (all services but
    // S3). Signed for lambda/us-east-2 with the suite's example credentials.
    let case = sigv4::load_case("double-url-encode").unwrap();
    let request = signed(&case);
    let auth = sigv4::parse_authorization(request.header("authorization").unwrap()).unwrap();
    let canonical = sigv4::canonical_request(request, &auth.signed_headers, true).unwrap();
    assert_eq!(canonical, case.expected_canonical_request.clone().unwrap());
    let to_sign = sigv4::string_to_sign(
        request.header("x-amz-date").unwrap(),
        &auth.scope(),
        &canonical,
    );
    // This old-format file ends with a newline the string to sign does not have.
    let expected = case.expected_string_to_sign.clone().unwrap();
    assert_eq!(to_sign, expected.strip_suffix('\n').unwrap_or(&expected));
    let creds = TestCredentials::new("AKIDEXAMPLE", EXAMPLE_SECRET, "us-east-2", "lambda");
    let at = sigv4::parse_amz_date("20210511T154045Z").unwrap();
    sigv4::verify(request, &creds, at).unwrap();

    // double-encode-path: `@` → `%40`, `%3D` → `%253D`. Its canonical-request file was made
    // at another date; the canonical URI line is the comparable part.
    let case = sigv4::load_case("double-encode-path").unwrap();
    let request = signed(&case);
    let expected_uri = case
        .expected_canonical_request
        .as_deref()
        .unwrap()
        .lines()
        .nth(1)
        .unwrap();
    assert_eq!(expected_uri, "/test/%40connections/JBDvjfGEIAMCERw%253D");
    assert_eq!(sigv4::canonical_uri(&request.path, true), expected_uri);
    let creds = TestCredentials::new(
        "ANOTREAL",
        "notrealrnrELgWzOk3IfjzDKtFBhDby",
        "us-east-1",
        "service",
    );
    let at = sigv4::parse_amz_date("20150830T123600Z").unwrap();
    sigv4::verify(request, &creds, at).unwrap();
}

fn vanilla() -> (VectorCase, RequestParts, TestCredentials, SystemTime) {
    let case = sigv4::load_case("get-vanilla").unwrap();
    let request = signed(&case).clone();
    let creds = case.credentials.clone().unwrap();
    let at = case.timestamp.unwrap();
    (case, request, creds, at)
}

#[test]
fn scope_and_clock_are_checked() {
    let (_, request, creds, at) = vanilla();
    sigv4::verify(&request, &creds, at).unwrap();

    let other = |f: &dyn Fn(&mut TestCredentials)| {
        let mut c = creds.clone();
        f(&mut c);
        sigv4::verify(&request, &c, at).unwrap_err()
    };
    assert!(other(&|c| c.access_key_id = "AKIDOTHER".into()).contains("access key id"));
    assert!(other(&|c| c.region = "eu-west-1".into()).contains("region"));
    assert!(other(&|c| c.service = "es".into()).contains("service"));
    let err = other(&|c| c.secret_access_key = "another-secret".into());
    assert!(err.contains("signature mismatch"), "{err}");

    // 15 minutes of skew either way are accepted, 16 are not.
    let minutes = |m: u64| Duration::from_secs(m * 60);
    sigv4::verify(&request, &creds, at + minutes(15)).unwrap();
    sigv4::verify(&request, &creds, at - minutes(15)).unwrap();
    let err = sigv4::verify(&request, &creds, at + minutes(16)).unwrap_err();
    assert!(err.contains("away from the server clock"), "{err}");
    let err = sigv4::verify(&request, &creds, at - minutes(16)).unwrap_err();
    assert!(err.contains("away from the server clock"), "{err}");

    // A scope date that is not the X-Amz-Date's day.
    let mut moved = request.clone();
    for (k, v) in &mut moved.headers {
        if k.eq_ignore_ascii_case("authorization") {
            *v = v.replace("/20150830/", "/20150831/");
        }
    }
    let err = sigv4::verify(&moved, &creds, at).unwrap_err();
    assert!(err.contains("does not match X-Amz-Date"), "{err}");
}

#[test]
fn session_tokens_are_checked() {
    let case = sigv4::load_case("get-vanilla-with-session-token").unwrap();
    let request = signed(&case).clone();
    let creds = case.credentials.clone().unwrap();
    let at = case.timestamp.unwrap();
    sigv4::verify(&request, &creds, at).unwrap();

    let token = creds.session_token.clone().unwrap();
    let mut no_token = creds.clone();
    no_token.session_token = None;
    let err = sigv4::verify(&request, &no_token, at).unwrap_err();
    assert!(err.contains("no session token expected"), "{err}");

    let other = creds.clone().with_session_token("another-token");
    let err = sigv4::verify(&request, &other, at).unwrap_err();
    assert!(err.contains("differs"), "{err}");
    assert!(
        !err.contains(&token) && !err.contains("another-token"),
        "{err}"
    );

    // The plain vanilla request, when a token is expected.
    let (_, vanilla, vcreds, vat) = vanilla();
    let err = sigv4::verify(&vanilla, &vcreds.with_session_token(&token), vat).unwrap_err();
    assert!(err.contains("X-Amz-Security-Token missing"), "{err}");

    // post-sts-header-after adds the token after signing: accepted only when the server
    // does not insist on it being signed.
    let case = sigv4::load_case("post-sts-header-after").unwrap();
    let creds = case.credentials.clone().unwrap();
    assert!(case.omit_session_token);
    check(&case, signed(&case)).unwrap();
    let err = sigv4::verify(signed(&case), &creds, case.timestamp.unwrap()).unwrap_err();
    assert!(
        err.contains("x-amz-security-token header is not signed"),
        "{err}"
    );
}

#[test]
fn errors_never_contain_the_secret() {
    let (_, request, creds, at) = vanilla();
    let mut broken = request.clone();
    broken.body.push(b'!');
    let mut errors = vec![
        sigv4::verify(&broken, &creds, at).unwrap_err(),
        sigv4::verify(&request, &creds, at + Duration::from_secs(3600)).unwrap_err(),
    ];
    let mut wrong = creds.clone();
    wrong.secret_access_key = "s3cr3t-that-must-not-leak".into();
    errors.push(sigv4::verify(&request, &wrong, at).unwrap_err());
    for err in &errors {
        assert!(!err.contains(EXAMPLE_SECRET), "{err}");
        assert!(!err.contains("s3cr3t-that-must-not-leak"), "{err}");
    }
    let debug = format!("{wrong:?}");
    assert!(
        !debug.contains("s3cr3t") && debug.contains("AKIDEXAMPLE"),
        "{debug}"
    );
}

#[test]
fn authorization_header_problems_are_named() {
    let (_, request, creds, at) = vanilla();
    let with_auth = |value: &str| {
        let mut r = request.clone();
        for (k, v) in &mut r.headers {
            if k.eq_ignore_ascii_case("authorization") {
                *v = value.to_owned();
            }
        }
        sigv4::verify(&r, &creds, at).unwrap_err()
    };
    let original = request.header("authorization").unwrap().to_owned();
    assert!(with_auth("Basic dXNlcjpwYXNz").contains("scheme"));
    assert!(
        with_auth(&original.replace("SignedHeaders=host;", "SignedHeaders="))
            .contains("host header is not signed")
    );
    assert!(
        with_auth(&original.replace(";x-amz-date", "")).contains("x-amz-date header is not signed")
    );
    assert!(
        with_auth(&original.replace("host;x-amz-date", "x-amz-date;host")).contains("not sorted")
    );
    assert!(
        with_auth(&original.replace("/aws4_request", "/aws5_request")).contains("aws4_request")
    );
    assert!(with_auth(&original.replace(", Signature=", ", Sig=")).contains("Sig"));
    // A signed header the request does not carry.
    let err = with_auth(&original.replace("host;x-amz-date", "host;my-header;x-amz-date"));
    assert!(err.contains("\"my-header\" is not in the request"), "{err}");
    let mut twice = request.clone();
    twice
        .headers
        .push(("authorization".to_owned(), original.clone()));
    assert!(sigv4::verify(&twice, &creds, at)
        .unwrap_err()
        .contains("more than one"));
}

/// A request shaped like the forwarder's `_bulk` to Amazon OpenSearch Service, signed here
/// with the module's own primitives: the verifier accepts it, hashes the gzip bytes as they
/// are on the wire, and double-encodes an encoded path.
#[test]
fn a_gzip_bulk_request_signed_now_verifies() {
    let creds = TestCredentials::new("AKIDTEST", "test-secret", "eu-west-1", "es")
        .with_session_token("session/token+=");
    let body = gzip(b"{\"create\":{\"_index\":\"logs\",\"_id\":\"a\"}}\n{\"message\":\"hi\"}\n");
    let now = SystemTime::now();
    let amz_date = sigv4::format_amz_date(now);
    let mut headers = vec![
        (
            "host".to_owned(),
            "search-logs.eu-west-1.es.amazonaws.com".to_owned(),
        ),
        ("content-type".to_owned(), "application/x-ndjson".to_owned()),
        ("content-encoding".to_owned(), "gzip".to_owned()),
        ("x-amz-content-sha256".to_owned(), sigv4::sha256_hex(&body)),
        ("x-amz-date".to_owned(), amz_date.clone()),
        (
            "x-amz-security-token".to_owned(),
            "session/token+=".to_owned(),
        ),
    ];
    let names: Vec<String> = {
        let mut n: Vec<String> = headers.iter().map(|(k, _)| k.clone()).collect();
        n.sort();
        n
    };
    let request = RequestParts::from_target(
        "POST",
        "/logs%2A2026/_bulk?refresh=false",
        headers.clone(),
        body.clone(),
    );
    let canonical = sigv4::canonical_request(&request, &names, true).unwrap();
    assert!(
        canonical.contains("\n/logs%252A2026/_bulk\nrefresh=false\n"),
        "{canonical}"
    );
    assert!(canonical.ends_with(&sigv4::sha256_hex(&body)));
    let scope = format!("{}/eu-west-1/es/aws4_request", &amz_date[..8]);
    let to_sign = sigv4::string_to_sign(&amz_date, &scope, &canonical);
    let key = sigv4::signing_key("test-secret", &amz_date[..8], "eu-west-1", "es");
    headers.push((
        "authorization".to_owned(),
        format!(
            "AWS4-HMAC-SHA256 Credential=AKIDTEST/{scope}, SignedHeaders={}, Signature={}",
            names.join(";"),
            sigv4::signature(&key, &to_sign)
        ),
    ));
    let request = RequestParts { headers, ..request };
    sigv4::verify(&request, &creds, SystemTime::now()).unwrap();

    // The same bytes decompressed are not what was signed.
    let mut decoded = request.clone();
    decoded.body =
        b"{\"create\":{\"_index\":\"logs\",\"_id\":\"a\"}}\n{\"message\":\"hi\"}\n".to_vec();
    assert!(sigv4::verify(&decoded, &creds, SystemTime::now())
        .unwrap_err()
        .contains("x-amz-content-sha256"));
    // Nor is the path in single-encoded form.
    let mut single = request.clone();
    single.path = "/logs*2026/_bulk".to_owned();
    assert!(sigv4::verify(&single, &creds, SystemTime::now())
        .unwrap_err()
        .contains("signature mismatch"));
}

#[test]
fn canonical_uri_and_query_details() {
    let cases = [
        ("", true, "/"),
        ("/", true, "/"),
        ("//example//", true, "/example/"),
        ("//example//", false, "//example//"),
        ("/a/b/../c/./d", true, "/a/c/d"),
        ("/a/b/..", true, "/a/"),
        ("/../..", true, "/"),
        ("/example space/", false, "/example%20space/"),
        ("/idx/_doc/a%2Fb", true, "/idx/_doc/a%252Fb"),
        ("/-._~", true, "/-._~"),
    ];
    for (path, normalize, expected) in cases {
        assert_eq!(sigv4::canonical_uri(path, normalize), expected, "{path}");
    }
    assert_eq!(sigv4::canonical_query(""), "");
    assert_eq!(sigv4::canonical_query("b=2&a=1&a=0"), "a=0&a=1&b=2");
    assert_eq!(sigv4::canonical_query("flag&x="), "flag=&x=");
    assert_eq!(
        sigv4::canonical_query("q=a%20b+c&s=%2a"),
        "q=a%20b%2Bc&s=%2A"
    );
    assert_eq!(sigv4::canonical_query("k=%zz"), "k=%25zz");
    assert_eq!(
        sigv4::parse_amz_date("20150830T123600Z").unwrap(),
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160)
    );
    assert_eq!(
        sigv4::format_amz_date(SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160)),
        "20150830T123600Z"
    );
    assert!(sigv4::parse_amz_date("2015-08-30T12:36:00Z").is_err());
    let _ = VerifyOptions::default();
}
