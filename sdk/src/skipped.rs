//! Records a source can no longer deliver: the broker's retention removed them past the
//! position the source resumes from (a NATS stream's limits, a Kafka topic's retention).
//!
//! A source calls [`records_skipped`]; the host logs a WARN naming the key and the count and
//! adds the count to `weir_records_skipped_total{pipeline,key}`. The report travels as a log
//! event with the target [`RECORDS_SKIPPED`] and a fixed message form, so it needs nothing of
//! the ABI beyond the log callback every plugin already has.

/// The log target of a records-skipped report.
pub const RECORDS_SKIPPED: &str = "weir::records_skipped";

/// Reports `count` records of substream `key` that were removed before they could be read;
/// `why` says by what (e.g. "the stream's retention removed sequences 101..1000").
///
/// ```
/// weir_sdk::records_skipped("EVENTS", 900, "the stream's first sequence is 1001, the stored position 101");
/// ```
pub fn records_skipped(key: &str, count: u64, why: &str) {
    tracing::warn!(target: RECORDS_SKIPPED, "{count} records skipped on {key}: {why}");
}

/// The key and count of a records-skipped message, as [`records_skipped`] writes it.
pub(crate) fn parse(message: &str) -> Option<(&str, u64)> {
    let (count, rest) = message.split_once(" records skipped on ")?;
    let (key, _) = rest.split_once(": ")?;
    Some((key, count.trim().parse().ok()?))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_message_form_parses_back() {
        assert_eq!(
            super::parse("900 records skipped on EVENTS: retention"),
            Some(("EVENTS", 900))
        );
        assert_eq!(super::parse("something else"), None);
    }
}
