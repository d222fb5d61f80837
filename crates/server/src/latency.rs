//! The latency monitor (LATENCY LATEST/HISTORY/RESET/GRAPH/DOCTOR): for each event
//! class, the latest 160 per-second maxima of the latencies that reached
//! `latency-monitor-threshold`, and the all-time maximum, as Redis keeps them. okapi
//! samples the events its requests show: `command` (a slow command) and
//! `fast-command` (a command flagged fast that still took long).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};

/// Samples kept per event (Redis's `LATENCY_TS_LEN`).
const SAMPLES: usize = 160;

#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    /// Unix seconds (0: empty).
    time: u64,
    /// Milliseconds.
    latency: u64,
}

#[derive(Debug)]
struct Series {
    samples: [Sample; SAMPLES],
    next: usize,
    max: u64,
}

impl Default for Series {
    fn default() -> Self {
        Self {
            samples: [Sample::default(); SAMPLES],
            next: 0,
            max: 0,
        }
    }
}

impl Series {
    fn last(&self) -> Sample {
        self.samples[(self.next + SAMPLES - 1) % SAMPLES]
    }

    /// The samples, oldest first.
    fn ordered(&self) -> impl Iterator<Item = Sample> + '_ {
        (0..SAMPLES)
            .map(move |j| self.samples[(self.next + j) % SAMPLES])
            .filter(|s| s.time != 0)
    }
}

/// The node's latency events.
#[derive(Debug, Default)]
pub struct LatencyMonitor {
    events: Mutex<BTreeMap<&'static str, Series>>,
}

impl LatencyMonitor {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<&'static str, Series>> {
        self.events.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records `latency_ms` of `event` at Unix second `now` (`latencyAddSample`): one
    /// sample per second, the largest.
    pub fn add(&self, event: &'static str, latency_ms: u64, now: u64) {
        let mut events = self.lock();
        let series = events.entry(event).or_default();
        series.max = series.max.max(latency_ms);
        let prev = (series.next + SAMPLES - 1) % SAMPLES;
        if series.samples[prev].time == now {
            let sample = &mut series.samples[prev];
            sample.latency = sample.latency.max(latency_ms);
            return;
        }
        series.samples[series.next] = Sample {
            time: now,
            latency: latency_ms,
        };
        series.next = (series.next + 1) % SAMPLES;
    }

    /// LATENCY LATEST: `(event, time, latest ms, max ms)` per event.
    pub fn latest(&self) -> Vec<(&'static str, u64, u64, u64)> {
        self.lock()
            .iter()
            .map(|(event, s)| {
                let last = s.last();
                (*event, last.time, last.latency, s.max)
            })
            .collect()
    }

    /// LATENCY HISTORY: `(time, ms)` of `event`, oldest first.
    pub fn history(&self, event: &[u8]) -> Vec<(u64, u64)> {
        self.lock()
            .iter()
            .find(|(name, _)| name.as_bytes() == event)
            .map(|(_, s)| s.ordered().map(|x| (x.time, x.latency)).collect())
            .unwrap_or_default()
    }

    /// LATENCY RESET: forgets `events` (all when empty); how many were known.
    pub fn reset(&self, events: &[&[u8]]) -> usize {
        let mut all = self.lock();
        if events.is_empty() {
            let n = all.len();
            all.clear();
            return n;
        }
        let before = all.len();
        all.retain(|name, _| !events.contains(&name.as_bytes()));
        before - all.len()
    }

    /// LATENCY GRAPH: an ASCII graph of `event`'s samples, or `None` without any.
    pub fn graph(&self, event: &[u8]) -> Option<String> {
        let events = self.lock();
        let (name, series) = events.iter().find(|(name, _)| name.as_bytes() == event)?;
        let samples: Vec<Sample> = series.ordered().collect();
        let high = samples.iter().map(|s| s.latency).max().unwrap_or(0);
        let low = samples.iter().map(|s| s.latency).min().unwrap_or(0);
        let mut out = format!(
            "{name} - high {high} ms, low {low} ms (all time high {} ms)\n",
            series.max
        );
        out.push_str(&"-".repeat(80));
        out.push('\n');
        // Four rows of bars, the tallest sample reaching the top; each column one
        // sample, newest last (Redis draws a sparkline the same way).
        const ROWS: u64 = 4;
        for row in (1..=ROWS).rev() {
            for s in &samples {
                let height = if high == 0 {
                    0
                } else {
                    (s.latency * ROWS).div_ceil(high)
                };
                out.push(if height >= row { '#' } else { ' ' });
            }
            out.push('\n');
        }
        Some(out)
    }

    /// LATENCY DOCTOR: a short report of every event.
    pub fn doctor(&self, threshold_ms: u64) -> String {
        let events = self.lock();
        if events.is_empty() {
            return if threshold_ms == 0 {
                "The latency monitor is disabled (latency-monitor-threshold is 0): \
                 CONFIG SET latency-monitor-threshold <milliseconds> enables it.\n"
                    .to_owned()
            } else {
                "Dave, no latency spike was observed during the lifetime of this okapi \
                 instance, not in the slightest bit.\n"
                    .to_owned()
            };
        }
        let mut out =
            String::from("Dave, I have observed latency spikes in this okapi instance.\n\n");
        for (i, (name, series)) in events.iter().enumerate() {
            let samples: Vec<Sample> = series.ordered().collect();
            let sum: u64 = samples.iter().map(|s| s.latency).sum();
            let avg = sum / samples.len().max(1) as u64;
            let _ = writeln!(
                out,
                "{}. {name}: {} latency spikes (average {avg}ms, all time max {}ms).",
                i + 1,
                samples.len(),
                series.max
            );
        }
        out.push_str(
            "\nI have a few advices for you:\n- Check SLOWLOG GET for the commands that \
             took long, and INFO commandstats for where time goes per command.\n",
        );
        out
    }
}

/// LATENCY HISTOGRAM's buckets: powers of two microseconds, as Redis's log iteration
/// of its histograms reports them.
pub const BUCKETS: usize = 40;

/// The bucket of a request that took `usec` µs: the smallest power of two (in µs)
/// not below it.
pub fn bucket(usec: u64) -> usize {
    let bits = (64 - usec.max(1).saturating_sub(1).leading_zeros()) as usize;
    bits.min(BUCKETS - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_sample_per_second_the_largest() {
        let m = LatencyMonitor::default();
        m.add("command", 12, 100);
        m.add("command", 30, 100);
        m.add("command", 5, 100);
        m.add("command", 7, 101);
        assert_eq!(m.history(b"command"), vec![(100, 30), (101, 7)]);
        assert_eq!(m.latest(), vec![("command", 101, 7, 30)]);
        for t in 0..200 {
            m.add("fast-command", t, 1000 + t);
        }
        assert_eq!(m.history(b"fast-command").len(), SAMPLES);
        assert_eq!(m.history(b"fast-command")[0], (1040, 40), "the oldest went");
        assert!(
            m.graph(b"command")
                .expect("samples")
                .starts_with("command - high 30 ms")
        );
        assert!(m.graph(b"nothing").is_none());
        assert_eq!(m.reset(&[b"command", b"nothing"]), 1);
        assert_eq!(m.reset(&[]), 1);
        assert!(m.latest().is_empty());
    }

    #[test]
    fn histogram_buckets_are_powers_of_two() {
        assert_eq!(bucket(0), 0);
        assert_eq!(bucket(1), 0);
        assert_eq!(bucket(2), 1);
        assert_eq!(bucket(3), 2);
        assert_eq!(bucket(4), 2);
        assert_eq!(bucket(5), 3);
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
    }
}
