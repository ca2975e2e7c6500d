//! Limits on failed logins, per client address and per user name and address, and
//! who the client is behind a reverse proxy.
//!
//! A login attempt is counted as failed when it starts (so that many attempts at
//! once cannot all slip through before the first has failed) and taken back when
//! the password was right or was not checked at all. A user is limited per
//! address, never as a whole: nobody can lock a known user out from everywhere.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;

/// Keys tracked at most; beyond, the ones whose last failure is oldest go first.
const MAX_KEYS: usize = 100_000;

/// The address key of a client: IPv6 clients by their /64 network (one machine
/// usually holds all of it), IPv4 clients by their address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct AddrKey(IpAddr);

impl AddrKey {
    fn of(addr: IpAddr) -> Self {
        match addr.to_canonical() {
            IpAddr::V6(v6) => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                AddrKey(IpAddr::V6(Ipv6Addr::from(bits)))
            }
            v4 => AddrKey(v4),
        }
    }
}

/// What is counted: all failures of an address, or those of one user name from it
/// (the name as a short hash, so that long names cost no memory).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Key {
    Addr(AddrKey),
    User(AddrKey, [u8; 16]),
}

fn user_key(addr: AddrKey, user: &str) -> Key {
    let digest = ring::digest::digest(&ring::digest::SHA256, user.as_bytes());
    let mut short = [0u8; 16];
    short.copy_from_slice(&digest.as_ref()[..16]);
    Key::User(addr, short)
}

/// A login attempt counted against the limits until it is taken back.
#[derive(Debug)]
pub(crate) struct Attempt {
    keys: [Key; 2],
    at: Instant,
}

/// The failed-login limits of one admin.
pub(crate) struct LoginLimits {
    per_addr: u32,
    per_user: u32,
    window: Duration,
    failures: Mutex<HashMap<Key, VecDeque<Instant>>>,
}

impl LoginLimits {
    /// `per_addr` failures per address and `per_user` per user name and address in
    /// each `window` (a limit of 0 counts as 1).
    pub(crate) fn new(per_addr: u32, per_user: u32, window: Duration) -> Self {
        LoginLimits {
            per_addr,
            per_user,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn limit(&self, key: &Key) -> usize {
        let n = match key {
            Key::Addr(_) => self.per_addr,
            Key::User(..) => self.per_user,
        };
        usize::try_from(n.max(1)).unwrap_or(usize::MAX)
    }

    /// Counts an attempt of `user` from `addr`, or says how long the client must
    /// wait when either limit is reached.
    pub(crate) fn begin(&self, user: &str, addr: IpAddr) -> Result<Attempt, Duration> {
        let a = AddrKey::of(addr);
        let keys = [Key::Addr(a), user_key(a, user)];
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        let mut wait = Duration::ZERO;
        for key in &keys {
            if let Some(times) = map.get_mut(key) {
                while times
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= self.window)
                {
                    times.pop_front();
                }
                if times.len() >= self.limit(key)
                    && let Some(oldest) = times.front()
                {
                    wait = wait.max(self.window.saturating_sub(now.duration_since(*oldest)));
                }
            }
        }
        if wait > Duration::ZERO {
            return Err(wait.max(Duration::from_secs(1)));
        }
        if map.len() + keys.len() > MAX_KEYS {
            self.make_room(&mut map, now);
        }
        for key in &keys {
            map.entry(*key).or_default().push_back(now);
        }
        Ok(Attempt { keys, at: now })
    }

    /// Takes back an attempt that was not a failure: the password was right (then
    /// the user's count from that address starts anew) or was not checked.
    pub(crate) fn take_back(&self, attempt: Attempt, right_password: bool) {
        let mut map = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        for key in &attempt.keys {
            let Some(times) = map.get_mut(key) else {
                continue;
            };
            if right_password && matches!(key, Key::User(..)) {
                times.clear();
            } else if let Some(i) = times.iter().rposition(|t| *t == attempt.at) {
                times.remove(i);
            }
            if times.is_empty() {
                map.remove(key);
            }
        }
    }

    /// Forgets expired keys, then the least recent ones, until there is room.
    fn make_room(&self, map: &mut HashMap<Key, VecDeque<Instant>>, now: Instant) {
        map.retain(|_, times| {
            times
                .back()
                .is_some_and(|t| now.duration_since(*t) < self.window)
        });
        while map.len() + 2 > MAX_KEYS {
            let oldest = map
                .iter()
                .min_by_key(|(_, times)| times.back().copied())
                .map(|(k, _)| *k);
            match oldest {
                Some(k) => {
                    map.remove(&k);
                }
                None => break,
            }
        }
    }
}

/// One entry of `X-Forwarded-For`: an address, maybe with a port or in brackets.
fn forwarded_entry(text: &str) -> Option<IpAddr> {
    let t = text.trim();
    t.parse::<IpAddr>()
        .ok()
        .or_else(|| t.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            t.strip_prefix('[')
                .and_then(|r| r.strip_suffix(']'))
                .and_then(|r| r.parse().ok())
        })
        .map(|ip: IpAddr| ip.to_canonical())
}

/// The client's address of a request: its connection's peer (axum's connect info)
/// or what a `trusted` proxy says; [`UNKNOWN_CLIENT`] when the router is served
/// without connect info.
pub(crate) fn client_of(
    extensions: &axum::http::Extensions,
    headers: &HeaderMap,
    trusted: &[IpAddr],
) -> IpAddr {
    let peer = extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    client_addr(peer, headers, trusted).unwrap_or(UNKNOWN_CLIENT)
}

/// The client's address: the connection's peer, or, when the peer is one of the
/// `trusted` proxies, the last address in `X-Forwarded-For` that is not a trusted
/// proxy (the proxies append, so entries left of an untrusted one may be forged).
/// `None` when the peer is unknown (the router was served without connect info).
pub(crate) fn client_addr(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    trusted: &[IpAddr],
) -> Option<IpAddr> {
    let peer = peer?.to_canonical();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|t| t.to_canonical() == *ip);
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    let mut client = peer;
    for entry in entries.iter().rev() {
        let Some(ip) = forwarded_entry(entry) else {
            // A hop that is not an address: trust nothing further left.
            break;
        };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    Some(client)
}

/// The address counted for clients whose address is unknown.
pub(crate) const UNKNOWN_CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn limits_per_address_and_per_user() {
        let l = LoginLimits::new(3, 2, Duration::from_secs(60));
        let a = ip("10.0.0.1");
        assert!(l.begin("alice", a).is_ok());
        assert!(l.begin("alice", a).is_ok());
        let wait = l.begin("alice", a).unwrap_err();
        assert!(wait > Duration::from_secs(50) && wait <= Duration::from_secs(60));
        // Another user from there: one more, then the address is full.
        assert!(l.begin("bob", a).is_ok());
        assert!(l.begin("bob", a).is_err());
        // Alice from elsewhere is not affected.
        assert!(l.begin("alice", ip("10.0.0.2")).is_ok());
    }

    #[test]
    fn a_right_password_resets_the_user_count() {
        let l = LoginLimits::new(10, 2, Duration::from_secs(60));
        let a = ip("2001:db8::1");
        let _ = l.begin("alice", a).unwrap();
        let ok = l.begin("alice", a).unwrap();
        l.take_back(ok, true);
        // The same /64 counts as one client.
        assert!(l.begin("alice", ip("2001:db8::2")).is_ok());
        assert!(l.begin("alice", a).is_ok());
        assert!(l.begin("alice", a).is_err());
    }

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("6.6.6.6, 1.2.3.4, 10.0.0.9"),
        );
        let proxy = ip("10.0.0.9");
        let peer = Some(proxy);
        assert_eq!(client_addr(peer, &h, &[]), Some(proxy));
        assert_eq!(client_addr(peer, &h, &[proxy]), Some(ip("1.2.3.4")));
        assert_eq!(
            client_addr(Some(ip("5.5.5.5")), &h, &[proxy]),
            Some(ip("5.5.5.5"))
        );
        assert_eq!(client_addr(None, &h, &[proxy]), None);
        h.insert("x-forwarded-for", HeaderValue::from_static("junk"));
        assert_eq!(client_addr(peer, &h, &[proxy]), Some(proxy));
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("[2001:db8::7]:443"),
        );
        assert_eq!(client_addr(peer, &h, &[proxy]), Some(ip("2001:db8::7")));
    }
}
