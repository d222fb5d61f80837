//! Event loops: one single-threaded tokio runtime per worker thread. Each serves its
//! own connections start to finish (its own listening socket via SO_REUSEPORT), so a
//! request never hops between threads and no thread wakes another to hand work over.

use std::io;
use std::thread::JoinHandle;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// A single-threaded runtime as every event loop of the node runs: when it has
/// nothing left to do and is about to sleep, it first runs the fsyncs that
/// `appendfsync always` owes (as Redis does before its event loop sleeps), so one
/// fsync covers every request the iteration processed.
pub fn event_loop() -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .on_thread_park(okapi_raft::before_park)
        .build()
}

/// Extra event-loop threads beside the caller's own runtime.
pub struct Workers {
    handles: Vec<Handle>,
    threads: Vec<(oneshot::Sender<()>, JoinHandle<()>)>,
}

impl Workers {
    /// Starts `count` threads, each running a current-thread runtime until [`Workers::stop`].
    pub fn spawn(count: usize) -> io::Result<Self> {
        let mut handles = Vec::with_capacity(count);
        let mut threads = Vec::with_capacity(count);
        for i in 0..count {
            let runtime = event_loop()?;
            handles.push(runtime.handle().clone());
            let (stop, stopped) = oneshot::channel::<()>();
            let thread = std::thread::Builder::new()
                .name(format!("okapi-loop-{}", i + 1))
                .spawn(move || {
                    runtime.block_on(async {
                        let _ = stopped.await;
                    });
                })?;
            threads.push((stop, thread));
        }
        Ok(Self { handles, threads })
    }

    /// Handles of the worker runtimes.
    pub fn handles(&self) -> &[Handle] {
        &self.handles
    }

    /// Stops every worker thread and waits for it.
    pub fn stop(self) {
        for (stop, thread) in self.threads {
            let _ = stop.send(());
            let _ = thread.join();
        }
    }
}

/// Number of event loops for `configured`; 0 picks half the cores (at least one). All
/// loops share one engine lock today, so loops beyond that mostly add contention, and
/// the kernel's network stack needs CPU too: on 2 cores one loop measured faster than
/// two for unpipelined clients, and equal with pipelining.
pub fn loop_count(configured: usize) -> usize {
    if configured > 0 {
        return configured;
    }
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
}
