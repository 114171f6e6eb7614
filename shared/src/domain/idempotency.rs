//! Idempotency-Key rules (IETF httpapi draft, Stripe semantics): key syntax and the request
//! fingerprint that tells "same request" from "different request with the same key".

use serde_json::Value;
use sha2::{Digest, Sha256};

pub const MAX_KEY_LEN: usize = 255;

/// 1..=255 visible ASCII characters.
pub fn parse_key(raw: &str) -> Result<String, String> {
    if raw.is_empty() || raw.len() > MAX_KEY_LEN || !raw.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters"
        ));
    }
    Ok(raw.to_string())
}

/// SHA-256 of method, path and the body's canonical JSON (object keys sorted, no whitespace),
/// so `{"a":1,"b":2}` and `{ "b": 2, "a": 1 }` are the same request.
pub fn fingerprint(method: &str, path: &str, body: &Value) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(method.as_bytes());
    hasher.update(b" ");
    hasher.update(path.as_bytes());
    hasher.update(b"\n");
    // serde_json's map keeps keys sorted (no `preserve_order` feature), so this is canonical.
    hasher.update(body.to_string().as_bytes());
    hasher.finalize().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_syntax() {
        assert!(parse_key("order-2026-11-24-0001").is_ok());
        assert!(parse_key(&"k".repeat(255)).is_ok());
        for bad in ["", "has space", "tab\t", "ünï", &"k".repeat(256)] {
            assert!(parse_key(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn fingerprint_ignores_key_order_and_whitespace_but_not_values() {
        let a: Value = serde_json::from_str(r#"{"b": [1, {"y": 2, "x": 1}], "a": "s"}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a":"s","b":[1,{"x":1,"y":2}]}"#).unwrap();
        assert_eq!(fingerprint("POST", "/o", &a), fingerprint("POST", "/o", &b));
        assert_ne!(
            fingerprint("POST", "/o", &a),
            fingerprint("POST", "/o", &json!({"a": "s"}))
        );
        assert_ne!(fingerprint("POST", "/o", &a), fingerprint("POST", "/p", &a));
    }
}
