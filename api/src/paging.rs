//! Cursors and `next` links for every collection.
//!
//! A cursor is opaque to clients: base64url JSON (the list it belongs to, a fingerprint of the
//! caller's scope, filters and sort, and the last row's sort key) and an HMAC-SHA256 over it,
//! with a key derived from the signing secret (`JWT_SECRET`). A cursor that was tampered with,
//! made for another list, or for other filters, sort or caller, is a 400 in the error shape —
//! so a client cannot use one to reach rows its filters or its role would not show. A key
//! rotation invalidates the cursors made before it (clients start again from the first page).

use axum::{
    Json,
    http::{HeaderValue, Uri, header},
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use orderflow_shared::domain::{
    PageParams, Paged, Validator,
    paging::{KeyValue, Page, Total},
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{ApiError, Result};

type HmacSha256 = Hmac<Sha256>;

/// Signs and checks cursors.
pub struct CursorKeys {
    key: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct Payload {
    /// The list (`orders`, `customers`, …).
    l: String,
    /// The fingerprint of scope, filters and sort.
    f: String,
    /// The last row's sort key.
    k: Vec<KeyValue>,
}

/// What a page is: the list, who asks (their scope), the filters and the sort, each as text.
/// A cursor is only good for a request with the same parts.
pub fn fingerprint(parts: &[&str]) -> String {
    let mut digest = Sha256::new();
    for part in parts {
        digest.update(part.as_bytes());
        digest.update([0]);
    }
    hex::encode(&digest.finalize()[..12])
}

fn bad_cursor(why: &str) -> ApiError {
    ApiError::BadRequest(format!("Invalid cursor: {why}"))
}

impl CursorKeys {
    /// A key of its own for cursors, derived from the signing secret.
    pub fn new(secret: &[u8]) -> Self {
        let mut mac = HmacSha256::new_from_slice(secret).expect("any key length");
        mac.update(b"orderflow cursors v1");
        Self {
            key: mac.finalize().into_bytes().to_vec(),
        }
    }

    fn mac(&self, payload: &[u8]) -> Vec<u8> {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("any key length");
        mac.update(payload);
        mac.finalize().into_bytes()[..16].to_vec()
    }

    pub fn encode(&self, list: &str, fingerprint: &str, key: Vec<KeyValue>) -> String {
        let payload = serde_json::to_vec(&Payload {
            l: list.into(),
            f: fingerprint.into(),
            k: key,
        })
        .expect("a cursor serialises");
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(self.mac(&payload))
        )
    }

    /// The position a cursor holds, if it is ours and made for this very request.
    pub fn decode(&self, cursor: &str, list: &str, fingerprint: &str) -> Result<Vec<KeyValue>> {
        let (payload, mac) = cursor
            .split_once('.')
            .ok_or_else(|| bad_cursor("not a cursor of this service"))?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| bad_cursor("not a cursor of this service"))?;
        let mac = URL_SAFE_NO_PAD
            .decode(mac)
            .map_err(|_| bad_cursor("not a cursor of this service"))?;
        // Constant time: `verify_truncated_left` compares the prefix without a shortcut.
        let mut check = HmacSha256::new_from_slice(&self.key).expect("any key length");
        check.update(&payload);
        if mac.len() != 16 || check.verify_truncated_left(&mac).is_err() {
            return Err(bad_cursor("not a cursor of this service, or altered"));
        }
        let payload: Payload = serde_json::from_slice(&payload)
            .map_err(|_| bad_cursor("not a cursor of this service"))?;
        if payload.l != list {
            return Err(bad_cursor("made for another collection"));
        }
        if payload.f != fingerprint {
            return Err(bad_cursor(
                "made for other filters, another sort or another user: send the same query as \
                 the page that gave it",
            ));
        }
        Ok(payload.k)
    }
}

/// One list request: which collection, what it was asked for (scope, filters, sort: the
/// fingerprint a cursor must match) and the URI its `next` link repeats.
pub struct Listing<'a> {
    keys: &'a CursorKeys,
    list: &'static str,
    fingerprint: String,
    uri: &'a Uri,
}

impl<'a> Listing<'a> {
    /// `parts`: the caller's scope, then every filter and the sort as the query applies them
    /// (after authorisation narrowed them), each as text.
    pub fn new(keys: &'a CursorKeys, list: &'static str, parts: &[&str], uri: &'a Uri) -> Self {
        Self {
            keys,
            list,
            fingerprint: fingerprint(parts),
            uri,
        }
    }

    /// The validated page: after the `cursor` (checked against this list and fingerprint:
    /// 400 otherwise) or at a page number, and its size (422 out of bounds).
    pub fn page(&self, cursor: Option<&str>, params: PageParams) -> Result<Page> {
        let after = cursor
            .map(|c| self.keys.decode(c, self.list, &self.fingerprint))
            .transpose()?;
        let mut v = Validator::new();
        let page = params.validate(after, &mut v);
        v.finish().map_err(ApiError::invalid)?;
        Ok(page.expect("validated"))
    }

    /// Builds the page from `rows` (fetched with `page.limit()`, one more than shown): when
    /// the extra row is there, a `next` link to the same request with a cursor after the last
    /// row shown.
    pub fn respond<R, T>(
        &self,
        page: &Page,
        (mut rows, total): (Vec<R>, Total),
        key_of: impl Fn(&R) -> Vec<KeyValue>,
        map: impl FnMut(R) -> T,
    ) -> PageResponse<T> {
        let more = rows.len() as i64 > page.page_size;
        rows.truncate(page.page_size as usize);
        let next = match (more, rows.last()) {
            (true, Some(last)) => {
                let cursor = self.keys.encode(self.list, &self.fingerprint, key_of(last));
                Some(next_url(self.uri, &cursor))
            }
            _ => None,
        };
        let items = rows.into_iter().map(map).collect();
        PageResponse(Paged::new(items, page, total, next))
    }
}

/// A page with its `next` link, in the body and in a `Link` header (RFC 8288).
pub struct PageResponse<T>(pub Paged<T>);

impl<T: Serialize> IntoResponse for PageResponse<T> {
    fn into_response(self) -> Response {
        let link = self
            .0
            .next
            .as_ref()
            .and_then(|next| HeaderValue::from_str(&format!("<{next}>; rel=\"next\"")).ok());
        let mut response = Json(self.0).into_response();
        if let Some(link) = link {
            response.headers_mut().insert(header::LINK, link);
        }
        response
    }
}

/// `uri` with its `page` and `cursor` replaced by `cursor`.
fn next_url(uri: &Uri, cursor: &str) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
        if k != "page" && k != "cursor" {
            query.append_pair(&k, &v);
        }
    }
    query.append_pair("cursor", cursor);
    format!("{}?{}", uri.path(), query.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_is_good_only_for_its_list_and_its_request_and_cannot_be_forged() {
        let keys = CursorKeys::new(b"secret-one");
        let fp = fingerprint(&["orders", "customer:7", "status=pending", "-created_at"]);
        let key = vec![
            KeyValue::Text("2026-01-01T00:00:00Z".into()),
            KeyValue::Int(42),
        ];
        let cursor = keys.encode("orders", &fp, key.clone());
        assert_eq!(keys.decode(&cursor, "orders", &fp).unwrap(), key);
        let other_fp = fingerprint(&["orders", "customer:8", "status=pending", "-created_at"]);
        for (cursor, list, fp) in [
            (cursor.clone(), "orders", other_fp.as_str()),
            (cursor.clone(), "customers", fp.as_str()),
            (format!("{cursor}x"), "orders", fp.as_str()),
            ("garbage".into(), "orders", fp.as_str()),
            ("a.b".into(), "orders", fp.as_str()),
        ] {
            let error = keys.decode(&cursor, list, fp).unwrap_err();
            assert!(matches!(error, ApiError::BadRequest(_)), "{cursor}");
        }
        // A payload edited (another position) under the old signature.
        let (_, mac) = cursor.split_once('.').unwrap();
        let forged_payload = serde_json::to_vec(&Payload {
            l: "orders".into(),
            f: fp.clone(),
            k: vec![KeyValue::Int(1)],
        })
        .unwrap();
        let forged = format!("{}.{mac}", URL_SAFE_NO_PAD.encode(forged_payload));
        assert!(keys.decode(&forged, "orders", &fp).is_err());
        // Another key (a rotated secret) does not accept it.
        assert!(
            CursorKeys::new(b"secret-two")
                .decode(&cursor, "orders", &fp)
                .is_err()
        );
    }

    #[test]
    fn the_next_link_keeps_the_filters_and_replaces_page_and_cursor() {
        let uri: Uri = "/api/v1/orders?status=pending&page=3&cursor=old&page_size=5"
            .parse()
            .unwrap();
        assert_eq!(
            next_url(&uri, "new.c"),
            "/api/v1/orders?status=pending&page_size=5&cursor=new.c"
        );
    }
}
