//! Server-wide counters for INFO stats, and the ops-per-second sampler.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters updated by connections (relaxed atomics: they are statistics).
#[derive(Debug, Default)]
pub struct Stats {
    /// Connections accepted.
    pub connections: AtomicU64,
    /// Connections refused (maxclients).
    pub rejected: AtomicU64,
    /// Commands processed.
    pub commands: AtomicU64,
    /// Error replies sent.
    pub errors: AtomicU64,
    /// Bytes read from clients.
    pub net_input: AtomicU64,
    /// Bytes written to clients.
    pub net_output: AtomicU64,
    /// PUBLISH deliveries.
    pub pubsub_messages: AtomicU64,
    /// Recent command counts for instantaneous_ops_per_sec.
    samples: Mutex<Samples>,
}

#[derive(Debug, Default)]
struct Samples {
    ring: [u64; 16],
    next: usize,
    last_commands: u64,
    last_ms: u64,
}

impl Stats {
    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// Records a sample of the command counter (called by the background task).
    pub fn sample(&self, now_ms: u64) {
        let commands = Self::get(&self.commands);
        let mut s = self
            .samples
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if s.last_ms != 0 && now_ms > s.last_ms {
            let rate = (commands - s.last_commands) * 1000 / (now_ms - s.last_ms);
            let slot = s.next;
            s.ring[slot] = rate;
            s.next = (slot + 1) % s.ring.len();
        }
        s.last_commands = commands;
        s.last_ms = now_ms;
    }

    /// Average of recent samples: commands per second.
    pub fn ops_per_sec(&self) -> u64 {
        let s = self
            .samples
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        s.ring.iter().sum::<u64>() / s.ring.len() as u64
    }

    /// Resets counters (CONFIG RESETSTAT).
    pub fn reset(&self) {
        for c in [
            &self.connections,
            &self.rejected,
            &self.commands,
            &self.errors,
            &self.net_input,
            &self.net_output,
            &self.pubsub_messages,
        ] {
            c.store(0, Ordering::Relaxed);
        }
    }
}
