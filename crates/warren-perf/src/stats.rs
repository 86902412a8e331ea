//! Loss/order tracking per stream, latency histograms, and process memory readings.

use anyhow::{Context, Result};
use serde::Serialize;

/// One stream as seen by one consumer: which sequence numbers arrived, in what order.
#[derive(Debug, Default, Clone)]
pub struct Track {
    /// Highest sequence number seen + 1 (0 = none yet).
    next: u64,
    pub received: u64,
    pub reordered: u64,
    pub duplicates: u64,
    bits: Vec<u64>,
}

impl Track {
    #[inline]
    pub fn record(&mut self, seq: u64) {
        let w = (seq >> 6) as usize;
        if w >= self.bits.len() {
            let want = (w + 1).max(self.bits.len() * 2).max(1024);
            self.bits.resize(want, 0);
        }
        let m = 1u64 << (seq & 63);
        // SAFETY-free fast path: index checked by the resize above.
        let slot = &mut self.bits[w];
        if *slot & m != 0 {
            self.duplicates += 1;
            return;
        }
        *slot |= m;
        self.received += 1;
        if seq + 1 < self.next {
            self.reordered += 1;
        } else {
            self.next = seq + 1;
        }
    }

    /// Merge another consumer's view of the same stream: messages both saw count as duplicates.
    pub fn merge(&mut self, other: &Track) {
        if other.bits.len() > self.bits.len() {
            self.bits.resize(other.bits.len(), 0);
        }
        let mut both = 0u64;
        for (a, b) in self.bits.iter_mut().zip(&other.bits) {
            both += u64::from((*a & *b).count_ones());
            *a |= *b;
        }
        self.received += other.received - both;
        self.duplicates += other.duplicates + both;
        self.reordered += other.reordered;
        self.next = self.next.max(other.next);
    }
}

/// Log-linear histogram: 64 sub-buckets per power of two (error under 1.6%), any u64.
#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    pub total: u64,
    pub max: u64,
    sum: u128,
}

const SUB_BITS: u32 = 6;
const SUB: u64 = 1 << SUB_BITS;

impl Default for Histogram {
    fn default() -> Self {
        Self {
            counts: vec![0; ((64 - SUB_BITS as usize) + 1) * SUB as usize],
            total: 0,
            max: 0,
            sum: 0,
        }
    }
}

impl Histogram {
    #[inline]
    fn index(v: u64) -> usize {
        if v < SUB {
            v as usize
        } else {
            let msb = 63 - v.leading_zeros();
            let shift = msb - SUB_BITS;
            let sub = (v >> shift) & (SUB - 1);
            ((shift as usize + 1) << SUB_BITS) + sub as usize
        }
    }

    /// The middle of bucket `i`.
    fn value(i: usize) -> u64 {
        if (i as u64) < SUB {
            i as u64
        } else {
            let shift = (i >> SUB_BITS) as u32 - 1;
            let sub = (i as u64) & (SUB - 1);
            ((SUB + sub) << shift) + ((1u64 << shift) >> 1)
        }
    }

    #[inline]
    pub fn record(&mut self, v: u64) {
        self.record_n(v, 1);
    }

    #[inline]
    pub fn record_n(&mut self, v: u64, n: u64) {
        self.counts[Self::index(v)] += n;
        self.total += n;
        self.sum += u128::from(v) * u128::from(n);
        if v > self.max {
            self.max = v;
        }
    }

    pub fn merge(&mut self, o: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&o.counts) {
            *a += *b;
        }
        self.total += o.total;
        self.sum += o.sum;
        self.max = self.max.max(o.max);
    }

    /// The value at quantile `q` (0..=1), or 0 if empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Self::value(i).min(self.max);
            }
        }
        self.max
    }

    pub fn mean(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.sum as f64 / self.total as f64
        }
    }
}

/// Latency summary in microseconds.
#[derive(Debug, Clone, Serialize, Default)]
pub struct LatencyUs {
    pub samples: u64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl LatencyUs {
    pub fn from_histogram(h: &Histogram) -> Self {
        let us = |ns: u64| (ns as f64 / 100.0).round() / 10.0;
        Self {
            samples: h.total,
            mean: (h.mean() / 100.0).round() / 10.0,
            p50: us(h.quantile(0.5)),
            p90: us(h.quantile(0.9)),
            p99: us(h.quantile(0.99)),
            p999: us(h.quantile(0.999)),
            max: us(h.max),
        }
    }

    /// Exact percentiles from raw nanosecond samples (sorted in place).
    pub fn exact(samples: &mut [u64]) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        samples.sort_unstable();
        let n = samples.len();
        let at = |q: f64| {
            let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
            samples[rank - 1]
        };
        let us = |ns: u64| (ns as f64 / 100.0).round() / 10.0;
        let sum: u128 = samples.iter().map(|&v| u128::from(v)).sum();
        Self {
            samples: n as u64,
            mean: ((sum as f64 / n as f64) / 100.0).round() / 10.0,
            p50: us(at(0.5)),
            p90: us(at(0.9)),
            p99: us(at(0.99)),
            p999: us(at(0.999)),
            max: us(samples[n - 1]),
        }
    }
}

/// VmRSS of a process in bytes (from /proc/PID/status).
pub fn rss_bytes(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let s = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    let line = s
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .with_context(|| format!("no VmRSS in {path}"))?;
    let kb: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .context("bad VmRSS")?;
    Ok(kb * 1024)
}

/// Open-file limits of another process (soft, from /proc/PID/limits), if readable.
pub fn nofile_limit_of(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let line = s.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

#[repr(C)]
struct RLimit {
    cur: u64,
    max: u64,
}

extern "C" {
    fn getrlimit(resource: i32, rlim: *mut RLimit) -> i32;
    fn setrlimit(resource: i32, rlim: *const RLimit) -> i32;
}

const RLIMIT_NOFILE: i32 = 7;

/// Raise this process's open-file soft limit towards `want` (up to the hard limit).
/// Returns the resulting soft limit.
pub fn raise_nofile(want: u64) -> u64 {
    let mut lim = RLimit { cur: 0, max: 0 };
    // SAFETY: plain libc calls with a properly laid-out struct (x86_64/aarch64 Linux: two u64).
    unsafe {
        if getrlimit(RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        if lim.cur < want {
            let new = RLimit {
                cur: want.min(lim.max),
                max: lim.max,
            };
            if setrlimit(RLIMIT_NOFILE, &new) == 0 {
                lim.cur = new.cur;
            }
        }
    }
    lim.cur
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn track_counts_loss_reorder_and_duplicates() {
        let mut t = Track::default();
        for s in [0, 1, 2, 4, 3, 3, 5] {
            t.record(s);
        }
        assert_eq!(t.received, 6);
        assert_eq!(t.reordered, 1);
        assert_eq!(t.duplicates, 1);
        let mut u = Track::default();
        for s in [5, 6, 7] {
            u.record(s);
        }
        t.merge(&u);
        assert_eq!(t.received, 8);
        assert_eq!(t.duplicates, 2);
    }

    #[test]
    fn histogram_quantiles_are_close() {
        let mut h = Histogram::default();
        for v in 1..=100_000u64 {
            h.record(v * 10);
        }
        let p50 = h.quantile(0.5) as f64;
        assert!((p50 - 500_000.0).abs() / 500_000.0 < 0.02, "{p50}");
        let p99 = h.quantile(0.99) as f64;
        assert!((p99 - 990_000.0).abs() / 990_000.0 < 0.02, "{p99}");
        assert_eq!(h.max, 1_000_000);
        for v in 0..64 {
            assert_eq!(Histogram::value(Histogram::index(v)), v);
        }
        let mut s = vec![5u64, 1, 3, 2, 4];
        let l = LatencyUs::exact(&mut s);
        assert_eq!(l.samples, 5);
    }

    #[test]
    fn reads_own_rss() {
        assert!(rss_bytes(std::process::id()).unwrap() > 0);
        assert!(raise_nofile(64) >= 64);
    }
}
