//! The persistence controls the server exposes (SAVE, BGSAVE, LASTSAVE, INFO
//! persistence, CONFIG SET appendfsync), implemented by whoever owns the log.

use std::future::Future;
use std::pin::Pin;

/// A boxed future, for the one async method of [`Durability`].
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Persistence as the server sees it.
pub trait Durability: Send + Sync + 'static {
    /// SAVE: takes a snapshot and resolves once it is on disk.
    fn save(&self) -> BoxFuture<Result<(), String>>;
    /// BGSAVE: starts a snapshot in the background and returns the status reply.
    /// While one is under way it is an error, unless `schedule` asks for another
    /// after it.
    fn bgsave(&self, schedule: bool) -> Result<&'static str, String>;
    /// When the last snapshot finished, Unix seconds (0: never).
    fn last_save(&self) -> u64;
    /// `INFO persistence` fields, in order.
    fn info(&self) -> Vec<(&'static str, String)>;
    /// CONFIG SET appendfsync.
    fn set_appendfsync(&self, policy: &str) -> Result<(), String>;
    /// Makes every acknowledged write as durable as `appendfsync` promises, now (an NBD
    /// FLUSH): under `everysec` an fsync of the log; under `always` they already are;
    /// under `no` the operator chose to leave it to the OS.
    fn flush(&self) -> BoxFuture<Result<(), String>>;
}
