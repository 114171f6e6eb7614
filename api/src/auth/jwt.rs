//! HS256 access tokens with a `kid` header: one signing key, several verification keys, so
//! keys can rotate without logging everyone out.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use orderflow_shared::{domain::Role, settings::JwtSettings};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use std::{collections::HashMap, sync::Mutex};
use uuid::Uuid;

/// Who a verified token speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bearer {
    pub user_id: i64,
    pub session: Uuid,
}

/// The claims OrderFlow puts in (and demands of) every access token.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    /// The session (login) the token belongs to: ending it ends the token at once.
    pub sid: Uuid,
    pub role: Role,
    pub exp: u64,
    pub iat: u64,
    pub iss: String,
    pub aud: String,
}

pub struct JwtKeys {
    /// Tokens already verified, by their full text (header, claims and signature): the same
    /// string always verifies the same way, so only its expiry needs checking again.
    /// Verification (base64, JSON, HMAC) was ~5% of a cached read's CPU.
    verified: Mutex<HashMap<String, (Bearer, u64)>>,
    signing_kid: String,
    encoding: EncodingKey,
    decoding: HashMap<String, DecodingKey>,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl_seconds: u64,
}

/// Why a token was refused (logged; the client only sees a 401).
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("token header has no kid")]
    MissingKid,
    #[error("unknown kid {0:?}")]
    UnknownKid(String),
    #[error(transparent)]
    Invalid(#[from] jsonwebtoken::errors::Error),
    #[error("subject is not a user id")]
    BadSubject,
}

/// Verified tokens remembered at most (a few hundred bytes each).
const MAX_VERIFIED: usize = 20_000;

impl JwtKeys {
    pub fn new(settings: &JwtSettings) -> Self {
        let mut decoding = HashMap::new();
        for key in settings
            .previous_keys
            .iter()
            .chain(std::iter::once(&settings.signing_key))
        {
            decoding.insert(
                key.kid.clone(),
                DecodingKey::from_secret(key.secret.expose_secret().as_bytes()),
            );
        }
        // The algorithm is fixed: a token's own `alg` (e.g. "none") is never trusted.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.leeway = 5;
        Self {
            verified: Mutex::new(HashMap::new()),
            signing_kid: settings.signing_key.kid.clone(),
            encoding: EncodingKey::from_secret(
                settings.signing_key.secret.expose_secret().as_bytes(),
            ),
            decoding,
            validation,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            ttl_seconds: settings.access_token_ttl.as_secs(),
        }
    }

    pub fn ttl_seconds(&self) -> u64 {
        self.ttl_seconds
    }

    /// Issues an access token for `user_id` in `session`, valid for the configured TTL.
    pub fn issue(&self, user_id: i64, session: Uuid, role: Role) -> anyhow::Result<String> {
        let now = jsonwebtoken::get_current_timestamp();
        self.sign(&Claims {
            sub: user_id.to_string(),
            sid: session,
            role,
            iat: now,
            exp: now + self.ttl_seconds,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
        })
    }

    /// Signs arbitrary claims with the current signing key.
    pub fn sign(&self, claims: &Claims) -> anyhow::Result<String> {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.signing_kid.clone());
        Ok(jsonwebtoken::encode(&header, claims, &self.encoding)?)
    }

    /// The user and session a bearer token names, after `verify`, remembering tokens that
    /// passed.
    pub fn bearer(&self, token: &str) -> Result<Bearer, TokenError> {
        let now = jsonwebtoken::get_current_timestamp();
        if let Some(&(bearer, exp)) = self.verified.lock().expect("jwt cache lock").get(token)
            && now <= exp + self.validation.leeway
        {
            return Ok(bearer);
        }
        let claims = self.verify(token)?;
        let bearer = Bearer {
            user_id: claims.sub.parse().map_err(|_| TokenError::BadSubject)?,
            session: claims.sid,
        };
        let mut verified = self.verified.lock().expect("jwt cache lock");
        if verified.len() >= MAX_VERIFIED {
            verified.retain(|_, &mut (_, exp)| now <= exp);
            if verified.len() >= MAX_VERIFIED {
                verified.clear();
            }
        }
        verified.insert(token.to_string(), (bearer, claims.exp));
        Ok(bearer)
    }

    /// Verifies signature (with the key its `kid` names), expiry, issuer and audience.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token)?;
        let kid = header.kid.ok_or(TokenError::MissingKid)?;
        let key = self
            .decoding
            .get(&kid)
            .ok_or_else(|| TokenError::UnknownKid(kid.clone()))?;
        Ok(jsonwebtoken::decode::<Claims>(token, key, &self.validation)?.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orderflow_shared::settings::JwtKey;
    use std::time::Duration;

    fn settings(kid: &str, secret: &str) -> JwtSettings {
        JwtSettings {
            signing_key: JwtKey {
                kid: kid.into(),
                secret: secret.to_string().into(),
            },
            previous_keys: vec![],
            issuer: "orderflow".into(),
            audience: "orderflow-api".into(),
            access_token_ttl: Duration::from_secs(60),
            refresh_token_ttl: Duration::from_secs(600),
            session_max: Duration::from_secs(3600),
        }
    }

    #[test]
    fn issued_tokens_verify_and_carry_the_claims() {
        let keys = JwtKeys::new(&settings("k1", "secret-one"));
        let sid = Uuid::new_v4();
        let claims = keys
            .verify(&keys.issue(42, sid, Role::Staff).unwrap())
            .unwrap();
        assert_eq!((claims.sub.as_str(), claims.role), ("42", Role::Staff));
        assert_eq!(claims.sid, sid);
        assert_eq!(claims.exp - claims.iat, 60);
    }

    #[test]
    fn remembered_tokens_still_expire_and_other_strings_are_checked_in_full() {
        let keys = JwtKeys::new(&settings("k1", "secret-one"));
        let sid = Uuid::new_v4();
        let token = keys.issue(7, sid, Role::Customer).unwrap();
        let bearer = Bearer {
            user_id: 7,
            session: sid,
        };
        assert_eq!(keys.bearer(&token).unwrap(), bearer);
        assert_eq!(keys.bearer(&token).unwrap(), bearer, "from the cache");
        // A tampered copy is another string: verified in full, and refused.
        let mut tampered = token.clone();
        tampered.pop();
        assert!(keys.bearer(&tampered).is_err());
        // A token remembered while valid is refused once it expires (as if time had passed:
        // its entry is put in the cache directly).
        let now = jsonwebtoken::get_current_timestamp();
        let expired = keys
            .sign(&Claims {
                sub: "7".into(),
                sid,
                role: Role::Customer,
                iat: now - 1000,
                exp: now - 60,
                iss: "orderflow".into(),
                aud: "orderflow-api".into(),
            })
            .unwrap();
        keys.verified
            .lock()
            .unwrap()
            .insert(expired.clone(), (bearer, now - 60));
        assert!(keys.bearer(&expired).is_err());
    }

    #[test]
    fn rotated_keys_keep_verifying_old_tokens_but_unknown_kids_fail() {
        let old = JwtKeys::new(&settings("k1", "secret-one"));
        let token = old.issue(1, Uuid::new_v4(), Role::Admin).unwrap();
        let mut rotated = settings("k2", "secret-two");
        rotated.previous_keys.push(JwtKey {
            kid: "k1".into(),
            secret: "secret-one".to_string().into(),
        });
        assert!(JwtKeys::new(&rotated).verify(&token).is_ok());
        let fresh = JwtKeys::new(&settings("k2", "secret-two"));
        assert!(matches!(
            fresh.verify(&token),
            Err(TokenError::UnknownKid(_))
        ));
    }
}
