//! Who may talk to the node, the same rules for every front end (RESP, HTTP, NBD):
//! the password (`requirepass`) and protected mode (with no password, only loopback
//! clients are served, as in Redis).

use std::net::IpAddr;

use crate::settings::Settings;

/// Redis's error for a client refused by protected mode (okapi's wording).
pub const PROTECTED_MODE_DENIED: &str = "DENIED okapi is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. To serve other hosts, set a password (requirepass), or turn protected mode off (CONFIG SET protected-mode no from a loopback client, or restart with --protected-mode no) after making sure okapi is not reachable from untrusted networks.";

/// True for addresses of this host's loopback interface: all of 127.0.0.0/8, `::1`,
/// and IPv4 loopback mapped into IPv6.
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// Whether protected mode refuses a client from `peer` (`None`: a Unix socket, which
/// is always local).
pub fn protected_mode_refuses(settings: &Settings, peer: Option<IpAddr>) -> bool {
    settings.protected_mode
        && settings.requirepass.is_none()
        && peer.is_some_and(|ip| !is_loopback(ip))
}

/// Constant-time comparison, so password checks leak nothing through timing.
pub fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether `user` (`None`: the default user) with `password` is a valid login.
/// With no password set, the default user needs none.
pub fn password_ok(settings: &Settings, user: Option<&[u8]>, password: &[u8]) -> bool {
    if user.is_some_and(|u| u != b"default") {
        return false;
    }
    match &settings.requirepass {
        None => true,
        Some(expected) => same_secret(expected, password),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_all_of_127_slash_8_and_ipv6_loopback() {
        for ip in [
            "127.0.0.1",
            "127.0.0.42",
            "127.255.255.254",
            "::1",
            "::ffff:127.0.0.3",
        ] {
            assert!(is_loopback(ip.parse().expect("ip")), "{ip}");
        }
        for ip in [
            "10.0.0.1",
            "192.168.1.1",
            "0.0.0.0",
            "::",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_loopback(ip.parse().expect("ip")), "{ip}");
        }
    }

    #[test]
    fn protected_mode_refuses_remote_clients_only_without_a_password() {
        let mut s = Settings::default();
        let remote = Some("10.1.2.3".parse().expect("ip"));
        let local = Some("127.0.0.9".parse().expect("ip"));
        assert!(protected_mode_refuses(&s, remote));
        assert!(!protected_mode_refuses(&s, local));
        assert!(!protected_mode_refuses(&s, None), "unix sockets are local");
        s.requirepass = Some(bytes::Bytes::from_static(b"pw"));
        assert!(!protected_mode_refuses(&s, remote), "a password lifts it");
        s.requirepass = None;
        s.protected_mode = false;
        assert!(!protected_mode_refuses(&s, remote));
    }

    #[test]
    fn passwords_compare_whole_and_only_for_the_default_user() {
        let mut s = Settings::default();
        assert!(password_ok(&s, None, b"anything"));
        s.requirepass = Some(bytes::Bytes::from_static(b"secret"));
        assert!(password_ok(&s, None, b"secret"));
        assert!(password_ok(&s, Some(b"default"), b"secret"));
        assert!(!password_ok(&s, Some(b"admin"), b"secret"));
        assert!(!password_ok(&s, None, b"secre"));
        assert!(!password_ok(&s, None, b"secret2"));
    }
}
