//! Typed table commands.

use bytes::Bytes;
use okapi_resp::Frame;

use crate::{Client, ClientError, IntoArg, args, int, opt_bulk, to_arg};

/// Field/value pairs.
pub type Pairs = Vec<(Bytes, Bytes)>;

impl Client {
    /// TABLE.SET: how many fields were new.
    pub async fn table_set(
        &mut self,
        key: impl IntoArg,
        pairs: &[(&[u8], &[u8])],
    ) -> Result<u64, ClientError> {
        let mut a = args!(b"TABLE.SET", key);
        for &(field, value) in pairs {
            a.push(to_arg(field));
            a.push(to_arg(value));
        }
        Ok(int("TABLE.SET", self.call(a).await?)? as u64)
    }

    /// TABLE.GET.
    pub async fn table_get(
        &mut self,
        key: impl IntoArg,
        field: impl IntoArg,
    ) -> Result<Option<Bytes>, ClientError> {
        let reply = self.call(args!(b"TABLE.GET", key, field)).await?;
        opt_bulk("TABLE.GET", reply)
    }

    /// TABLE.RANGE over `[start, end)` (`-`/`+` for the open ends).
    pub async fn table_range(
        &mut self,
        key: impl IntoArg,
        start: impl IntoArg,
        end: impl IntoArg,
        limit: Option<u64>,
        rev: bool,
    ) -> Result<Pairs, ClientError> {
        let mut a = args!(b"TABLE.RANGE", key, start, end);
        if let Some(n) = limit {
            a.extend(args!(b"LIMIT", n));
        }
        if rev {
            a.push(Bytes::from_static(b"REV"));
        }
        pairs("TABLE.RANGE", self.call(a).await?)
    }

    /// TABLE.DELRANGE: how many fields were deleted.
    pub async fn table_delrange(
        &mut self,
        key: impl IntoArg,
        start: impl IntoArg,
        end: impl IntoArg,
    ) -> Result<u64, ClientError> {
        let reply = self.call(args!(b"TABLE.DELRANGE", key, start, end)).await?;
        Ok(int("TABLE.DELRANGE", reply)? as u64)
    }

    /// TABLE.COUNT of the whole table.
    pub async fn table_count(&mut self, key: impl IntoArg) -> Result<u64, ClientError> {
        Ok(int("TABLE.COUNT", self.call(args!(b"TABLE.COUNT", key)).await?)? as u64)
    }
}

fn pairs(command: &'static str, reply: Frame) -> Result<Pairs, ClientError> {
    let items = match reply {
        Frame::Array(items) => items,
        reply => return Err(ClientError::Unexpected { command, reply }),
    };
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut items = items.into_iter();
    while let (Some(f), Some(v)) = (items.next(), items.next()) {
        match (f, v) {
            (Frame::Bulk(f), Frame::Bulk(v)) => out.push((f, v)),
            (f, _) => return Err(ClientError::Unexpected { command, reply: f }),
        }
    }
    Ok(out)
}
