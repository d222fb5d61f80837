//! The only code in okapi allowed to use `unsafe`: the allocator wrapper that counts
//! live bytes for INFO memory and `maxmemory`, and the `prctl(2)` that turns
//! transparent huge pages off.

pub mod alloc;
#[cfg(target_os = "linux")]
pub mod thp;
