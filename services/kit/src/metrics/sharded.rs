//! Counters and histograms split into per-thread cells and summed when scraped.
//!
//! prometheus-client's `Counter` is one atomic and its `Histogram` one mutex; a request recorded
//! on every server thread then moves those cache lines between cores on every request. Here each
//! thread writes a cell of its own (threads are dealt cells round-robin, so more threads than
//! cells only share some), and `/metrics` adds the cells up: the exposition is the same.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};

/// How many cells each metric has.
const CELLS: usize = 8;

/// The request-duration buckets (seconds); the last, `+Inf`, is implied.
pub(crate) const DURATION_BOUNDS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static NEXT_CELL: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static CELL: usize = NEXT_CELL.fetch_add(1, Ordering::Relaxed) % CELLS;
}

/// The cell the current thread writes.
pub(crate) fn this_threads_cell() -> usize {
    // A thread that is exiting has lost its index: any cell is correct, only slower.
    CELL.try_with(|c| *c).unwrap_or(0)
}

/// One cell's counter, alone on its cache lines.
#[derive(Debug, Default)]
#[repr(align(128))]
struct CounterCell(AtomicU64);

/// A monotonic counter with one cell per thread, exposed as a Prometheus counter.
#[derive(Debug, Clone, Default)]
pub struct ShardedCounter {
    cells: Arc<[CounterCell; CELLS]>,
}

impl ShardedCounter {
    /// Adds one, in the current thread's cell.
    pub fn inc(&self) {
        self.inc_in(this_threads_cell());
    }

    /// Adds one in cell `cell` (a caller that already knows its thread's cell).
    pub(crate) fn inc_in(&self, cell: usize) {
        self.cells[cell % CELLS].0.fetch_add(1, Ordering::Relaxed);
    }

    /// The sum over all cells.
    pub fn get(&self) -> u64 {
        self.cells
            .iter()
            .map(|c| c.0.load(Ordering::Relaxed))
            .fold(0, u64::wrapping_add)
    }
}

impl TypedMetric for ShardedCounter {
    const TYPE: MetricType = MetricType::Counter;
}

impl EncodeMetric for ShardedCounter {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_counter::<NoLabelSet, _, u64>(&self.get(), None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// One cell of a [`DurationHistogram`]: the sum (as `f64` bits) and a count per bucket.
#[derive(Debug, Default)]
#[repr(align(128))]
struct HistogramCell {
    sum_bits: AtomicU64,
    buckets: [AtomicU64; DURATION_BOUNDS.len() + 1],
}

/// A histogram over [`DURATION_BOUNDS`] with one cell per thread, exposed as a Prometheus
/// histogram.
#[derive(Debug, Clone, Default)]
pub(crate) struct DurationHistogram {
    cells: Arc<[HistogramCell; CELLS]>,
}

impl DurationHistogram {
    /// Records `v` in cell `cell`.
    pub(crate) fn observe_in(&self, cell: usize, v: f64) {
        let cell = &self.cells[cell % CELLS];
        // The first bucket whose bound is at least `v`; NaN and values above every bound go
        // to `+Inf`, as in prometheus-client.
        let i = DURATION_BOUNDS
            .iter()
            .position(|bound| *bound >= v)
            .unwrap_or(DURATION_BOUNDS.len());
        cell.buckets[i].fetch_add(1, Ordering::Relaxed);
        // Almost always only this thread writes this cell, so the exchange succeeds first time.
        let _ = cell
            .sum_bits
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + v).to_bits())
            });
    }

    /// Sum, count and per-bucket counts (not cumulative) over all cells.
    fn snapshot(&self) -> (f64, u64, Vec<(f64, u64)>) {
        let mut sum = 0.0;
        let mut buckets: Vec<(f64, u64)> = DURATION_BOUNDS
            .iter()
            .copied()
            .chain(std::iter::once(f64::INFINITY))
            .map(|bound| (bound, 0))
            .collect();
        for cell in self.cells.iter() {
            sum += f64::from_bits(cell.sum_bits.load(Ordering::Relaxed));
            for (total, n) in buckets.iter_mut().zip(&cell.buckets) {
                total.1 += n.load(Ordering::Relaxed);
            }
        }
        // The count is the buckets' total, so `+Inf` and `_count` always agree in one scrape.
        let count = buckets.iter().map(|(_, n)| n).sum();
        (sum, count, buckets)
    }
}

impl TypedMetric for DurationHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for DurationHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let (sum, count, buckets) = self.snapshot();
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::encoding::text::encode;
    use prometheus_client::metrics::counter::Counter;
    use prometheus_client::metrics::histogram::Histogram;
    use prometheus_client::registry::Registry;

    fn render(register: impl FnOnce(&mut Registry)) -> String {
        let mut registry = Registry::default();
        register(&mut registry);
        let mut out = String::new();
        encode(&mut out, &registry).unwrap();
        out
    }

    #[test]
    fn cells_written_by_many_threads_are_summed() {
        let counter = ShardedCounter::default();
        let histogram = DurationHistogram::default();
        std::thread::scope(|s| {
            for t in 0..(CELLS + 3) {
                let (counter, histogram) = (&counter, &histogram);
                s.spawn(move || {
                    for _ in 0..1000 {
                        counter.inc();
                        histogram.observe_in(this_threads_cell(), 0.002 * t as f64);
                    }
                });
            }
        });
        assert_eq!(counter.get(), 1000 * (CELLS as u64 + 3));
        let (sum, count, buckets) = histogram.snapshot();
        assert_eq!(count, 1000 * (CELLS as u64 + 3));
        let expected_sum: f64 = (0..(CELLS + 3)).map(|t| 2.0 * t as f64).sum();
        assert!((sum - expected_sum).abs() < 1e-6, "{sum} vs {expected_sum}");
        assert_eq!(buckets[0], (0.001, 1000), "only thread 0 observed 0 s");
    }

    #[test]
    fn exposition_matches_prometheus_clients_own_metrics() {
        let values = [0.0005, 0.001, 0.003, 0.2, 7.0, 11.0, f64::NAN];
        let ours = render(|r| {
            let c = ShardedCounter::default();
            let h = DurationHistogram::default();
            for (i, v) in values.iter().enumerate() {
                c.inc_in(i);
                h.observe_in(i, if v.is_nan() { 20.0 } else { *v });
            }
            r.register("c", "a counter", c);
            r.register("h", "a histogram", h);
        });
        let theirs = render(|r| {
            let c = Counter::<u64>::default();
            let h = Histogram::new(DURATION_BOUNDS);
            for v in values {
                c.inc();
                h.observe(if v.is_nan() { 20.0 } else { v });
            }
            r.register("c", "a counter", c);
            r.register("h", "a histogram", h);
        });
        assert_eq!(ours, theirs);
    }
}
