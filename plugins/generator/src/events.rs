//! The event model: event `i` as a pure function of `(seed, i)`, built column-wise.

use std::sync::Arc;
use weir_sdk::arrow::array::{
    ArrayRef, Float64Builder, Int32Builder, Int64Builder, StringBuilder, StructArray,
    TimestampMicrosecondBuilder,
};
use weir_sdk::arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use weir_sdk::arrow::error::ArrowError;
use weir_sdk::arrow::record_batch::RecordBatch;

const COUNTRIES: [&str; 8] = ["US", "DE", "IN", "BR", "JP", "FR", "GB", "NG"];
const OSES: [&str; 3] = ["ios", "android", "web"];
/// 2026-01-01T00:00:00Z in microseconds.
const EPOCH_US: i64 = 1_767_225_600_000_000;

/// splitmix64: a fast, well-mixed hash of one word.
pub(crate) fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// One event's values (used by the builders, and by tests to check what a sink wrote).
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub id: i64,
    pub ts_us: i64,
    pub user_id: i64,
    pub email: String,
    pub phone: String,
    pub amount: f64,
    pub country: &'static str,
    pub os: &'static str,
    pub version: i32,
}

/// Event `id` of the stream seeded with `seed`: what the generator emits at position `id`.
pub fn event(seed: u64, id: i64) -> Event {
    let h = mix(seed ^ mix(id as u64));
    let user_id = (h % 100_000) as i64;
    let h2 = mix(h);
    Event {
        id,
        ts_us: EPOCH_US + id * 1_000_000 + (h2 % 1_000_000) as i64,
        user_id,
        email: format!("user{user_id}@example.com"),
        phone: format!("+1-555-{:03}-{:04}", (h2 >> 20) % 1000, (h2 >> 40) % 10_000),
        amount: ((h2 >> 8) % 10_000_000) as f64 / 100.0,
        country: COUNTRIES[(h % COUNTRIES.len() as u64) as usize],
        os: OSES[((h2 >> 4) % OSES.len() as u64) as usize],
        version: ((h2 >> 12) % 20) as i32 + 1,
    }
}

fn device_fields() -> Fields {
    Fields::from(vec![
        Field::new("os", DataType::Utf8, false),
        Field::new("version", DataType::Int32, false),
    ])
}

/// The generator's schema.
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("user_id", DataType::Int64, false),
        Field::new("email", DataType::Utf8, false),
        Field::new("phone", DataType::Utf8, false),
        Field::new("amount", DataType::Float64, false),
        Field::new("country", DataType::Utf8, false),
        Field::new("device", DataType::Struct(device_fields()), false),
    ]))
}

/// Events `from..from+n` as one batch.
pub fn batch(seed: u64, from: i64, n: usize) -> Result<RecordBatch, ArrowError> {
    let mut id = Int64Builder::with_capacity(n);
    let mut ts = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut user = Int64Builder::with_capacity(n);
    let mut email = StringBuilder::with_capacity(n, n * 24);
    let mut phone = StringBuilder::with_capacity(n, n * 15);
    let mut amount = Float64Builder::with_capacity(n);
    let mut country = StringBuilder::with_capacity(n, n * 2);
    let mut os = StringBuilder::with_capacity(n, n * 7);
    let mut version = Int32Builder::with_capacity(n);
    for i in from..from + n as i64 {
        let e = event(seed, i);
        id.append_value(e.id);
        ts.append_value(e.ts_us);
        user.append_value(e.user_id);
        email.append_value(&e.email);
        phone.append_value(&e.phone);
        amount.append_value(e.amount);
        country.append_value(e.country);
        os.append_value(e.os);
        version.append_value(e.version);
    }
    let device = StructArray::try_new(
        device_fields(),
        vec![
            Arc::new(os.finish()) as ArrayRef,
            Arc::new(version.finish()),
        ],
        None,
    )?;
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(id.finish()),
            Arc::new(ts.finish()),
            Arc::new(user.finish()),
            Arc::new(email.finish()),
            Arc::new(phone.finish()),
            Arc::new(amount.finish()),
            Arc::new(country.finish()),
            Arc::new(device),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_sdk::arrow::array::{Array, Int64Array, StringArray};

    #[test]
    fn events_are_a_function_of_seed_and_id() {
        assert_eq!(event(1, 42), event(1, 42));
        assert_ne!(event(1, 42), event(2, 42));
        let b = batch(1, 40, 5).unwrap();
        assert_eq!(b.num_rows(), 5);
        let ids = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(ids.values().to_vec(), vec![40, 41, 42, 43, 44]);
        let emails = b.column(3).as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(emails.value(2), event(1, 42).email);
        assert_eq!(b.column(7).null_count(), 0);
    }
}
