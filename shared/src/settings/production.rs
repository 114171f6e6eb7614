//! What production refuses to start with, each refusal naming its variable: a publicly known
//! or short signing secret, weak or repeated previous keys, a first admin password that is a
//! template's placeholder or a common password, and open CORS origins.

use anyhow::bail;
use secrecy::ExposeSecret;

use super::{DEV_JWT_SECRET, JwtKey, MIN_JWT_SECRET_BYTES};

/// Passwords a first admin may not have in production: the values of this repository's
/// templates (`.env.example`, `docker-compose.yml`, the Kubernetes Secret template) and a
/// short list of the most common passwords. Compared case-insensitively.
pub const REFUSED_PASSWORDS: &[&str] = &[
    "change-me",
    "changeme",
    "change-this-admin-password",
    "admin-password",
    "administrator",
    "password",
    "password1",
    "password123",
    "passw0rd",
    "p@ssw0rd",
    "12345678",
    "123456789",
    "1234567890",
    "qwertyuiop",
    "qwerty123",
    "iloveyou",
    "letmein1",
    "welcome1",
    "admin123",
    "admin1234",
    "sunshine",
    "football",
    "baseball",
    "trustno1",
    "superman",
    "11111111",
    "00000000",
    "abc12345",
    "orderflow",
    "orderflow123",
];

/// A signing secret (`variable`: `JWT_SECRET`, or `JWT_PREVIOUS_KEYS` for an older key) that
/// is the development default, a template's placeholder or shorter than 32 bytes.
pub fn check_secret(variable: &str, secret: &str) -> anyhow::Result<()> {
    if secret == DEV_JWT_SECRET || secret.to_ascii_lowercase().contains("change") {
        bail!("{variable} is a default/example value: set a random secret in production");
    }
    if secret.len() < MIN_JWT_SECRET_BYTES {
        bail!(
            "{variable} holds a {}-byte secret: production needs at least {MIN_JWT_SECRET_BYTES}",
            secret.len()
        );
    }
    Ok(())
}

/// Older verification keys: each as strong as a signing secret, none the signing key's
/// secret or kid again, no kid or secret twice.
pub fn check_previous_keys(signing: &JwtKey, previous: &[JwtKey]) -> anyhow::Result<()> {
    let mut kids = vec![signing.kid.as_str()];
    let mut secrets = vec![signing.secret.expose_secret()];
    for key in previous {
        if key.kid.is_empty() {
            bail!("JWT_PREVIOUS_KEYS has an entry without a kid (entries look like kid:secret)");
        }
        check_secret("JWT_PREVIOUS_KEYS", key.secret.expose_secret())?;
        if kids.contains(&key.kid.as_str()) {
            bail!(
                "JWT_PREVIOUS_KEYS repeats the kid {:?} (of JWT_KEY_ID or another entry)",
                key.kid
            );
        }
        if secrets.contains(&key.secret.expose_secret()) {
            bail!(
                "JWT_PREVIOUS_KEYS repeats a secret (of JWT_SECRET or another entry) under kid {:?}",
                key.kid
            );
        }
        kids.push(&key.kid);
        secrets.push(key.secret.expose_secret());
    }
    Ok(())
}

/// `FIRST_ADMIN_PASSWORD`: not a placeholder, not a common password.
pub fn check_first_admin_password(password: &str) -> anyhow::Result<()> {
    let lowered = password.trim().to_lowercase();
    if lowered.contains("change-me")
        || lowered.contains("changeme")
        || lowered.contains("change-this")
        || REFUSED_PASSWORDS.contains(&lowered.as_str())
    {
        bail!(
            "FIRST_ADMIN_PASSWORD is a placeholder or a common password: production needs a \
             password of its own (e.g. `openssl rand -base64 24`)"
        );
    }
    Ok(())
}

/// Production allows CORS only for exact `https://` origins (and `http://localhost` /
/// `http://127.0.0.1` for local tools): a `*` or a plain-HTTP origin would let any page, or
/// anyone on the path to it, use a logged-in browser's tokens.
pub fn check_origins(origins: &[String]) -> anyhow::Result<()> {
    for origin in origins {
        let local = ["http://localhost", "http://127.0.0.1", "http://[::1]"]
            .iter()
            .any(|l| {
                origin == l
                    || origin
                        .strip_prefix(l)
                        .is_some_and(|rest| rest.starts_with(':'))
            });
        if origin.contains('*') {
            bail!("CORS_ORIGINS may not contain wildcards in production ({origin:?})");
        }
        if !(origin.starts_with("https://") || local) {
            bail!("CORS_ORIGINS must be https:// origins in production, got {origin:?}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kid: &str, secret: &str) -> JwtKey {
        JwtKey {
            kid: kid.into(),
            secret: secret.to_string().into(),
        }
    }

    #[test]
    fn signing_secrets_are_refused_when_known_placeholder_or_short() {
        let strong = "k".repeat(32);
        let cases: &[(&str, Option<&str>)] = &[
            (DEV_JWT_SECRET, Some("default")),
            ("CHANGE-ME-to-at-least-32-random-bytes", Some("default")),
            ("short-secret", Some("at least 32")),
            (&strong, None),
        ];
        for (secret, refusal) in cases {
            let got = check_secret("JWT_SECRET", secret).map_err(|e| e.to_string());
            match refusal {
                None => assert!(got.is_ok(), "{secret}: {got:?}"),
                Some(why) => {
                    let e = got.unwrap_err();
                    assert!(e.contains(why) && e.contains("JWT_SECRET"), "{secret}: {e}");
                }
            }
        }
    }

    #[test]
    fn previous_keys_must_be_strong_and_distinct() {
        let signing = key("k2", &"s".repeat(40));
        let old = || key("k1", &"o".repeat(40));
        let cases: Vec<(Vec<JwtKey>, Option<&str>)> = vec![
            (vec![], None),
            (vec![old()], None),
            (vec![key("k1", "")], Some("at least 32")),
            (vec![key("k1", DEV_JWT_SECRET)], Some("default")),
            (
                vec![key("k1", "change-me-please-now-1234567890123")],
                Some("default"),
            ),
            (vec![key("k2", &"o".repeat(40))], Some("repeats the kid")),
            (
                vec![old(), key("k1", &"p".repeat(40))],
                Some("repeats the kid"),
            ),
            (vec![key("k1", &"s".repeat(40))], Some("repeats a secret")),
            (
                vec![old(), key("k0", &"o".repeat(40))],
                Some("repeats a secret"),
            ),
            (vec![key("", &"o".repeat(40))], Some("without a kid")),
        ];
        for (previous, refusal) in cases {
            let got = check_previous_keys(&signing, &previous).map_err(|e| e.to_string());
            match refusal {
                None => assert!(got.is_ok(), "{got:?}"),
                Some(why) => {
                    let e = got.unwrap_err();
                    assert!(
                        e.contains(why) && e.contains("JWT_PREVIOUS_KEYS"),
                        "{why}: {e}"
                    );
                }
            }
        }
    }

    #[test]
    fn placeholder_and_common_admin_passwords_are_refused() {
        for refused in [
            "CHANGE-ME",
            "change-this-admin-password",
            "Password123",
            " qwertyuiop ",
            "please-changeme-now",
            "orderflow",
        ] {
            let e = check_first_admin_password(refused).unwrap_err().to_string();
            assert!(e.contains("FIRST_ADMIN_PASSWORD"), "{refused}: {e}");
        }
        for accepted in ["Tr0ub4dor&3-horse", "correct horse battery staple"] {
            assert!(check_first_admin_password(accepted).is_ok(), "{accepted}");
        }
    }
}
