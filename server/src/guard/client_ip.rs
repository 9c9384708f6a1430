//! The client's address: the TCP peer, or, when the peer is a trusted proxy,
//! the nearest untrusted address in `X-Forwarded-For` (read from the right,
//! since every proxy appends and only our own proxies' entries can be trusted).

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;

use crate::config::net::canonical;
use crate::config::{Config, IpNet};
use crate::error::AppError;
use crate::state::AppState;

/// The address a request came from, after trusted proxies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// What limits count by: an IPv4 address, or an IPv6 /64 (one subscriber's
/// network; counting single IPv6 addresses would let one host use billions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpKey {
    V4(std::net::Ipv4Addr),
    V6Prefix(u64),
}

impl ClientIp {
    pub fn key(self) -> IpKey {
        match canonical(self.0) {
            IpAddr::V4(v4) => IpKey::V4(v4),
            IpAddr::V6(v6) => IpKey::V6Prefix((u128::from(v6) >> 64) as u64),
        }
    }
}

/// The client behind `peer`, given the request headers and the trusted proxies.
pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(peer) {
        return canonical(peer);
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .map(|entry| entry.parse::<IpAddr>())
        .collect::<Result<_, _>>()
        // A malformed list cannot be read safely: fall back to the proxy itself.
        .unwrap_or_default();
    forwarded.into_iter().rev().find(|ip| !is_trusted(*ip)).map_or(canonical(peer), canonical)
}

impl ClientIp {
    /// The client of a request, from its connect info and headers.
    pub fn of(parts: &Parts, config: &Config) -> Self {
        // Servers built without connect info (never in `startup`) count as one client.
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED), |info| info.0.ip());
        Self(resolve(peer, &parts.headers, &config.trusted_proxies))
    }
}

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Self::of(parts, &state.config))
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(xff: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_str(xff).unwrap());
        h
    }

    #[test]
    fn forwarded_for_counts_only_from_trusted_proxies() {
        let proxy: IpAddr = "10.0.0.5".parse().unwrap();
        let trusted = [IpNet::parse("10.0.0.0/8").unwrap()];
        let spoofed = headers("1.1.1.1, 203.0.113.7, 10.0.0.9");
        // The nearest untrusted hop, not the client-written leftmost entry.
        assert_eq!(resolve(proxy, &spoofed, &trusted), "203.0.113.7".parse::<IpAddr>().unwrap());
        // A stranger's header is ignored.
        let stranger: IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(resolve(stranger, &spoofed, &trusted), stranger);
        // Garbage from behind the proxy: the proxy itself.
        assert_eq!(resolve(proxy, &headers("not an ip"), &trusted), proxy);
        assert_eq!(resolve(proxy, &HeaderMap::new(), &trusted), proxy);
    }

    #[test]
    fn ipv6_counts_by_slash_64() {
        let a = ClientIp("2001:db8:1:2::1".parse().unwrap());
        let b = ClientIp("2001:db8:1:2:ffff::9".parse().unwrap());
        let c = ClientIp("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(a.key(), b.key());
        assert_ne!(a.key(), c.key());
        assert_eq!(
            ClientIp("::ffff:192.0.2.1".parse().unwrap()).key(),
            ClientIp("192.0.2.1".parse().unwrap()).key()
        );
    }
}
