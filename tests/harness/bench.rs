//! What the benches share: the Arrow size of the generator's rows, the median of rounds, and
//! CPU seconds and peak RSS.

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

/// CPU seconds (user + system) and peak RSS (MB) so far, of this process
/// (`libc::RUSAGE_SELF`) or its waited-for children (`libc::RUSAGE_CHILDREN`).
pub fn usage(who: i32) -> (f64, f64) {
    // SAFETY: getrusage(2) fills the struct we own; no other memory is involved.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(who, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (
        tv(ru.ru_utime) + tv(ru.ru_stime),
        ru.ru_maxrss as f64 / 1024.0,
    )
}
