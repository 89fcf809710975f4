//! What the benches share: the Arrow size of the generator's rows and the median of rounds.

use std::time::Duration;

/// The Arrow size of generator rows `0..rows` (seed 1) in batches of 10 000: the bytes a
/// generator bench writes, for its MB/s.
pub fn generator_arrow_bytes(rows: i64) -> usize {
    (0..rows / 10_000)
        .map(|i| {
            weir_plugin_generator::events::batch(1, i * 10_000, 10_000)
                .expect("batch")
                .get_array_memory_size()
        })
        .sum()
}

/// The median of the rounds' durations.
pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}
