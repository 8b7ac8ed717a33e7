//! Table-driven tests: every detector and key style with positives and look-alikes.

use super::*;

fn masker() -> Masker {
    Masker::new(&MaskConfig::default()).unwrap()
}

/// `(input, expected output)` pairs for plain-text masking.
const TEXT: &[(&str, &str)] = &[
    // key = value styles
    ("login password=hunter2 ok", "login password=[MASKED:password] ok"),
    ("DB_PASSWORD=s3cr3t!", "DB_PASSWORD=[MASKED:password]"),
    ("token: abc123def", "token: [MASKED:token]"),
    (r#"api_key="k-123456""#, r#"api_key="[MASKED:api_key]""#),
    ("secret='shh'", "secret='[MASKED:secret]'"),
    ("GET /cb?access_token=ya29.a0Af&page=2 200", "GET /cb?access_token=[MASKED:token]&page=2 200"),
    ("Authorization: Bearer abcdefghijklmnop.qrstuvwx", "Authorization: Bearer [MASKED:authorization]"),
    ("authorization: Basic dXNlcjpodW50ZXIy", "authorization: Basic [MASKED:authorization]"),
    ("X-Api-Key: 0123456789abcdef", "X-Api-Key: [MASKED:api_key]"),
    ("Cookie: session=abc; theme=dark", "Cookie: [MASKED:cookie]"),
    ("GET\tCookie: session=abc; theme=dark\t200", "GET\tCookie: [MASKED:cookie]\t200"),
    ("{'password': 'hunter2', 'user': 'bob'}", "{'password': '[MASKED:password]', 'user': 'bob'}"),
    (r#"params: {:password => "hunter2"}"#, r#"params: {:password => "[MASKED:password]"}"#),
    (r#"body={"password":"hunter2","n":1}"#, r#"body={"password":"[MASKED:password]","n":1}"#),
    (r#"body={"pin":1234}"#, r#"body={"pin":"[MASKED:card_number]"}"#),
    (r#"{\"password\":\"hunter2\"}"#, r#"{\"password\":\"[MASKED:password]\"}"#),
    ("<password>hunter2</password>", "<password>[MASKED:password]</password>"),
    ("run --password hunter2 --verbose", "run --password [MASKED:password] --verbose"),
    ("client_secret: ZmFrZS1zZWNyZXQ", "client_secret: [MASKED:secret]"),
    // value detectors
    ("key AKIAIOSFODNN7EXAMPLE used", "key [MASKED:aws_access_key] used"),
    ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "aws_secret_access_key = [MASKED:aws_secret_key]"),
    ("sso eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U end",
     "sso [MASKED:jwt] end"),
    ("db postgres://app:Sup3rS3cret@db.internal:5432/app", "db postgres://app:[MASKED:url_password]@db.internal:5432/app"),
    ("token ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789 pushed", "token [MASKED:github_token] pushed"),
    ("glpat-xxxxxxxxxxxxxxxxxxxx", "[MASKED:gitlab_token]"),
    ("slack xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", "slack [MASKED:slack_token]"),
    ("POST https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
     "POST https://hooks.slack.com/services/[MASKED:slack_webhook]"),
    ("stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc", "stripe [MASKED:stripe_key]"),
    ("maps AIzaSyA-1234567890abcdefghijklmnopqrstu", "maps [MASKED:google_api_key]"),
    ("paid with 4111 1111 1111 1111 today", "paid with [MASKED:card_number] today"),
    ("npm_abcdefghijklmnopqrstuvwxyz0123456789", "[MASKED:npm_token]"),
    // names given as values, with the secret under `value`
    (r#"env: [{"name": "DB_PASSWORD", "value": "E5LTXwsvB"}]"#,
     r#"env: [{"name": "DB_PASSWORD", "value": "[MASKED:password]"}]"#),
    ("env:\n  - name: SPRING_DATASOURCE_PASSWORD\n    value: \"YUoJbej\"\n  - name: LOG_LEVEL",
     "env:\n  - name: SPRING_DATASOURCE_PASSWORD\n    value: \"[MASKED:password]\"\n  - name: LOG_LEVEL"),
    (r#"<add key="ApiSecret" value="7z1mhjUED0" />"#, r#"<add key="ApiSecret" value="[MASKED:secret]" />"#),
    (r#"ssm={"Name": "/prod/orders/db/password", "Type": "SecureString", "Value": "xmmh!YOs"}"#,
     r#"ssm={"Name": "/prod/orders/db/password", "Type": "SecureString", "Value": "[MASKED:password]"}"#),
    // other shapes of key and value
    ("Array\n(\n    [password] => YH2yvs3M\n)\n", "Array\n(\n    [password] => [MASKED:password]\n)\n"),
    (r#"binds [["token", "UeIKXykHi0W5"], ["user_id", 4411]]"#, r#"binds [["token", "[MASKED:token]"], ["user_id", 4411]]"#),
    ("('password', 's3cr3t')", "('password', '[MASKED:password]')"),
    (r#"<wsse:Password Type="http://x#PasswordText">FDx1^3nD8n</wsse:Password>"#,
     r#"<wsse:Password Type="http://x#PasswordText">[MASKED:password]</wsse:Password>"#),
    ("cb%3Ftoken%3Dg381IrRt5D5K%26next%3D%2Fhome", "cb%3Ftoken%3D[MASKED:token]%26next%3D%2Fhome"),
    // a quoted name of a few words is one key
    (r#"config reload: { "Secret Key": "aQXclml7nfpFlmcoCXX", "Region": "eu-west-1" }"#,
     r#"config reload: { "Secret Key": "[MASKED:secret]", "Region": "eu-west-1" }"#),
    ("{'API Key': 'k3Jd92mQ0xP', 'user name': 'bob'}", "{'API Key': '[MASKED:api_key]', 'user name': 'bob'}"),
    ("sig=0f8e7d6c5b4a39281706 ok", "sig=[MASKED:signature] ok"),
    (r#"client-secret "tls-certs" set"#, r#"client-secret "[MASKED:secret]" set"#),
    (r#"secret "Xk9-pQ2.wLz""#, r#"secret "[MASKED:secret]""#),
    (r#"Authorization: Token token=\"OdhlG1W7hdnQ\", Accept: x"#, r#"Authorization: Token token=\"[MASKED:authorization]\", Accept: x"#),
    ("{Bearer 3j9ZSO75VzGkVsQCb8Xb|api.acme.io}", "{Bearer [MASKED:bearer_token]|api.acme.io}"),
    ("client with key SK8adabbb9c54fb3055d6648a808e13fd3 secret ce742195ad50efd37b28", "client with key [MASKED:twilio_key] secret [MASKED:secret]"),
    ("redis-cli -p 6379 AUTH MapleX88~YQx", "redis-cli -p 6379 AUTH [MASKED:authorization]"),
    (r#"[0 10.0.0.1:35612] "AUTH" "default" "ADwepfqU~j2""#, r#"[0 10.0.0.1:35612] "AUTH" [MASKED:authorization]"#),
    ("curl -fsSL -u admin:9z9gCYeHmw https://x", "curl -fsSL -u admin:[MASKED:cli_credential] https://x"),
    ("+ mysql -h db.internal -uroot -pS3cr3t!x appdb < dump.sql", "+ mysql -h db.internal -uroot -p[MASKED:cli_credential] appdb < dump.sql"),
    ("mysqldump --single-transaction -u app -pQ7w!e9 orders", "mysqldump --single-transaction -u app -p[MASKED:cli_credential] orders"),
    ("dsn=https://dea9e671f8a07694d4e62cb76e8c82f7@o685112.ingest.sentry.io/6831683",
     "dsn=https://[MASKED:url_token]@o685112.ingest.sentry.io/6831683"),
    ("url=jdbc:oracle:thin:scott/ftBOriYTocYV@oradb:1521:ORCL", "url=jdbc:oracle:thin:scott/[MASKED:connection_password]@oradb:1521:ORCL"),
    ("api_keys=[k1, k2] SECRET_KEY_BASE=bc19148ace04", "api_keys=[MASKED:api_key] SECRET_KEY_BASE=[MASKED:secret]"),
    // a lower-case word is still a value when no sentence follows, or a key does
    ("password: changeme", "password: [MASKED:password]"),
    ("token: abcdefgh user: bob", "token: [MASKED:token] user: bob"),
    ("password: hunter2 for user bob", "password: [MASKED:password] for user bob"),
    ("Authorization: bearer abcdefgh", "Authorization: bearer [MASKED:authorization]"),
    // SQL statements that set a password
    ("CREATE USER 'app'@'%' IDENTIFIED BY 'Sup3r S3cret!';", "CREATE USER 'app'@'%' IDENTIFIED BY '[MASKED:password]';"),
    ("ALTER USER scott IDENTIFIED BY tiger99;", "ALTER USER scott IDENTIFIED BY [MASKED:password];"),
    ("create user x identified with mysql_native_password by 'n4tPw#12'", "create user x identified with mysql_native_password by '[MASKED:password]'"),
    // T-SQL, Erlang terms, Terraform plans, mail and file protocols
    ("CREATE LOGIN [bi] WITH PASSWORD = N'7h2yXSUZA', CHECK_POLICY = ON", "CREATE LOGIN [bi] WITH PASSWORD = N'[MASKED:password]', CHECK_POLICY = ON"),
    (r#"[{username,<<"ev">>},{password,<<"4F4h2RqT7i">>},{vhost,<<"/">>}]"#, r#"[{username,<<"ev">>},{password,<<"[MASKED:password]">>},{vhost,<<"/">>}]"#),
    (r#"[{password, "erl pass"}]"#, r#"[{password, "[MASKED:password]"}]"#),
    (r#"~ password = "!*L0LcOv" -> "8UJlfO#*3RxK""#, r#"~ password = "[MASKED:password]" -> "[MASKED:password]""#),
    ("*cmd* 'PASS W9IP@atqQ'", "*cmd* 'PASS [MASKED:password]'"),
    ("C: PASS g5fBTjjj", "C: PASS [MASKED:password]"),
    (r#"> b'KLHB1 LOGIN support@example.com "velvet thistle lantern"'"#, r#"> b'KLHB1 LOGIN support@example.com "[MASKED:password]"'"#),
    ("A001 LOGIN bob s3cretImap", "A001 LOGIN bob [MASKED:password]"),
    ("S: 334 UGFzc3dvcmQ6\nC: Z3VjT0VmRjJnYzVu\nS: 235 2.7.0 ok", "S: 334 UGFzc3dvcmQ6\nC: [MASKED:password]\nS: 235 2.7.0 ok"),
    ("origin\thttps://x-access-token:ghs_u204OLToj7HoTD48q6nH7ZOJ9DdfG95GEdKe@github.com/acme/app.git (fetch)",
     "origin\thttps://x-access-token:[MASKED:url_password]@github.com/acme/app.git (fetch)"),
    ("password: MyPassword", "password: [MASKED:password]"),
    ("payment declined cvv 123 for order 4411", "payment declined cvv [MASKED:card_number] for order 4411"),
    ("CVC 4821.", "CVC [MASKED:card_number]."),
    // a key of two words, unquoted
    ("API key: abc123def456", "API key: [MASKED:api_key]"),
    ("Secret key: Zx8Qw2Lp9 loaded", "Secret key: [MASKED:secret] loaded"),
    ("rotated api key abc123XYZ789qq", "rotated api key [MASKED:api_key]"),
    // a password in a sentence
    ("the new password is Xk9#mP2q", "the new password is [MASKED:password]"),
    ("reset password to Summer2024! for bob", "reset password to [MASKED:password]! for bob"),
    ("login with user admin and password P@ssw0rd1", "login with user admin and password [MASKED:password]"),
    ("the password for role app_rw was set to Spring!7580", "the password for role app_rw was set to [MASKED:password]"),
    ("root password for db-1.internal is now Maple@6973, old one revoked", "root password for db-1.internal is now [MASKED:password], old one revoked"),
    ("echo Deploying with DB password Orange@7716 to qa-2", "echo Deploying with DB password [MASKED:password] to qa-2"),
    ("the pre-shared key for tunnel fra-ams-1 is FL-RrZQoHJ^R2 (both ends)", "the pre-shared key for tunnel fra-ams-1 is [MASKED:secret] (both ends)"),
    ("DB creds billing/Dragon2025$ on pg-main", "DB creds billing/[MASKED:credentials] on pg-main"),
    ("default creds admin:harbor-nimbus-ember70 still accepted", "default creds admin:[MASKED:credentials] still accepted"),
    ("sshpass -p 's?J%@%C=q=4v1' ssh deploy@host", "sshpass -p '[MASKED:cli_credential]' ssh deploy@host"),
    ("+ docker login -u ci -p dckrPass12345 registry.example.com", "+ docker login -u ci -p [MASKED:cli_credential] registry.example.com"),
    ("podman login quay.io -u bot -p=Qp9xZ2 --tls-verify", "podman login quay.io -u bot -p=[MASKED:cli_credential] --tls-verify"),
    ("run --password mypass --user bob", "run --password [MASKED:password] --user bob"),
    (r#"[("DB_PASSWORD", "Sup3rPw"), ("X", 1)]"#, r#"[("DB_PASSWORD", "[MASKED:password]"), ("X", 1)]"#),
    (r#"{"Authorization" : Bearer abcdef123456}"#, r#"{"Authorization" : Bearer [MASKED:authorization]}"#),
    // vendor prefixes
    ("secret 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", "secret [MASKED:google_oauth_secret]"),
    ("key=PMAK-ce47ebc05400396ebbc19fa4-4e9a2eafb5d64171174450ab21680ee52b", "key=[MASKED:vendor_token]"),
    ("login using dckr_pat_FRiuyI-g73loX-9c_7gBPKlUzBC", "login using [MASKED:vendor_token]"),
    ("not applied to NRAK-ZK72L1OERSNC4458IIA6AV9UT5U", "not applied to [MASKED:vendor_token]"),
    ("POST https://api.telegram.org/bot6571251150:AA9Dc4psR7NYStrwUQk_2e760zzUW4DW6ln/sendMessage",
     "POST https://api.telegram.org/bot[MASKED:telegram_bot_token]/sendMessage"),
    ("https://discord.com/api/webhooks/1106407835172269363/OVT_f5l-QTxEcctl9XTCHQlfryvUCgcskJFRJEeVdDCYPmALwhLMfClZtI9fyIhGD2uX 204",
     "https://discord.com/api/webhooks/1106407835172269363/[MASKED:discord_webhook] 204"),
];

/// Lines that must come out byte-for-byte unchanged.
const LOOKALIKES: &[&str] = &[
    "password reset email sent to user 42",
    "Could not verify JWT signature: kid not found in JWKS, refetching",
    r#"MountVolume.SetUp failed for volume "tls-certs" : secret "tls-certs" not found"#,
    r#"user said "reset my password please" twice"#,
    r#"{"key name": "orders", "Secret Name": "prod/db"}"#,
    "token expired, refreshing",
    "START RequestId: 6f7e1c3a-8b2d-4e5f-9a0b-1c2d3e4f5a6b Version: $LATEST",
    "REPORT RequestId: 6f7e1c3a-8b2d-4e5f-9a0b-1c2d3e4f5a6b\tDuration: 12.34 ms\tBilled Duration: 13 ms\tMemory Size: 128 MB\tMax Memory Used: 70 MB",
    "trace Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
    "commit 9fceb02d0ae598e95dc970b74767f19372d61af8",
    "etag d41d8cd98f00b204e9800998ecf8427e",
    "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-AbCdEf",
    "s3://my-bucket/2026/11/22/logs/app.log.gz",
    "order 4111111111111112 shipped",
    "epoch 1795320000123",
    "2026-11-22T10:00:00.123Z took 12.5ms",
    "GET https://api.example.com:8443/v1/orders?page=2&size=50 200",
    "token_type=Bearer expires_in=3600",
    "max_tokens=1024 token_count=512",
    "user bob@example.com from 10.0.0.1",
    "request id 0f8fad5b-d9cb-469f-a165-70867728950e",
    "password_policy: min length 12",
    "Authorization header missing",
    r#"{"level":"info","msg":"ok","duration_ms":12}"#,
    "image sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    // a key name, then a space and a value that is not a credential
    "secret rotation completed for 4 services",
    "token 0f8fad5b-d9cb-469f-a165-70867728950e refreshed",
    "secret arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-AbCdEf",
    "password changed for user4411",
    "WWW-Authenticate: Bearer realm=\"api\", error=\"invalid_token\"",
    // names and values that are not secrets
    r#"{"name": "LOG_LEVEL", "value": "info"}"#,
    r#"{"name": "password-reset-service", "value": 3}"#,
    "tokens: [\"read\", \"write\"] max_tokens=512",
    "git clone https://deploy@bitbucket.org/acme/app.git",
    "docker run -u 1000 app:latest",
    "mysql -h db.internal -P 3306 -u root -p appdb",
    "mkdir -p /var/lib/mysql && chown mysql /var/lib/mysql",
    "chown mysql /var/lib/mysql; cp -pr /etc/mysql /backup",
    "jdbc:mysql://db.internal:3306/app?useSSL=true connected",
    "[username] => bob",
    // a sentence after `key:` is not a value
    "Invalid token: signature verification failed",
    "error validating token: expired at 2026-01-01T00:00:00Z",
    "refresh token: not found",
    "password: incorrect for user bob",
    "Login failed, password: invalid",
    "user was identified by email, caller identified by arn:aws:iam::123456789012:role/app",
    "setSecret: Successfully rotating secret prod/ledger/db-credentials",
    "botocore.auth: CanonicalRequest hash: fcbf82fdd6b586c5bb55ba7b441f85296cbd73799a9e925424151ae97590e9ed",
    "external-secrets: ExternalSecret payments/ledger-db synced",
    r#"{"SecretId": "prod/db", "ClientRequestToken": "2a90cbbd-e5c0-410d-96a0-9561c1f861e5"}"#,
    "      ~ password = (sensitive value)",
    "Looking in indexes: https://deploy:****@nexus.example.internal/repository/pypi/simple",
    "Access denied for user 'etl'@'10.8.94.229' (using password: YES)",
    " PASS  src/app.test.js (5.2 s)",
    "--- PASS: TestLogin (0.00s)",
    "EVENT LOGIN user@example.com from 10.0.0.1",
    "cvv check failed for order 4411, cvv 12345 is not a code",
    "gpio pin 4 set high",
    // reports, references and placeholders under sensitive keys
    "Token: expired (exp=1730895156, leeway=30s); token=revoked reason=user_logout; auth=ok method=saml",
    "Authorization: denied for role reader on resource invoices/462989",
    "access_token: invalid_grant (client grafana-sso), credentials: valid, api_key: present=false",
    "jwt: algorithm=RS256 issuer=https://auth.example.net/",
    "password: ${DB_PASSWORD} NPM_TOKEN: ${{ secrets.NPM_TOKEN }} api_key={{ .Values.apiKey }}",
    r#"curl -H "Authorization: Bearer $TOKEN" https://api.example.com/v1/me"#,
    "WHERE token_hash = $1 AND user_id = $2",
    "apiKey: YOUR_API_KEY_HERE (replace before use); --set secret.key=STRIPE_SECRET_KEY",
    "password = var.db_password; SECRET_KEY = os.environ[\"SECRET_KEY\"]",
    "input LoginInput { email: String!  password: String!  rememberMe: Boolean }",
    "message LoginRequest { string username = 1; string password = 2; }",
    "set password=<your-password> in ~/.config/acme/cli.ini",
    "valid inputs are ['github-token', 'path', 'fail-on-error']",
    "--- PASS: TestLogin/invalid_password (0.00s)",
    "test auth::tests::token_is_rejected_after_expiry ... ok",
    "localStorage key=auth:lastLoginEmail set",
    "redis: AUTH failed: WRONGPASS invalid username-password pair",
    r#"Error from server (Forbidden): secrets "stripe-keys" is forbidden"#,
    "fetched secret 'stripe-api-key' version 3; cookie \"_oauth2_proxy\" not present",
    "token: caducado, solicite uno nuevo",
    "secretsmanager.GetSecretValue latency_ms=18; the password for role app_rw was set by the rotation lambda",
    "DB creds loaded from vault/prod for db-1",
    "password is required; password is too short; token is expired; password set to default",
    "password for user1234, token to 3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b, password hashing with Argon2id",
    "user login -p flag ignored; docker login --password-stdin registry.example.com",
    "API key: missing",
    "Primary key: id, Partition key: userId",
    "using api key 3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b",
    "WARNING! Using --password via the CLI is insecure. Use --password-stdin.",
    r#"explicit_auth_flows = ["ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_USER_SRP_AUTH"]"#,
    r#"MountVolume.SetUp failed for volume "app-secrets" : secret "orders-api-keys" not found"#,
];

#[test]
fn text_table() {
    let m = masker();
    for (input, want) in TEXT {
        assert_eq!(m.mask_text(input), *want, "input: {input}");
    }
}

#[test]
fn lookalikes_survive() {
    let m = masker();
    for input in LOOKALIKES {
        assert_eq!(m.mask_text(input), *input);
    }
}

#[test]
fn pem_blocks_are_masked_whole() {
    let m = masker();
    let text = "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\nabc+/=\n-----END RSA PRIVATE KEY-----\ndone";
    assert_eq!(m.mask_text(text), "key:\n[MASKED:private_key]\ndone");
    let cut = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC";
    assert_eq!(m.mask_text(cut), "[MASKED:private_key]");
}

#[test]
fn json_values_under_sensitive_keys_are_replaced_whole() {
    let m = masker();
    let input = r#"{"user":"bob","password":"hunter2","nested":{"apiKey":12345,"list":[{"client-secret":{"a":1}}]},"credentials":["x","y"],"token":null,"msg":"login with Bearer abcdefghijklmnopqrstuv ok","n":4111111111111111}"#;
    let want = r#"{"user":"bob","password":"[MASKED:password]","nested":{"apiKey":"[MASKED:api_key]","list":[{"client-secret":"[MASKED:secret]"}]},"credentials":"[MASKED:credentials]","token":null,"msg":"login with Bearer [MASKED:bearer_token] ok","n":"[MASKED:card_number]"}"#;
    assert_eq!(m.mask_json(input), want);
    let v: serde_json::Value = serde_json::from_str(&m.mask_json(input)).unwrap();
    assert_eq!(v["user"], "bob");
}

#[test]
fn json_values_named_by_a_sibling_are_replaced() {
    let m = masker();
    let input = r#"{"environment":[{"name":"DB_HOST","value":"db"},{"name":"DB_PASSWORD","value":"E5LTX"},{"Name":"/prod/api/token","Type":"SecureString","Value":{"a":1}}],"name":"app","value":"x"}"#;
    let want = r#"{"environment":[{"name":"DB_HOST","value":"db"},{"name":"DB_PASSWORD","value":"[MASKED:password]"},{"Name":"/prod/api/token","Type":"SecureString","Value":"[MASKED:api_key]"}],"name":"app","value":"x"}"#;
    assert_eq!(m.mask_json(input), want);
    // WAF and HAR headers.
    let headers = r#"{"headers":[{"name":"Host","value":"a.example"},{"name":"X-Api-Key","value":"0123456789abcdef"}]}"#;
    assert_eq!(
        m.mask_json(headers),
        r#"{"headers":[{"name":"Host","value":"a.example"},{"name":"X-Api-Key","value":"[MASKED:api_key]"}]}"#
    );
}

#[test]
fn json_whitespace_and_key_order_are_kept() {
    let m = masker();
    let input = "{\n  \"z\": 1,\n  \"password\" : \"x y\",\n  \"a\": [ 1, 2 ]\n}";
    assert_eq!(
        m.mask_json(input),
        "{\n  \"z\": 1,\n  \"password\" : \"[MASKED:password]\",\n  \"a\": [ 1, 2 ]\n}"
    );
}

#[test]
fn masking_is_idempotent() {
    let m = masker();
    for (input, _) in TEXT {
        let once = m.mask_text(input).into_owned();
        assert_eq!(m.mask_text(&once), once, "input: {input}");
    }
}

/// Inputs where a marker put by the first pass once changed how the second read its
/// neighbours (found by generating texts from the rules' literals).
#[test]
fn a_second_pass_reads_what_the_first_did() {
    let m = masker();
    for input in [
        "334 UGFzc3dvcmQ6\n-----BEGIN PRIVATE KEY-----\nA\u{1f210}a1 LOGIN ",
        "a1 LOGIN -----BEGIN PRIVATE KEY-----\nA\u{1f210}a1 LOGIN ",
        "a1 LOGIN \"-----BEGIN PRIVATE KEY-----\n= N'\" -> \"",
        "{password,<<\"334 UGFzc3dvcmQ6\n[MASKED:334 UGFzc3dvcmQ6\nPASS ",
        "{password,<<\"-----BEGIN PRIVATE KEY-----\n= N'\" -> \"://user:\"api_key\":",
        "Authorization: Bearer 4111 1111 1111 1111--password {password,<<\"",
        "Password=0 4111 1111 1111 1111-----BEGIN PRIVATE KEY-----\n",
        "<cvv passworda1 LOGIN >!",
        "<PASS Authorization: Bearer PASS \" -> \"",
        "\"api_key\":\u{1f210}4111 1111 1111 1111--password a1 LOGIN [MASKED:",
        "https://ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789x-access-token:API key: \"abc",
        "cvv ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789{password,<<\"[Xy9cvv ",
        "x-access-token:(sensitive value)(sensitive value)AKIAPassword= ALLOW_X_AUTH",
        "{:****password\" -> \"\\token: via theabc",
    ] {
        let once = m.mask_text(input).into_owned();
        assert_eq!(m.mask_text(&once), once, "input: {input:?}");
    }
}

#[test]
fn hash_mode_correlates_equal_secrets_without_revealing_them() {
    let m = Masker::new(&MaskConfig {
        mode: MaskMode::Hash(b"k3y".to_vec()),
        ..MaskConfig::default()
    })
    .unwrap();
    let a = m.mask_text("password=hunter2 and password=hunter2 but password=other");
    let parts: Vec<&str> = a.split(" and ").collect();
    assert!(parts[0].starts_with("password=[MASKED:password:"), "{a}");
    assert!(!a.contains("hunter2"));
    let markers: Vec<&str> = a.matches("[MASKED:password:").collect();
    assert_eq!(markers.len(), 3);
    let hashes: Vec<&str> = a
        .split("[MASKED:password:")
        .skip(1)
        .map(|s| &s[..16])
        .collect();
    assert_eq!(hashes[0], hashes[1]);
    assert_ne!(hashes[0], hashes[2]);
    // A masked line is not hashed again.
    assert_eq!(m.mask_text(&a), a);
}

#[test]
fn pii_is_off_by_default_and_opt_in() {
    let text = "user bob@example.com from 10.0.0.1 and 2001:db8::1 call +1 415 555 0100";
    assert_eq!(masker().mask_text(text), text);
    let m = Masker::new(&MaskConfig {
        pii: PiiKinds {
            email: true,
            ip: true,
            phone: true,
        },
        ..MaskConfig::default()
    })
    .unwrap();
    assert_eq!(
        m.mask_text(text),
        "user [MASKED:email] from [MASKED:ipv4] and [MASKED:ipv6] call [MASKED:phone]"
    );
}

#[test]
fn configured_keys_and_patterns() {
    let m = Masker::new(&MaskConfig {
        extra_keys: vec!["member_no".to_owned()],
        extra_patterns: vec![r"EMP-([0-9]{6})".to_owned()],
        ..MaskConfig::default()
    })
    .unwrap();
    assert_eq!(
        m.mask_text("member_no=778899 staff EMP-123456"),
        "member_no=[MASKED:custom_key] staff EMP-[MASKED:custom_pattern]"
    );
    let err = Masker::new(&MaskConfig {
        extra_patterns: vec!["ok".to_owned(), "(unclosed".to_owned()],
        ..MaskConfig::default()
    })
    .err()
    .unwrap();
    assert!(err.to_string().contains("pattern 1"), "{err}");
}

#[test]
fn counts_name_the_detectors_never_the_values() {
    let m = masker();
    let mut out = String::new();
    let mut counts = MaskCounts::default();
    assert!(m.mask_text_into(
        "password=a token=b AKIAIOSFODNN7EXAMPLE",
        &mut out,
        &mut counts
    ));
    assert_eq!(counts.0.get("password"), Some(&1));
    assert_eq!(counts.0.get("token"), Some(&1));
    assert_eq!(counts.0.get("aws_access_key"), Some(&1));
    assert_eq!(counts.total(), 3);
}

#[test]
fn pathological_inputs_finish_and_never_panic() {
    // Each would be quadratic if a scan restarted per hit; at 1 MB that would not finish.
    let m = masker();
    let inputs = [
        "password=".repeat(100_000),
        "pass".repeat(250_000),
        "4111 ".repeat(200_000),
        "\\\"secret\\\":".repeat(80_000),
        "{\"a\":".repeat(50_000),
        "Bearer ".repeat(140_000),
        "-----BEGIN PRIVATE KEY-----".repeat(30_000),
        "eyJ".repeat(300_000),
        "a://b:".repeat(150_000),
    ];
    for input in &inputs {
        // Markers may be longer than the values they replace, never unboundedly so.
        let out = m.mask_text(input);
        assert!(
            out.len() < input.len() * 3,
            "grew from {} to {}",
            input.len(),
            out.len()
        );
    }
}

#[test]
fn authorization_with_a_quote_after_the_scheme_is_idempotent() {
    let m = masker();
    let input = "Authorization: Bearer \"#\u{11332}";
    let once = m.mask_text(input).into_owned();
    assert_eq!(m.mask_text(&once), once, "first pass: {once:?}");
}

#[test]
fn json_strings_are_masked_when_only_their_unescaped_text_shows_the_secret() {
    // The document is searched once for literals in its escaped form; strings whose escapes
    // can hide a literal (`\/`, `\u`) are masked on their own text anyway.
    let m = masker();
    let cases = [
        (
            r#"{"a":"x","url":"https:\/\/deploy:s3cr3tPass@db.internal\/app"}"#,
            r#"{"a":"x","url":"https://deploy:[MASKED:url_password]@db.internal/app"}"#,
        ),
        (
            r#"{"a":"x","id":"\u0041KIAIOSFODNN7EXAMPLE"}"#,
            r#"{"a":"x","id":"[MASKED:aws_access_key]"}"#,
        ),
        (
            r#"{"n":"pay with 4111 1111 1111 1111 now","ok":"clean text"}"#,
            r#"{"n":"pay with [MASKED:card_number] now","ok":"clean text"}"#,
        ),
        (
            r#"{"ok":"clean","msg":"retry with\nBearer abcdefghijklmnopqrstuv"}"#,
            r#"{"ok":"clean","msg":"retry with\nBearer [MASKED:bearer_token]"}"#,
        ),
    ];
    for (input, want) in cases {
        assert_eq!(m.mask_json(input), want, "{input}");
    }
}

#[test]
fn literals_cannot_straddle_a_json_string() {
    // `Masker::literal_hits` relies on it: no prefilter literal holds a quote or a backslash.
    for spec in crate::mask::detectors::SECRETS
        .iter()
        .chain(crate::mask::detectors::PII)
    {
        for t in spec.triggers {
            assert!(!t.contains(['"', '\\']), "{}: {t}", spec.name);
        }
    }
    for stem in crate::mask::keys::TRIGGER_STEMS {
        assert!(stem.bytes().all(|b| b.is_ascii_alphanumeric()), "{stem}");
    }
}

#[test]
fn url_authority_test_agrees_with_the_url_detector() {
    use super::authority_has_at;
    for (text, has) in [
        ("https://user:pw@host/x", true),
        ("https://host/path@v2", false),
        ("https://host?next=a@b", false),
        ("postgres://u:p@db:5432", true),
        ("s3://bucket/key", false),
        ("https://user:pw @host", false),
        ("x://", false),
    ] {
        let at = text.find("://").unwrap();
        assert_eq!(authority_has_at(text, at), has, "{text}");
        // Never false where the detector would mask something.
        if !has {
            assert_eq!(masker().mask_text(text), text, "{text}");
        }
    }
}

#[test]
fn whole_match_detectors_are_recognised() {
    use super::masks_whole_match;
    use regex::Regex;
    for (pattern, whole) in [
        (r"(?-u:\b)((?:AKIA|ASIA)[A-Z0-9]{16})(?-u:\b)", true),
        (
            r"(?-u:\b)(eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,})",
            true,
        ),
        (r"EMP-[0-9]{6}", true),
        (r"(a)(b)", false),
        (r"(a)+", false),
        (r"(?:x)(a)", false),
        (r"(a[)])b", false),
        (r"(a\))", true),
        (r"Bearer\s+([A-Za-z0-9]{8,})", false),
        (r"(?-u:\b)(?:Bearer|bearer)\s+([A-Za-z0-9]+)", false),
    ] {
        let regex = Regex::new(pattern).unwrap();
        assert_eq!(masks_whole_match(&regex), whole, "{pattern}");
    }
}

#[test]
fn short_extra_keys_are_found_by_the_prefilter() {
    // A key made only of short words (`pw`) or written in camelCase (`memberNo`) must still
    // send the line the slow way.
    let m = Masker::new(&MaskConfig {
        extra_keys: vec!["pw".to_owned(), "x_id".to_owned(), "memberNo".to_owned()],
        ..MaskConfig::default()
    })
    .unwrap();
    for escaped in [
        r#"login pw=hunter2 ok"#,
        r#"{\"pw\":\"hunter2\"}"#,
        r#"x_id: 42"#,
        r#"memberNo=77123"#,
        r#"MEMBER_NO: 77123"#,
    ] {
        assert!(m.must_mask_escaped(escaped), "{escaped}");
    }
    assert_eq!(
        m.mask_text("login pw=hunter2 ok"),
        "login pw=[MASKED:custom_key] ok"
    );
}

#[test]
fn extra_key_stems_split_words_and_humps() {
    use super::extra_key_stems;
    assert_eq!(extra_key_stems("memberNo"), ["member"]);
    assert_eq!(
        extra_key_stems("member_pin_code"),
        ["member", "pin", "code"]
    );
    assert_eq!(extra_key_stems("pw"), ["pw"]);
    assert_eq!(extra_key_stems("x_id"), ["id"]);
    assert_eq!(extra_key_stems("OTP"), ["otp"]);
}

#[test]
fn the_key_memo_answers_like_the_rules() {
    let plain = masker();
    let custom = Masker::new(&MaskConfig {
        extra_keys: vec!["member_no".to_owned(), "level".to_owned()],
        ..MaskConfig::default()
    })
    .unwrap();
    let keys = [
        "password",
        "level",
        "memberNo",
        "auth-authorizer",
        "authorized",
        "token_type",
        "x-api-key",
        "company",
        "card_pan",
        "message",
        "Authorization",
        "sessionid",
        "a",
        "",
        "a_key_far_longer_than_the_memo_holds_password",
    ];
    let mut memo = KeyMemo::new();
    // Twice over, alternating maskers, so that answers come from the memo and from the rules.
    for round in 0..4 {
        let m = if round % 2 == 0 { &plain } else { &custom };
        for _ in 0..2 {
            for key in keys {
                assert_eq!(memo.classify(m, key), m.keys.classify(key), "{key}");
            }
        }
    }
    // Keys that share a slot replace each other.
    let many: Vec<String> = (0..500).map(|i| format!("k{i}_token")).collect();
    for key in many.iter().chain(many.iter().rev()) {
        assert_eq!(
            memo.classify(&plain, key),
            plain.keys.classify(key),
            "{key}"
        );
    }
}
