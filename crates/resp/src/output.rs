//! [`Output`]: a connection's pending reply bytes. Small replies are encoded into one
//! growing buffer; large bulk strings (block pages, big values) are attached as the
//! reference-counted buffers they already live in, so they reach the socket through
//! vectored writes without being copied per request.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, Bytes, BytesMut};

/// Bulk strings at least this long are attached instead of copied: below it, a copy
/// costs less than the extra `iovec` and reference count.
pub const SHARE_FROM: usize = 16 * 1024;

/// Reply bytes waiting to be written, in order: attached segments, then the buffer.
/// Derefs to the buffer, so every encoder function appends to it directly.
#[derive(Debug, Default)]
pub struct Output {
    segments: VecDeque<Bytes>,
    segments_len: usize,
    buf: BytesMut,
}

impl Output {
    /// An empty output whose buffer starts with `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            segments: VecDeque::new(),
            segments_len: 0,
            buf: BytesMut::with_capacity(capacity),
        }
    }

    /// Bytes waiting, attached ones included.
    pub fn len(&self) -> usize {
        self.segments_len + self.buf.len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when every waiting byte is in the buffer (nothing attached).
    pub fn is_contiguous(&self) -> bool {
        self.segments.is_empty()
    }

    /// Appends `bytes`: attached without a copy when large, copied otherwise.
    pub fn put_shared(&mut self, bytes: &Bytes) {
        if bytes.len() < SHARE_FROM {
            self.buf.extend_from_slice(bytes);
            return;
        }
        if !self.buf.is_empty() {
            let encoded = self.buf.split().freeze();
            self.segments_len += encoded.len();
            self.segments.push_back(encoded);
        }
        self.segments_len += bytes.len();
        self.segments.push_back(bytes.clone());
    }

    /// A bulk string made of `pieces`, in order.
    pub fn bulk_pieces(&mut self, pieces: &[Bytes]) {
        let len: usize = pieces.iter().map(Bytes::len).sum();
        let mut digits = itoa::Buffer::new();
        self.buf.extend_from_slice(b"$");
        self.buf.extend_from_slice(digits.format(len).as_bytes());
        self.buf.extend_from_slice(b"\r\n");
        pieces.iter().for_each(|piece| self.put_shared(piece));
        self.buf.extend_from_slice(b"\r\n");
    }

    /// Takes everything waiting, as a [`Buf`] for `write_all_buf` (vectored when the
    /// stream supports it). The buffer keeps its capacity.
    pub fn take(&mut self) -> Pending {
        let mut segments = std::mem::take(&mut self.segments);
        if !self.buf.is_empty() {
            segments.push_back(self.buf.split().freeze());
        }
        let remaining = segments.iter().map(Bytes::len).sum();
        self.segments_len = 0;
        Pending {
            segments,
            remaining,
        }
    }

    /// The encoding buffer (to shrink it after a burst).
    pub fn buffer_mut(&mut self) -> &mut BytesMut {
        &mut self.buf
    }
}

impl std::ops::Deref for Output {
    type Target = BytesMut;
    fn deref(&self) -> &BytesMut {
        &self.buf
    }
}

impl std::ops::DerefMut for Output {
    fn deref_mut(&mut self) -> &mut BytesMut {
        &mut self.buf
    }
}

/// Bytes taken from an [`Output`] on their way to the socket.
#[derive(Debug)]
pub struct Pending {
    segments: VecDeque<Bytes>,
    remaining: usize,
}

impl Buf for Pending {
    fn remaining(&self) -> usize {
        self.remaining
    }

    fn chunk(&self) -> &[u8] {
        self.segments.front().map_or(&[], |s| s.as_ref())
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        for (slot, segment) in dst.iter_mut().zip(&self.segments) {
            *slot = IoSlice::new(segment);
            n += 1;
        }
        n
    }

    fn advance(&mut self, mut cnt: usize) {
        assert!(cnt <= self.remaining, "advance past the end of the output");
        self.remaining -= cnt;
        while cnt > 0 {
            let Some(front) = self.segments.front_mut() else {
                return;
            };
            if cnt < front.len() {
                front.advance(cnt);
                return;
            }
            cnt -= front.len();
            self.segments.pop_front();
        }
        while self.segments.front().is_some_and(Bytes::is_empty) {
            self.segments.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_pieces_are_attached_and_come_out_in_order() {
        let mut out = Output::with_capacity(64);
        out.extend_from_slice(b"+OK\r\n");
        let big = Bytes::from(vec![b'x'; SHARE_FROM]);
        out.bulk_pieces(&[big.clone(), Bytes::from_static(b"tail"), big.clone()]);
        out.extend_from_slice(b":1\r\n");
        assert!(!out.is_contiguous());
        let total = 5 + 8 + 2 * SHARE_FROM + 4 + 2 + 4;
        assert_eq!(out.len(), total);
        let mut pending = out.take();
        assert!(out.is_empty());
        assert_eq!(pending.remaining(), total);
        let mut slices = [IoSlice::new(&[]); 8];
        assert!(pending.chunks_vectored(&mut slices) >= 4);
        // Drain in odd steps, as partial writes would.
        let mut written = Vec::new();
        while pending.has_remaining() {
            let step = pending.chunk().len().min(7_777);
            written.extend_from_slice(&pending.chunk()[..step]);
            pending.advance(step);
        }
        let mut expected = b"+OK\r\n$32772\r\n".to_vec();
        expected.extend_from_slice(&big);
        expected.extend_from_slice(b"tail");
        expected.extend_from_slice(&big);
        expected.extend_from_slice(b"\r\n:1\r\n");
        assert_eq!(written, expected);
    }
}
