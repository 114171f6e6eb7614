//! Who the client is: the peer address of the connection, unless that peer is a proxy listed
//! in `TRUSTED_PROXIES` — then the right-most address in `X-Forwarded-For` that is not a
//! trusted proxy (each proxy appends the address it received the request from, so entries
//! right of it were written by proxies we trust and entries left of it by anyone). A client
//! that talks to the API directly cannot choose its address by sending the header.

use axum::{
    extract::{ConnectInfo, Request},
    http::{HeaderMap, HeaderName},
};
use orderflow_shared::settings::IpNet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

pub static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The resolved client address, an extension of every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl ClientIp {
    /// What quotas are kept per: the address, or for IPv6 its /64 (one subscriber's
    /// allocation, within which an address costs nothing to change).
    pub fn quota_key(self) -> String {
        match self.0 {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => v4.to_string(),
                None => {
                    let s = v6.segments();
                    format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
                }
            },
        }
    }
}

/// The client behind `peer`, given the request's `X-Forwarded-For` values (in order).
pub fn resolve<'a>(
    peer: IpAddr,
    forwarded_for: impl DoubleEndedIterator<Item = &'a str>,
    trusted: &[IpNet],
) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(&canonical(*ip)));
    let peer = canonical(peer);
    if !is_trusted(&peer) {
        return peer;
    }
    let mut nearest = peer;
    let hops = forwarded_for.rev().flat_map(|v| v.rsplit(','));
    for hop in hops {
        let Some(ip) = parse_hop(hop) else {
            // Not an address a trusted proxy would write: whoever sent it is the client,
            // and the nearest trusted proxy is the best we know of it.
            return nearest;
        };
        if !is_trusted(&ip) {
            return ip;
        }
        nearest = ip;
    }
    nearest
}

/// `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`, `[2001:db8::1]:5678`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(canonical)
}

/// IPv4 addresses seen through an IPv6 socket (`::ffff:1.2.3.4`) are IPv4 addresses.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn forwarded_values(headers: &HeaderMap) -> Vec<&str> {
    headers
        .get_all(&X_FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect()
}

/// The client of `req` (called once per request by `request_context`, which records it in the
/// request's extensions and log span).
pub fn of_request(req: &Request, trusted: &[IpNet]) -> IpAddr {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    if trusted.is_empty() {
        canonical(peer)
    } else {
        resolve(peer, forwarded_values(req.headers()).into_iter(), trusted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn the_client_is_the_rightmost_untrusted_hop_behind_trusted_proxies() {
        let lb = nets(&["10.0.0.0/8", "fd00::/8"]);
        let cases: &[(&str, &[&str], &[IpNet], &str)] = &[
            // No trusted proxies: the header changes nothing.
            ("203.0.113.9", &["1.1.1.1"], &[], "203.0.113.9"),
            // An untrusted peer's header is ignored, however it is written.
            ("203.0.113.9", &["10.0.0.1, 1.1.1.1"], &lb, "203.0.113.9"),
            // Through one trusted proxy.
            ("10.0.0.2", &["198.51.100.7"], &lb, "198.51.100.7"),
            // The client prepended a forged hop: the right-most untrusted one wins.
            ("10.0.0.2", &["6.6.6.6, 198.51.100.7"], &lb, "198.51.100.7"),
            // Two trusted proxies in a chain, and the header split over two fields.
            (
                "10.0.0.2",
                &["198.51.100.7, 10.1.1.1", "10.2.2.2"],
                &lb,
                "198.51.100.7",
            ),
            // Only trusted hops: the left-most of them.
            ("10.0.0.2", &["10.9.9.9, 10.1.1.1"], &lb, "10.9.9.9"),
            // No header at all from a trusted proxy: the proxy itself.
            ("10.0.0.2", &[], &lb, "10.0.0.2"),
            // Garbage left by the client right of a trusted hop: the nearest trusted hop.
            (
                "10.0.0.2",
                &["198.51.100.7, not-an-ip, 10.1.1.1"],
                &lb,
                "10.1.1.1",
            ),
            // Ports and IPv6 forms.
            ("10.0.0.2", &["198.51.100.7:4711"], &lb, "198.51.100.7"),
            ("10.0.0.2", &["[2001:db8::5]:4711"], &lb, "2001:db8::5"),
            ("fd00::1", &["2001:db8::5"], &lb, "2001:db8::5"),
            // An IPv4 peer on an IPv6 socket is matched as IPv4.
            ("::ffff:10.0.0.2", &["198.51.100.7"], &lb, "198.51.100.7"),
        ];
        for (peer, header, trusted, expected) in cases {
            let got = resolve(peer.parse().unwrap(), header.iter().copied(), trusted);
            assert_eq!(got.to_string(), *expected, "peer {peer}, header {header:?}");
        }
    }

    #[test]
    fn quotas_are_kept_per_ipv4_address_and_per_ipv6_64() {
        let key = |ip: &str| ClientIp(ip.parse().unwrap()).quota_key();
        assert_eq!(key("198.51.100.7"), "198.51.100.7");
        assert_eq!(key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(key("2001:db8:1:2:bbbb::9"), key("2001:db8:1:2:aaaa::1"));
        assert_ne!(key("2001:db8:1:3::1"), key("2001:db8:1:2::1"));
    }
}
