//! Arguments that must never be shown: the credentials of AUTH and HELLO … AUTH, and
//! the password values of CONFIG SET. MONITOR and SLOWLOG show `(redacted)` in their
//! place, as Redis does.

use bytes::Bytes;

const REDACTED: &[u8] = b"(redacted)";

/// `argv` with its secret arguments replaced.
pub fn redact(argv: &[Bytes]) -> Vec<Bytes> {
    let hidden = Bytes::from_static(REDACTED);
    let mut out = argv.to_vec();
    let name = &argv[0];
    if name.eq_ignore_ascii_case(b"auth") {
        out[1..].iter_mut().for_each(|a| *a = hidden.clone());
    } else if name.eq_ignore_ascii_case(b"hello") {
        if let Some(at) = argv.iter().position(|a| a.eq_ignore_ascii_case(b"auth")) {
            out.iter_mut()
                .skip(at + 1)
                .take(2)
                .for_each(|a| *a = hidden.clone());
        }
    } else if name.eq_ignore_ascii_case(b"config")
        && argv.get(1).is_some_and(|s| s.eq_ignore_ascii_case(b"set"))
    {
        let mut i = 2;
        while i + 1 < argv.len() {
            let param = &argv[i];
            if param.eq_ignore_ascii_case(b"requirepass")
                || param.eq_ignore_ascii_case(b"masterauth")
            {
                out[i + 1] = hidden.clone();
            }
            i += 2;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<Bytes> {
        words
            .iter()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    #[test]
    fn credentials_are_hidden_and_nothing_else() {
        assert_eq!(
            redact(&argv(&["AUTH", "u", "p"])),
            argv(&["AUTH", "(redacted)", "(redacted)"])
        );
        assert_eq!(
            redact(&argv(&["HELLO", "3", "AUTH", "u", "p", "SETNAME", "n"])),
            argv(&[
                "HELLO",
                "3",
                "AUTH",
                "(redacted)",
                "(redacted)",
                "SETNAME",
                "n"
            ])
        );
        assert_eq!(
            redact(&argv(&[
                "CONFIG",
                "SET",
                "maxmemory",
                "1",
                "requirepass",
                "pw"
            ])),
            argv(&[
                "CONFIG",
                "SET",
                "maxmemory",
                "1",
                "requirepass",
                "(redacted)"
            ])
        );
        assert_eq!(
            redact(&argv(&["SET", "auth", "x"])),
            argv(&["SET", "auth", "x"])
        );
    }
}
