//! Redis 7's script shebang: a first line `#!lua [flags=f1,f2,...]` declares what the
//! script may do. A script without one runs as before Redis 7 (it may write, and it
//! may run when memory is short until it calls a command that needs memory).

/// What a script's shebang declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Shebang {
    /// The script has a shebang line (its flags are then the only permissions).
    pub present: bool,
    /// `no-writes`: the script only reads.
    pub no_writes: bool,
    /// `allow-oom`: may run when memory is over `maxmemory`.
    pub allow_oom: bool,
    /// `no-cluster`: refused on a cluster node.
    pub no_cluster: bool,
    /// `allow-cross-slot-keys`: Redis lets such a script reach keys of other slots on
    /// the same node; okapi still requires one slot (a script is one entry of one
    /// group's log).
    pub allow_cross_slot_keys: bool,
}

/// Reads the shebang of `body`, with Redis's errors.
pub fn parse(body: &[u8]) -> Result<Shebang, String> {
    if !body.starts_with(b"#!") {
        return Ok(Shebang::default());
    }
    let Some(end) = body.iter().position(|&b| b == b'\n') else {
        return Err("ERR Invalid script shebang".into());
    };
    let line = String::from_utf8_lossy(&body[..end]);
    let line = line.trim_end_matches('\r');
    let mut words = line.split(' ').filter(|w| !w.is_empty());
    let engine = words.next().unwrap_or_default();
    if engine != "#!lua" {
        return Err(format!("ERR Unexpected engine in script shebang: {engine}"));
    }
    let mut shebang = Shebang {
        present: true,
        ..Shebang::default()
    };
    for word in words {
        let Some(flags) = word.strip_prefix("flags=") else {
            return Err(format!("ERR Unknown lua shebang option: {word}"));
        };
        for flag in flags.split(',').filter(|f| !f.is_empty()) {
            match flag {
                "no-writes" => shebang.no_writes = true,
                "allow-oom" => shebang.allow_oom = true,
                "allow-stale" => {}
                "no-cluster" => shebang.no_cluster = true,
                "allow-cross-slot-keys" => shebang.allow_cross_slot_keys = true,
                other => return Err(format!("ERR Unexpected flag in script shebang: {other}")),
            }
        }
    }
    Ok(shebang)
}

/// The body Lua compiles: the shebang line emptied, so line numbers stay the
/// script's.
pub fn lua_body(body: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    match body.iter().position(|&b| b == b'\n') {
        Some(end) if body.starts_with(b"#!") => std::borrow::Cow::Borrowed(&body[end..]),
        _ => std::borrow::Cow::Borrowed(body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebangs_read_as_redis_reads_them() {
        assert_eq!(parse(b"return 1"), Ok(Shebang::default()));
        let s = parse(b"#!lua flags=no-writes,allow-oom\nreturn 1").expect("valid");
        assert!(s.present && s.no_writes && s.allow_oom && !s.no_cluster);
        assert!(parse(b"#!lua  flags=\nreturn 1").is_ok_and(|s| s.present && !s.no_writes));
        assert_eq!(parse(b"#!lua"), Err("ERR Invalid script shebang".into()));
        assert_eq!(
            parse(b"#!python\nreturn 1"),
            Err("ERR Unexpected engine in script shebang: #!python".into())
        );
        assert_eq!(
            parse(b"#!lua name=x\nreturn 1"),
            Err("ERR Unknown lua shebang option: name=x".into())
        );
        assert_eq!(
            parse(b"#!lua flags=bogus\nreturn 1"),
            Err("ERR Unexpected flag in script shebang: bogus".into())
        );
        assert_eq!(&lua_body(b"#!lua\nreturn y")[..], b"\nreturn y");
    }
}
