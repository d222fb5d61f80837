//! A global-allocator wrapper that counts live heap bytes. Counters are sharded per
//! thread (cache-line padded) so counting costs an uncontended atomic add.
#![expect(
    unsafe_code,
    reason = "implementing GlobalAlloc is unsafe by definition"
)]

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

const SHARDS: usize = 64;

#[repr(align(64))]
struct Shard(AtomicI64);

static SHARD_COUNTERS: [Shard; SHARDS] = [const { Shard(AtomicI64::new(0)) }; SHARDS];
static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static MY_SHARD: Cell<usize> = const { Cell::new(usize::MAX) };
}

fn shard() -> &'static AtomicI64 {
    let index = MY_SHARD
        .try_with(|slot| {
            let mut index = slot.get();
            if index == usize::MAX {
                index = NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % SHARDS;
                slot.set(index);
            }
            index
        })
        .unwrap_or(0);
    &SHARD_COUNTERS[index].0
}

/// Bytes currently allocated through [`CountingAlloc`] (0 if it is not installed).
pub fn allocated_bytes() -> u64 {
    let total: i64 = SHARD_COUNTERS
        .iter()
        .map(|s| s.0.load(Ordering::Relaxed))
        .sum();
    total.max(0) as u64
}

/// Wraps an allocator and counts live bytes.
pub struct CountingAlloc<A>(pub A);

// SAFETY: every method forwards to the wrapped allocator with the caller's arguments
// unchanged, so the wrapped allocator's guarantees hold; counting touches only atomics.
unsafe impl<A: GlobalAlloc> GlobalAlloc for CountingAlloc<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as our caller's.
        let ptr = unsafe { self.0.alloc(layout) };
        if !ptr.is_null() {
            shard().fetch_add(layout.size() as i64, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as our caller's.
        let ptr = unsafe { self.0.alloc_zeroed(layout) };
        if !ptr.is_null() {
            shard().fetch_add(layout.size() as i64, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { self.0.dealloc(ptr, layout) };
        shard().fetch_sub(layout.size() as i64, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as our caller's.
        let new = unsafe { self.0.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            shard().fetch_add(new_size as i64 - layout.size() as i64, Ordering::Relaxed);
        }
        new
    }
}
