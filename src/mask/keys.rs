//! Which key names hold secrets.
//!
//! A key is judged by its *head*: the normalized name (ASCII letters and digits, lowercased,
//! separators dropped, so `user_password`, `userPassword`, `USER-PASSWORD` and
//! `user.password` are all `userpassword`) must end with a sensitive term. The head is what
//! the value *is*: `access_token`, `client-secret`, `x-api-key` hold secrets, while
//! `token_type`, `password_policy`, `secret_arn` or `max_tokens` only talk about them and keep
//! their values. Short terms that are also word endings (`pin` in `spin`, `sig` in `config`)
//! count only as the key's last whole word.

/// A sensitive key class; its name is the marker's detector name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyClass(pub &'static str);

impl KeyClass {
    /// The shortest value a key of this class holds: a signature is an encoded digest, never a
    /// short word (`JWT signature: kid not found`).
    pub fn min_value_len(self) -> usize {
        if self.0 == "signature" {
            8
        } else {
            1
        }
    }
}

/// Suffixes of normalized keys, with the class they mask as. Longest first where one is a
/// suffix of another, so the most specific class names the marker.
const SUFFIXES: &[(&str, &str)] = &[
    ("secretaccesskey", "aws_secret_key"),
    ("privatekeys", "private_key"),
    ("privatekey", "private_key"),
    // Plurals hold lists of secrets (`"api_keys": [...]`); bare `tokens` stays out
    // (`max_tokens`, `input_tokens` count tokens).
    ("passwords", "password"),
    ("passcode", "password"),
    ("passphrase", "password"),
    ("password", "password"),
    ("passwd", "password"),
    ("pwd", "password"),
    ("apikeys", "api_key"),
    ("apikey", "api_key"),
    ("apitoken", "api_key"),
    ("accesskey", "access_key"),
    ("secretkey", "secret"),
    ("signingkey", "secret"),
    ("encryptionkey", "secret"),
    ("masterkey", "secret"),
    ("clientkey", "secret"),
    ("authkey", "secret"),
    ("sessionkey", "secret"),
    ("accountkey", "secret"),
    ("secrets", "secret"),
    ("secret", "secret"),
    // Rails' `SECRET_KEY_BASE`; Secrets Manager's `SecretString` holds the secret itself.
    ("secretkeybase", "secret"),
    ("secretstring", "secret"),
    ("accesstokens", "token"),
    ("refreshtokens", "token"),
    ("authtokens", "token"),
    ("apitokens", "api_key"),
    ("token", "token"),
    ("jwt", "token"),
    ("sessionid", "session"),
    ("credentials", "credentials"),
    ("credential", "credentials"),
    ("creds", "credentials"),
    ("appkey", "api_key"),
    ("applicationkey", "api_key"),
    ("recoverykey", "secret"),
    ("sharedkey", "secret"),
    ("proxyauthorization", "authorization"),
    ("authorization", "authorization"),
    ("auth", "authorization"),
    ("bearer", "authorization"),
    ("cookie", "cookie"),
    ("cookies", "cookie"),
    ("signature", "signature"),
    ("creditcardnumber", "card_number"),
    ("creditcard", "card_number"),
    ("cardnumber", "card_number"),
    ("ccnumber", "card_number"),
    ("cardno", "card_number"),
    ("pan", "card_number"),
    ("cvv2", "card_number"),
    ("cvv", "card_number"),
    // A card's CVV under the name payment APIs give it (`security_code`, `CardSecurityCode`).
    ("securitycode", "card_number"),
    ("cvc", "card_number"),
    ("ssn", "ssn"),
    ("socialsecuritynumber", "ssn"),
];

/// Terms that count only as the last whole word of the key.
const LAST_WORDS: &[(&str, &str)] = &[
    ("pin", "card_number"),
    ("sig", "signature"),
    ("pass", "password"),
];

/// Words that may follow a secret's name without changing what the value is.
const QUALIFIERS: &[&str] = &[
    "confirmation",
    "confirm",
    "repeat",
    "again",
    "verify",
    "verification",
    "hash",
    "digest",
    "value",
    "plain",
    "plaintext",
    "encrypted",
    "enc",
    "old",
    "new",
    "current",
    "1",
    "2",
];

/// Terms a qualifier may follow.
const QUALIFIED: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "pin",
];

/// Normalized keys that end with a sensitive term but hold no secret.
const NOT_SECRET: &[&str] = &[
    "nexttoken",
    "pagetoken",
    "nextpagetoken",
    "paginationtoken",
    "continuationtoken",
    "synctoken",
    // Idempotency tokens (AWS `ClientRequestToken`, `ClientToken`) and .NET's
    // `CancellationToken` identify a request; they grant nothing.
    "clientrequesttoken",
    "clienttoken",
    "idempotencytoken",
    "cancellationtoken",
    "oauth",
    "span",
    "japan",
    "lifespan",
    "timespan",
    "wingspan",
];

/// Stems that find every key above in text: the prefilter searches for these (in lower,
/// Capitalized and UPPER case) before any key is examined.
pub const TRIGGER_STEMS: &[&str] = &[
    "pass",
    "pwd",
    "secret",
    "token",
    "key",
    "jwt",
    "session",
    // `cred` also finds `creds` (`db_creds=…`).
    "cred",
    "auth",
    "bearer",
    "cookie",
    "signature",
    "card",
    "ccnumber",
    "pan",
    "cvv",
    "cvc",
    "ssn",
    "security",
    "pin",
    "sig",
];

/// Classifies built-in and configured sensitive keys.
#[derive(Debug, Clone)]
pub struct KeyRules {
    /// Extra normalized suffixes from `MASK_KEYS`.
    extra: Vec<String>,
    /// How a sensitive normalized key can end: bit [`tail_index`] of its last three bytes is
    /// set for every term with three bytes or more (suffixes, last words, extra keys, and
    /// each qualified term followed by each qualifier: `secret2`, `tokenvalue`); `short`
    /// holds the terms of one or two bytes (only `MASK_KEYS` has them). Most words near a
    /// stem (`authorized`, `monkey`) fail this test and skip the term lists.
    endings: Box<[u64; ENDING_WORDS]>,
    short: Vec<Vec<u8>>,
    /// Bit `i` of `suffixes_ending[b]` (`qualifiers_ending[b]`) is set when `SUFFIXES[i]`
    /// (`QUALIFIERS[i]`) ends with byte `b`: only those are compared, in list order.
    suffixes_ending: Box<[u64; 256]>,
    qualifiers_ending: Box<[u32; 256]>,
}

impl Default for KeyRules {
    fn default() -> Self {
        Self::new(&[])
    }
}

impl KeyRules {
    pub fn new(extra: &[String]) -> Self {
        let extra: Vec<String> = extra
            .iter()
            .map(|k| normalize(k))
            .filter(|k| !k.is_empty())
            .collect();
        let mut endings = Box::new([0u64; ENDING_WORDS]);
        let mut short = Vec::new();
        let qualified = QUALIFIED
            .iter()
            .flat_map(|t| QUALIFIERS.iter().map(move |q| format!("{t}{q}")));
        let terms = SUFFIXES
            .iter()
            .map(|(s, _)| s.to_string())
            .chain(qualified)
            .chain(LAST_WORDS.iter().map(|(w, _)| w.to_string()))
            .chain(extra.iter().cloned());
        for term in terms {
            match term.as_bytes() {
                [.., a, b, c] => {
                    let bit = tail_index([*a, *b, *c]);
                    endings[bit / 64] |= 1 << (bit % 64);
                }
                t => short.push(t.to_vec()),
            }
        }
        let mut suffixes_ending = Box::new([0u64; 256]);
        for (i, (s, _)) in SUFFIXES.iter().enumerate() {
            suffixes_ending[usize::from(*s.as_bytes().last().unwrap_or(&0))] |= 1 << i;
        }
        let mut qualifiers_ending = Box::new([0u32; 256]);
        for (i, q) in QUALIFIERS.iter().enumerate() {
            qualifiers_ending[usize::from(*q.as_bytes().last().unwrap_or(&0))] |= 1 << i;
        }
        Self {
            extra,
            endings,
            short,
            suffixes_ending,
            qualifiers_ending,
        }
    }

    /// Whether a normalized key whose last bytes are `tail` (up to three) may be sensitive (a
    /// necessary condition).
    fn may_be_sensitive(&self, tail: &[u8]) -> bool {
        if self.short.iter().any(|t| tail.ends_with(t)) {
            return true;
        }
        match *tail {
            [a, b, c] => {
                let bit = tail_index([a, b, c]);
                self.endings[bit / 64] & (1 << (bit % 64)) != 0
            }
            // Shorter than any three-byte term: only a short term can match (tested above).
            _ => false,
        }
    }

    /// The extra keys, normalized (for the prefilter).
    pub fn extra(&self) -> &[String] {
        &self.extra
    }

    /// The class of `key` when its value must be masked.
    pub fn classify(&self, key: &str) -> Option<KeyClass> {
        if key.len() > 128 {
            return None;
        }
        // The test on the last three normalized bytes first: most words near a stem fail it,
        // and then the key is not normalized at all.
        let mut tail = [0u8; 3];
        let mut tail_len = 0;
        for b in key.bytes().rev().filter(u8::is_ascii_alphanumeric).take(3) {
            tail_len += 1;
            tail[3 - tail_len] = b.to_ascii_lowercase();
        }
        if !self.may_be_sensitive(&tail[3 - tail_len..]) {
            return None;
        }
        self.classify_unfiltered(key)
    }

    /// [`KeyRules::classify`] without the test on the last bytes.
    fn classify_unfiltered(&self, key: &str) -> Option<KeyClass> {
        let mut buf = [0u8; 128];
        let n = normalize_into(key, &mut buf);
        // ASCII letters and digits: compared as bytes, no UTF-8 check needed.
        let norm = &buf[..n];
        if norm.is_empty() || NOT_SECRET.iter().any(|s| s.as_bytes() == norm) {
            return None;
        }
        if self.extra.iter().any(|e| norm.ends_with(e.as_bytes())) {
            return Some(KeyClass("custom_key"));
        }
        // `password_confirmation`, `token_value`, `secret2`: a secret with a qualifier after it.
        let last = |t: &[u8]| usize::from(*t.last().unwrap_or(&0));
        let head = bits(u64::from(self.qualifiers_ending[last(norm)]))
            .map(|i| QUALIFIERS[i])
            .find(|q| ends_with(norm, q) && norm.len() - q.len() >= 3)
            .map(|q| &norm[..norm.len() - q.len()])
            .filter(|h| QUALIFIED.iter().any(|t| ends_with(h, t)))
            .unwrap_or(norm);
        if let Some((_, class)) = bits(self.suffixes_ending[last(head)])
            .map(|i| SUFFIXES[i])
            .find(|(s, _)| ends_with(head, s))
        {
            // `pan` only as a whole key or the last word (`card_pan`), not in `company`.
            if norm.ends_with(b"pan") && !last_word_is(key, "pan") {
                return None;
            }
            return Some(KeyClass(class));
        }
        // A last word `w` is also how the normalized key ends: the cheap test goes first.
        LAST_WORDS
            .iter()
            .find(|(w, _)| ends_with(norm, w) && last_word_is(key, w))
            .map(|(_, class)| KeyClass(class))
    }
}

/// Bits in the three-byte ending table: one per string of three lowercase letters or digits.
const ENDING_WORDS: usize = (36 * 36 * 36usize).div_ceil(64);

/// The bit of three lowercase letters or digits in the ending table.
fn tail_index(tail: [u8; 3]) -> usize {
    let digit = |b: u8| match b {
        b'0'..=b'9' => usize::from(b - b'0'),
        _ => usize::from(b.wrapping_sub(b'a')).min(25) + 10,
    };
    (digit(tail[0]) * 36 + digit(tail[1])) * 36 + digit(tail[2])
}

// The ending tables hold one bit per suffix and qualifier.
const _: () = assert!(SUFFIXES.len() <= 64 && QUALIFIERS.len() <= 32);

/// The indexes of the set bits of `mask`, lowest first.
fn bits(mut mask: u64) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        let i = mask.trailing_zeros() as usize;
        mask &= mask.wrapping_sub(1);
        (i < 64).then_some(i)
    })
}

/// `str::ends_with`, comparing the last byte before calling `memcmp`: classification runs
/// for every key-like word near a stem, and most suffixes differ in their last byte.
fn ends_with(t: &[u8], suffix: &str) -> bool {
    let s = suffix.as_bytes();
    // A byte loop, not `<[u8]>::ends_with`: suffixes are a few bytes, a `memcmp` call costs
    // more than comparing them.
    t.len() >= s.len()
        && t.last() == s.last()
        && t.iter().rev().zip(s.iter().rev()).all(|(a, b)| a == b)
}

/// Lowercased ASCII letters and digits of `key`.
pub fn normalize(key: &str) -> String {
    key.bytes()
        .filter(u8::is_ascii_alphanumeric)
        .map(|b| b.to_ascii_lowercase() as char)
        .collect()
}

fn normalize_into(key: &str, out: &mut [u8; 128]) -> usize {
    let mut n = 0;
    for b in key.bytes().filter(u8::is_ascii_alphanumeric) {
        out[n] = b.to_ascii_lowercase();
        n += 1;
    }
    n
}

/// Whether the last word of `key` (split at separators and camelCase humps) is `word`.
fn last_word_is(key: &str, word: &str) -> bool {
    let bytes = key.as_bytes();
    let mut end = bytes.len();
    while end > 0 && !bytes[end - 1].is_ascii_alphanumeric() {
        end -= 1;
    }
    let mut start = end;
    while start > 0 {
        let c = bytes[start - 1];
        if !c.is_ascii_alphanumeric() {
            break;
        }
        start -= 1;
        // A lowercase→uppercase hump starts a word (`cardPin`); an all-caps run is one word.
        if c.is_ascii_uppercase() && start > 0 && bytes[start - 1].is_ascii_lowercase() {
            break;
        }
    }
    key[start..end].eq_ignore_ascii_case(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_keys_in_every_spelling() {
        let rules = KeyRules::default();
        for (key, class) in [
            ("password", "password"),
            ("Password", "password"),
            ("user_password", "password"),
            ("userPassword", "password"),
            ("DB_PASSWORD", "password"),
            ("passwd", "password"),
            ("client-secret", "secret"),
            ("client_secret", "secret"),
            ("secret", "secret"),
            ("accessToken", "token"),
            ("refresh_token", "token"),
            ("id_token", "token"),
            ("X-Amz-Security-Token", "token"),
            ("api_key", "api_key"),
            ("apiKey", "api_key"),
            ("x-api-key", "api_key"),
            ("X-API-KEY", "api_key"),
            ("authorization", "authorization"),
            ("Proxy-Authorization", "authorization"),
            ("cookie", "cookie"),
            ("set-cookie", "cookie"),
            ("Set-Cookie", "cookie"),
            ("private_key", "private_key"),
            ("credentials", "credentials"),
            ("card_number", "card_number"),
            ("cardNumber", "card_number"),
            ("ssn", "ssn"),
            ("aws_secret_access_key", "aws_secret_key"),
            ("SecretAccessKey", "aws_secret_key"),
            ("card_pin", "card_number"),
            ("userPin", "card_number"),
            ("password_confirmation", "password"),
            ("passwordConfirm", "password"),
            ("token_value", "token"),
            ("secret2", "secret"),
            ("sig", "signature"),
            ("X-Amz-Signature", "signature"),
            ("security_code", "card_number"),
            ("CardSecurityCode", "card_number"),
            ("db_creds", "credentials"),
            ("awsCreds", "credentials"),
        ] {
            assert_eq!(rules.classify(key), Some(KeyClass(class)), "{key}");
        }
    }

    #[test]
    fn keys_that_only_talk_about_secrets_are_not_sensitive() {
        let rules = KeyRules::default();
        for key in [
            "token_type",
            "token_count",
            "max_tokens",
            "tokens",
            "password_policy",
            "password_reset_sent",
            "secret_arn",
            "secret_name",
            "key",
            "s3_key",
            "Key",
            "partition_key",
            "nextToken",
            "NextPageToken",
            "spin",
            "config",
            "company",
            "span",
            "shipping",
            "author",
            "passenger",
            "private_key_id",
            "aws_access_key_id",
            "token_new_count",
            "ClientRequestToken",
            "idempotencyToken",
            "cancellationToken",
            "value",
            "message",
            "",
        ] {
            assert_eq!(rules.classify(key), None, "{key}");
        }
    }

    #[test]
    fn the_ending_test_never_rejects_a_sensitive_key() {
        let rules = KeyRules::new(&["pw".to_owned(), "member-no".to_owned()]);
        let words = SUFFIXES
            .iter()
            .map(|(s, _)| *s)
            .chain(LAST_WORDS.iter().map(|(w, _)| *w))
            .chain(QUALIFIED.iter().copied())
            .chain([
                "user",
                "db",
                "x",
                "pw",
                "member_no",
                "api",
                "old",
                "id",
                "arn",
                "2",
            ]);
        let words: Vec<&str> = words.collect();
        let mut checked = 0;
        for a in &words {
            for b in words.iter().chain(QUALIFIERS) {
                for key in [
                    format!("{a}{b}"),
                    format!("{a}_{b}"),
                    format!("{a}-{}", b.to_uppercase()),
                ] {
                    let full = rules.classify_unfiltered(&key);
                    if full.is_some() {
                        assert_eq!(rules.classify(&key), full, "{key}");
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 1000, "only {checked} sensitive keys generated");
    }

    #[test]
    fn configured_keys_are_added() {
        let rules = KeyRules::new(&["member-no".to_owned(), "OTP".to_owned()]);
        assert_eq!(rules.classify("member_no"), Some(KeyClass("custom_key")));
        assert_eq!(rules.classify("loginOtp"), Some(KeyClass("custom_key")));
        assert_eq!(rules.extra(), ["memberno", "otp"]);
    }
}
