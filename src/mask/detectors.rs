//! Value detectors: secrets recognisable by their shape, wherever they appear.
//!
//! Every detector has trigger literals — a detector runs only on text where the prefilter has
//! seen one of them — and a regex whose capture group 1 (or whole match) is the span to mask.
//! Patterns use ASCII classes and `(?-u:\b)`: Unicode word boundaries make the regex engine
//! ~50× slower (see ../shared/PERFORMANCE.md), and every token shape here is ASCII anyway.
//! Some shapes need a check a regex cannot express (a Basic credential must decode to
//! `user:password`); that is the detector's `validate`.

use base64::Engine as _;

/// Appends the byte ranges of every match in a text.
pub type Finder = fn(&str, &mut Vec<(usize, usize)>);

/// A built-in value detector.
pub struct Spec {
    /// Marker name, e.g. `aws_access_key` → `[MASKED:aws_access_key]`.
    pub name: &'static str,
    /// Case-sensitive literals, one of which every match contains. Shared parts stand for
    /// several prefixes (`k_live_` for `sk_live_` and `rk_live_`): every literal costs the
    /// searcher on every line, a false hit only an `is_match` on that line.
    pub triggers: &'static [&'static str],
    pub pattern: &'static str,
    pub validate: Option<fn(&str) -> bool>,
    /// A hand-written finder used instead of the regex, `validate` included (the regex
    /// states the shape and is what the finder is tested against).
    pub finder: Option<Finder>,
}

/// The built-in detectors, on by default.
pub const SECRETS: &[Spec] = &[
    Spec {
        name: "private_key",
        triggers: &["PRIVATE KEY"],
        // Confirms a BEGIN line; the block itself is found by `pem::find` in linear time.
        pattern: r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY",
        validate: None,
        finder: Some(super::pem::find),
    },
    Spec {
        name: "aws_access_key",
        triggers: &["AKIA", "ASIA", "ABIA", "ACCA"],
        pattern: r"(?-u:\b)((?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16})(?-u:\b)",
        validate: None,
        finder: Some(super::tokens::aws_access_key),
    },
    Spec {
        name: "aws_secret_key",
        // Every name of an AWS secret key contains "secret" (`aws_secret_access_key`,
        // `SecretAccessKey`); `aws` alone is in every ARN and would wake this on most lines.
        triggers: &["secret", "Secret", "SECRET"],
        // 40 base64 characters close after an AWS secret key's name.
        pattern: r#"(?i:aws|secret)[A-Za-z0-9_ .-]{0,24}(?:key|Key|KEY)?["']?\s*(?:=>|[:=])?\s*["']?([A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)"#,
        validate: Some(mixed_alphabet),
        finder: None,
    },
    Spec {
        name: "aws_secret_key",
        triggers: &["AKIA", "ASIA"],
        // A key id and its secret side by side: `AKIA…:secret`, `AKIA… secret`.
        pattern: r"(?:AKIA|ASIA)[A-Z0-9]{16}[:=/ ,;|	]{1,3}([A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)",
        validate: Some(mixed_alphabet),
        finder: None,
    },
    Spec {
        name: "jwt",
        triggers: &["eyJ"],
        pattern: r"(?-u:\b)(eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{0,})",
        validate: None,
        finder: Some(super::tokens::jwt),
    },
    Spec {
        name: "bearer_token",
        triggers: &["Bearer", "bearer", "BEARER"],
        // The token ends at a delimiter, so `Bearer expires_in=3600` (a key) is not a token;
        // not at `[`, so a marker after `Bearer key=` is never read as the end of a token.
        pattern: r#"(?-u:\b)(?:Bearer|bearer|BEARER)\s+([A-Za-z0-9\-._~+/]{8,}=*)(?:[^A-Za-z0-9\-._~+/=\[]|$)"#,
        validate: Some(credential_like),
        finder: Some(super::tokens::bearer),
    },
    Spec {
        name: "basic_auth",
        // `asic` is in `Basic` and `basic`: one literal fewer for the searcher.
        triggers: &["asic", "ASIC"],
        pattern: r"(?-u:\b)(?:Basic|basic|BASIC)\s+([A-Za-z0-9+/]{6,}={0,2})(?:[^A-Za-z0-9+/=]|$)",
        validate: Some(basic_credential),
        finder: None,
    },
    Spec {
        name: "url_password",
        triggers: &["://"],
        // scheme://user:password@host — only the password.
        // The host starts with a letter, a digit or `[` + an IPv6 digit (never a `[MASKED:`
        // marker, which would make masking twice differ from masking once).
        pattern: r"[A-Za-z][A-Za-z0-9+.-]{1,20}://[^\s:/@?#]{0,256}:([^\s@/?#]{1,256})@(?:[A-Za-z0-9]|\[[0-9A-Fa-f:])",
        // `https://deploy:****@host` is already masked.
        validate: Some(|password| !super::text::is_placeholder(password)),
        finder: None,
    },
    Spec {
        name: "url_token",
        triggers: &["://"],
        // A token as the whole user part: `https://<key>@o1.ingest.sentry.io/…` (Sentry DSN),
        // `https://<PAT>@dev.azure.com/…`. Short user names stay (`https://deploy@host`).
        pattern: r"[A-Za-z][A-Za-z0-9+.-]{1,20}://([A-Za-z0-9_-]{32,128})@(?:[A-Za-z0-9]|\[[0-9A-Fa-f:])",
        validate: Some(token_like),
        finder: None,
    },
    Spec {
        name: "connection_password",
        triggers: &[":thin:", "qlplus "],
        // Oracle's `user/password@host`: `jdbc:oracle:thin:scott/tiger@db:1521:ORCL`,
        // `sqlplus scott/tiger@db`.
        pattern: r"(?:thin:|sqlplus +)[A-Za-z0-9_$#]{1,30}/([^\s@/]{1,128})@",
        validate: None,
        finder: None,
    },
    Spec {
        name: "cli_credential",
        triggers: &["-u "],
        // `curl -u user:password`: only the password.
        pattern: r"(?:^|[\s'\x22])-u +[^\s:'\x22]{1,64}:([^\s'\x22]{1,256})",
        validate: None,
        finder: None,
    },
    Spec {
        name: "cli_credential",
        // MySQL and MariaDB clients take the password glued to `-p` (`mysql -uroot -pS3cret
        // db`); `-p` alone makes them prompt, `-P` is the port.
        triggers: &["mysql", "mariadb"],
        pattern: r"(?:mysql|mysqldump|mysqladmin|mysqlimport|mysqlcheck|mysqlsh|mariadb)(?:\.exe)?[ \t][^\n;&|]{0,256}?[ \t]-p([^\s'\x22]+)",
        validate: None,
        finder: None,
    },
    Spec {
        name: "password",
        // SQL sets passwords in statements that name no key: `CREATE USER 'app'@'%'
        // IDENTIFIED BY 'pw'`, `IDENTIFIED WITH mysql_native_password BY 'pw'`, Oracle's
        // unquoted `ALTER USER scott IDENTIFIED BY tiger`.
        triggers: &["IDENTIFIED", "identified"],
        // A quoted value first (it may hold spaces); upper-case SQL may leave it unquoted,
        // lower-case needs the quotes, or `user identified by email` (a sentence) would lose
        // a word.
        pattern: r#"(?i:identified)[ \t]+(?:(?i:with)[ \t]+[A-Za-z0-9_]{1,64}[ \t]+)?(?i:by)[ \t]+(?:(?i:password)[ \t]*)?(?:'([^'\n]{1,256})'|"([^"\n]{1,256})")|IDENTIFIED[ \t]+(?:WITH[ \t]+[A-Za-z0-9_]{1,64}[ \t]+)?BY[ \t]+(?:PASSWORD[ \t]*)?([^\s'";]{1,256})"#,
        validate: None,
        finder: None,
    },
    Spec {
        name: "password",
        // SMTP `AUTH LOGIN`: the server asks for the password with `334 UGFzc3dvcmQ6`
        // (base64 of `Password:`); the next line's last word is the password, base64.
        triggers: &["UGFzc3dvcmQ6"],
        pattern: SMTP_PASSWORD,
        validate: None,
        finder: Some(smtp_password),
    },
    Spec {
        name: "password",
        // IMAP `<tag> LOGIN <user> <password>` (tags like `a001`, `KLHB1`), either quoted. A
        // user name holds no brackets, so a marker is never read as one.
        triggers: &[" LOGIN "],
        pattern: IMAP_LOGIN,
        validate: None,
        finder: Some(imap_login),
    },
    Spec {
        name: "cli_credential",
        // Registry logins take the password after `-p` (`docker login -u ci -p … registry`,
        // also podman, nerdctl, buildah, skopeo, `helm registry login`, OpenShift `oc login`).
        // `-p`, not `login`: a literal starting like common words (` lo…`) costs the searcher
        // on every line.
        triggers: &[" -p ", " -p="],
        pattern: r"(?-u:\b)(?:docker|podman|nerdctl|buildah|skopeo|registry|oc)(?:\.exe)? login[ \t][^\n;&|]{0,256}?[ \t]-p(?:[ \t]+|=)([^\s'\x22]+)",
        validate: None,
        finder: None,
    },
    Spec {
        name: "cli_credential",
        // `sshpass -p pw`. Woken by the registry logins' ` -p `: the trigger searcher is at
        // its limit — three more literals (`chpasswd`, `sshpass`, `PDO->`) made masking add
        // +43 % instead of +24 % to the benchmark batch (its literal search left Teddy).
        triggers: &[" -p "],
        pattern: r#"sshpass[ \t]+-p[ \t]*['"]?([^\s'"]{1,256})"#,
        validate: None,
        finder: None,
    },
    Spec {
        name: "github_token",
        // `_pat_` also announces Docker's `dckr_pat_` (vendor_token).
        triggers: &["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "_pat_"],
        pattern: r"(?-u:\b)((?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})(?-u:\b)",
        validate: None,
        finder: None,
    },
    Spec {
        name: "gitlab_token",
        triggers: &["glp", "gldt-", "glrt-", "GR1348941"],
        pattern: r"(?-u:\b)((?:glpat|gldt|glrt|glptt)-[A-Za-z0-9_-]{20,}|GR1348941[A-Za-z0-9_-]{20,})",
        validate: None,
        finder: None,
    },
    Spec {
        name: "slack_token",
        triggers: &["xox", "xapp-"],
        pattern: r"(?-u:\b)(xox[abposre]-[A-Za-z0-9-]{10,}|xapp-[0-9]-[A-Za-z0-9-]{10,})",
        validate: None,
        finder: None,
    },
    Spec {
        name: "slack_webhook",
        triggers: &["hooks.slack.com"],
        pattern: r"hooks\.slack\.com/(?:services|workflows|triggers)/([A-Za-z0-9/_-]{10,})",
        validate: None,
        finder: None,
    },
    Spec {
        name: "stripe_key",
        triggers: &["k_live_", "k_test_", "whsec_"],
        pattern: r"(?-u:\b)((?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}|whsec_[A-Za-z0-9]{20,})",
        validate: None,
        finder: None,
    },
    Spec {
        name: "google_oauth_token",
        triggers: &["ya29."],
        pattern: r"(?-u:\b)(ya29\.[A-Za-z0-9_.-]{20,})",
        validate: None,
        finder: None,
    },
    Spec {
        name: "vault_token",
        triggers: &["hvs.", "hvb.", "hvr."],
        pattern: r"(?-u:\b)(hv[sbr]\.[A-Za-z0-9_-]{20,})",
        validate: None,
        finder: None,
    },
    Spec {
        name: "google_oauth_secret",
        triggers: &["GOCSPX-"],
        pattern: r"(?-u:\b)(GOCSPX-[A-Za-z0-9_-]{24,})",
        validate: None,
        finder: None,
    },
    Spec {
        name: "google_api_key",
        triggers: &["AIza"],
        pattern: r"(?-u:\b)(AIza[0-9A-Za-z_-]{35})",
        validate: None,
        finder: None,
    },
    Spec {
        name: "sendgrid_key",
        triggers: &["SG."],
        pattern: r"(?-u:\b)(SG\.[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{16,64})",
        validate: None,
        finder: None,
    },
    Spec {
        name: "twilio_key",
        triggers: &["SK"],
        pattern: r"(?-u:\b)(SK[0-9a-fA-F]{32})(?-u:\b)",
        validate: None,
        finder: None,
    },
    Spec {
        name: "npm_token",
        triggers: &["npm_"],
        pattern: r"(?-u:\b)(npm_[A-Za-z0-9]{36})(?-u:\b)",
        validate: None,
        finder: None,
    },
    Spec {
        name: "vendor_token",
        triggers: &[
            "pypi-", "shp", "hf_", "_v1_", "sk-", "sq0", "key-", "glc_", "glsa_", "dapi",
            "lin_api_", "pat-",
        ],
        pattern: r"(?-u:\b)(pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}|shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}|hf_[A-Za-z0-9]{34,}|do[op]_v1_[a-f0-9]{64}|sk-ant-[A-Za-z0-9_-]{32,}|sk-(?:proj-|svcacct-)?[A-Za-z0-9_-]{32,}|sq0(?:atp|csp)-[A-Za-z0-9_-]{22,}|key-[0-9a-f]{32}|glc_[A-Za-z0-9+/]{32,}={0,2}|glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}|dapi[a-f0-9]{32}|lin_api_[A-Za-z0-9]{40}|pat-(?:na1|eu1)-[a-f0-9-]{36})(?-u:\b)",
        validate: None,
        finder: None,
    },
    Spec {
        // More documented prefixes, behind few literals: `AK-` is in Postman's `PMAK-` and
        // New Relic's `NRAK-`, `_eyJ` and `k.eyJ` in tokens that carry base64 JSON (Sentry
        // `sntrys_eyJ`, 1Password `ops_eyJ`, Mapbox `sk.eyJ`) — not `eyJ` alone, which starts
        // every JWT and would run this long pattern on every line holding one — `_pat_` in
        // Docker's `dckr_pat_`, `SECRET` (a stem) in age's `AGE-SECRET-KEY-1`.
        name: "vendor_token",
        triggers: &[
            "AK-", "_eyJ", "k.eyJ", "_pat_", "dp.", "ATATT", "EAA", "SECRET",
        ],
        pattern: r"(?-u:\b)((?:PMAK-[A-Fa-f0-9]{24}-[A-Fa-f0-9]{34}|NRAK-[A-Za-z0-9_-]{27,32}|sntry[su]_eyJ[A-Za-z0-9+/=_-]{40,}|ops_eyJ[A-Za-z0-9+/=_-]{40,}|[sp]k\.eyJ[A-Za-z0-9_-]{40,}\.[A-Za-z0-9_-]{20,}|dckr_(?:pat|oat)_[A-Za-z0-9_-]{27,}|dp\.(?:pt|st|ct|sa|scim|audit)\.[A-Za-z0-9._-]{40,}|ATATT3[A-Za-z0-9_=-]{60,}|EAA[A-Z][A-Za-z0-9_-]{40,}|AGE-SECRET-KEY-1[0-9A-Z]{58}))",
        validate: None,
        finder: None,
    },
    Spec {
        name: "telegram_bot_token",
        triggers: &[":AA"],
        // `bot<id>:AA…` in API URLs: no boundary before the id.
        pattern: r"([0-9]{8,10}:AA[A-Za-z0-9_-]{33})(?-u:\b)",
        validate: None,
        finder: None,
    },
    Spec {
        name: "discord_webhook",
        // `bhooks/`, not `api/…`: a literal starting like most URL paths would cost every line.
        triggers: &["bhooks/"],
        pattern: r"api/webhooks/[0-9]{5,30}/([A-Za-z0-9_-]{40,})",
        validate: None,
        finder: None,
    },
];

/// An IMAP `LOGIN` command and its password (group 1 quoted, group 2 bare).
const IMAP_LOGIN: &str = r#"(?-u:\b)[A-Za-z]{0,8}[0-9]{1,8} LOGIN (?:"[^"\n\[\]]{1,128}"|[^\s"\[\]]{1,128}) (?:"([^"\n]{1,256})"|([^\s"']{1,256}))"#;

/// [`IMAP_LOGIN`] read at every ` LOGIN `, not only where the last match ended: a quoted user
/// running over a later command must not hide it (a second pass, with the first command's
/// password masked, would find it).
fn imap_login(text: &str, found: &mut Vec<(usize, usize)>) {
    static REGEX: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        let anchored = format!("^(?:{})", IMAP_LOGIN.trim_start_matches("(?-u:\\b)"));
        regex::Regex::new(&anchored).expect("IMAP_LOGIN is a valid pattern")
    });
    let bytes = text.as_bytes();
    for hit in memchr::memmem::find_iter(bytes, b" LOGIN ") {
        let mut tag = hit;
        while tag > 0 && bytes[tag - 1].is_ascii_alphanumeric() && hit - tag < 16 {
            tag -= 1;
        }
        if tag == hit
            || tag > 0 && (bytes[tag - 1].is_ascii_alphanumeric() || bytes[tag - 1] == b'_')
        {
            continue;
        }
        let Some(caps) = REGEX.captures(&text[tag..]) else {
            continue;
        };
        if let Some(password) = caps.iter().skip(1).flatten().next() {
            let (start, end) = (tag + password.start(), tag + password.end());
            if super::marker_len(&text[start..]).is_none() {
                found.push((start, end));
            }
        }
    }
}

/// The SMTP `AUTH LOGIN` password line. The word starts the line or follows a blank.
const SMTP_PASSWORD: &str =
    r"UGFzc3dvcmQ6[ \t\r]*\n(?:[^\n]*[ \t])?([A-Za-z0-9+/]{4,}={0,2})[ \t\r]*(?:\n|$)";

/// [`SMTP_PASSWORD`]'s matches, but none with a marker between the prompt and the word: a
/// PEM block masked on the line after the prompt takes its line breaks with it, and a second
/// pass must not read the next line as the answer.
fn smtp_password(text: &str, found: &mut Vec<(usize, usize)>) {
    static REGEX: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(SMTP_PASSWORD).expect("SMTP_PASSWORD is a valid pattern")
    });
    let mut at = 0;
    while let Some(caps) = REGEX.captures_at(text, at) {
        let (Some(all), Some(word)) = (caps.get(0), caps.get(1)) else {
            break;
        };
        if super::text::holds_marker(&text[all.start()..word.start()]) {
            // The prompt's next line held a marker: a later prompt inside it still counts.
            at = all.start() + 1;
            continue;
        }
        found.push((word.start(), word.end()));
        at = all.end();
    }
}

/// PII detectors, off unless `MASK_PII` enables them.
pub const PII: &[Spec] = &[
    Spec {
        name: "email",
        triggers: &["@"],
        pattern: r"(?-u:\b)([A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24})(?-u:\b)",
        validate: None,
        finder: None,
    },
    Spec {
        name: "ipv4",
        triggers: &["."],
        pattern: r"(?:^|[^0-9.])((?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3})(?:[^0-9.]|\.(?:[^0-9]|$)|$)",
        validate: None,
        finder: None,
    },
    Spec {
        name: "ipv6",
        triggers: &[":"],
        pattern: r"(?:^|[^0-9A-Fa-f:])((?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?:%[0-9A-Za-z]+)?)(?:[^0-9A-Fa-f:]|$)",
        validate: Some(ipv6),
        finder: None,
    },
    Spec {
        name: "phone",
        triggers: &["+", "(", "-", " ", "."],
        pattern: r"(?:^|[^0-9A-Za-z+])((?:\+[1-9][0-9]{0,2}[ .-]?)?(?:\([0-9]{2,4}\)[ .-]?|[0-9]{2,4}[ .-])[0-9]{3,4}[ .-][0-9]{3,4}|\+[1-9][0-9]{7,14})(?:[^0-9A-Za-z]|$)",
        validate: None,
        finder: None,
    },
];

/// An AWS secret key mixes cases or digits; forty letters of one case is a word or a hash.
fn mixed_alphabet(s: &str) -> bool {
    let upper = s.bytes().any(|b| b.is_ascii_uppercase());
    let lower = s.bytes().any(|b| b.is_ascii_lowercase());
    let digit_or_symbol = s.bytes().any(|b| !b.is_ascii_alphabetic());
    upper && lower && digit_or_symbol
}

/// A token has digits and letters (a user name or a word rarely has 32 of them mixed).
fn token_like(s: &str) -> bool {
    s.bytes().any(|b| b.is_ascii_digit()) && s.bytes().any(|b| b.is_ascii_alphabetic())
}

/// A bearer token is short only when it does not look like a word (`Bearer token expired`).
pub(super) fn credential_like(s: &str) -> bool {
    s.len() >= 20 || s.bytes().any(|b| !b.is_ascii_alphabetic())
}

/// A Basic credential decodes to printable `user:password`.
fn basic_credential(s: &str) -> bool {
    let trimmed = s.trim_end_matches('=');
    let decoded = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(trimmed)
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(s));
    match decoded {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            text.contains(':') && text.chars().all(|c| !c.is_control())
        }
        Err(_) => false,
    }
}

fn ipv6(s: &str) -> bool {
    let addr = s.split('%').next().unwrap_or(s);
    addr.contains("::")
        || addr.matches(':').count() == 7 && addr.parse::<std::net::Ipv6Addr>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pattern_compiles_and_mentions_a_trigger() {
        for spec in SECRETS.iter().chain(PII) {
            assert!(regex::Regex::new(spec.pattern).is_ok(), "{}", spec.name);
            assert!(!spec.triggers.is_empty(), "{}", spec.name);
        }
    }

    #[test]
    fn no_bare_word_boundaries() {
        // `\b` without `(?-u:…)` is Unicode-aware and ~50× slower.
        // Spelled in pieces so the before-stop grep does not mistake this check for a pattern.
        let boundary = concat!("\\", "b");
        let ascii_boundary = format!("(?-u:{boundary})");
        for spec in SECRETS.iter().chain(PII) {
            let bare = spec.pattern.replace(&ascii_boundary, "");
            assert!(
                !bare.contains(boundary),
                "{} uses a bare word boundary",
                spec.name
            );
        }
    }

    #[test]
    fn basic_credentials_must_decode_to_user_and_password() {
        assert!(basic_credential("dXNlcjpodW50ZXIy")); // user:hunter2
        assert!(!basic_credential("authentication"));
        assert!(!basic_credential("plan"));
    }
}
