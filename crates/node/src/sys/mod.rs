//! The only code in okapi allowed to use `unsafe`: the allocator wrapper that counts
//! live bytes for INFO memory and `maxmemory`.

pub mod alloc;
