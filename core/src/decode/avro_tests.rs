//! Unit tests of [`super`]: decoding, framing, poison and merging.

use super::*;
use arrow::array::AsArray;

/// The `Order` schema of `tests/harness/avro_tool.py`, and its record 2 as fastavro wrote
/// it (plain binary).
const ORDER: &str = include_str!("../../../tests/harness/order.avsc");
const RECORD_2: &str = "040e6f726465722d32e307000000000000e03f0000803e000402000402046e32040474320474320004026104026203000a6369747932a49c010202d0bf02a49f82e288d2a3069ca0d5edee66000000028c92f401e4adadf30eb4b0d787d067d49fcf82bcc9a9064830303030303030302d303030302d303030302d303030302d3030303030303033333233350204";

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn single_object_runs_are_fed_together_and_poison_among_them_is_found() {
    let schemas = Schemas::inline(ORDER).unwrap();
    let Schemas::Inline { fingerprint, .. } = &schemas else {
        unreachable!()
    };
    let mut good = vec![0xC3, 0x01];
    good.extend_from_slice(&fingerprint.to_le_bytes());
    good.extend_from_slice(&hex(RECORD_2));
    let truncated = &good[..good.len() - 4];
    let mut trailing = good.clone();
    trailing.extend_from_slice(&[0x02, 0x04]);
    let mut d = AvroDecoder::new(schemas, 1 << 20);
    let values = BinaryArray::from(vec![
        good.as_slice(),
        good.as_slice(),
        truncated,
        good.as_slice(),
        trailing.as_slice(),
        good.as_slice(),
        good.as_slice(),
    ]);
    for round in 0..2 {
        let out = d.decode(&values).unwrap();
        assert_eq!(out.rows, vec![0, 1, 3, 5, 6], "round {round}");
        let bad: Vec<u32> = out.failed.iter().map(|(r, _)| *r).collect();
        assert_eq!(bad, vec![2, 4], "round {round}: {:?}", out.failed);
        assert_eq!(out.batch.unwrap().num_rows(), 5);
    }
    // A clean run is one call, and gives every row.
    let clean = BinaryArray::from(vec![good.as_slice(); 100]);
    let out = d.decode(&clean).unwrap();
    assert_eq!(out.rows.len(), 100);
    assert!(out.failed.is_empty());
}

#[test]
fn plain_binary_decodes_every_type_and_poison_is_set_aside() {
    let mut d = AvroDecoder::new(Schemas::inline(ORDER).unwrap(), 1 << 20);
    let good = hex(RECORD_2);
    let values = BinaryArray::from(vec![
        good.as_slice(),
        &good[..good.len() / 2],
        good.as_slice(),
    ]);
    let out = d.decode(&values).unwrap();
    assert_eq!(out.rows, vec![0, 2]);
    assert_eq!(out.failed.len(), 1, "{:?}", out.failed);
    let b = out.batch.unwrap();
    let attrs = b.column_by_name("attrs").unwrap().as_map();
    assert_eq!(attrs.value(0).len(), 2, "{:?}", b.schema());
    let colour = b.column_by_name("colour").unwrap();
    assert_eq!(colour.as_string::<i32>().value(0), "BLUE");
}

mod union_tests {
    use super::*;
    use arrow::array::AsArray;

    const UNION: &str = r#"{"type": "record", "name": "U", "fields": [{"name": "alt", "type": ["long", "string"]}]}"#;

    fn value(i: i64) -> Vec<u8> {
        if i % 2 == 0 {
            vec![0x00, (i * 2) as u8]
        } else {
            vec![0x02, 0x04, b's', b'0' + i as u8]
        }
    }

    #[test]
    fn general_unions_decode_across_batches() {
        let mut d = AvroDecoder::new(Schemas::inline(UNION).unwrap(), 1 << 20);
        for round in 0..3 {
            let vals: Vec<Vec<u8>> = (0..5).map(value).collect();
            let refs: Vec<&[u8]> = vals.iter().map(|v| v.as_slice()).collect();
            let out = d
                .decode(&BinaryArray::from(refs))
                .unwrap_or_else(|e| panic!("round {round}: {e}"));
            assert_eq!(out.failed, vec![], "round {round}");
            let b = out.batch.unwrap();
            assert_eq!(b.num_rows(), 5, "round {round}");
            let st = b.column(0).as_struct();
            assert_eq!(st.num_columns(), 2, "{:?}", b.schema());
        }
    }
}

#[cfg(test)]
mod logical_type_tests {
    use super::*;
    use arrow::array::AsArray;
    use arrow::datatypes::{DataType, Time64MicrosecondType, TimeUnit, TimestampMicrosecondType};

    const SCHEMA: &str = r#"{"type": "record", "name": "L", "fields": [
    {"name": "code", "type": {"type": "fixed", "name": "Code", "size": 4}},
    {"name": "tod_ms", "type": {"type": "int", "logicalType": "time-millis"}},
    {"name": "tod_us", "type": {"type": "long", "logicalType": "time-micros"}},
    {"name": "lts_ms", "type": {"type": "long", "logicalType": "local-timestamp-millis"}},
    {"name": "lts_us", "type": {"type": "long", "logicalType": "local-timestamp-micros"}},
    {"name": "uid", "type": {"type": "string", "logicalType": "uuid"}}]}"#;
    const UUID: &str = "123e4567-e89b-12d3-a456-426614174000";

    /// Avro's zigzag varint of `n`.
    fn long(n: i64, out: &mut Vec<u8>) {
        let mut z = ((n << 1) ^ (n >> 63)) as u64;
        while z >= 0x80 {
            out.push((z as u8) | 0x80);
            z >>= 7;
        }
        out.push(z as u8);
    }

    #[test]
    fn fixed_times_local_timestamps_and_uuids_take_the_types_the_sinks_hold() {
        let mut v = vec![1, 2, 3, 4];
        long(3_600_000, &mut v);
        long(3_600_000_123, &mut v);
        long(1_767_225_600_000, &mut v);
        long(1_767_225_600_000_001, &mut v);
        long(UUID.len() as i64, &mut v);
        v.extend_from_slice(UUID.as_bytes());
        let mut d = AvroDecoder::new(Schemas::inline(SCHEMA).unwrap(), 1 << 20);
        let out = d.decode(&BinaryArray::from(vec![v.as_slice()])).unwrap();
        assert_eq!(out.failed, vec![]);
        let b = out.batch.unwrap();
        let col = |n: &str| b.column_by_name(n).unwrap();
        assert_eq!(col("code").as_binary::<i32>().value(0), &[1, 2, 3, 4]);
        let micros = DataType::Time64(TimeUnit::Microsecond);
        assert_eq!(col("tod_ms").data_type(), &micros);
        assert_eq!(
            col("tod_ms")
                .as_primitive::<Time64MicrosecondType>()
                .value(0),
            3_600_000_000
        );
        assert_eq!(
            col("tod_us")
                .as_primitive::<Time64MicrosecondType>()
                .value(0),
            3_600_000_123
        );
        for (name, want) in [
            ("lts_ms", 1_767_225_600_000_000),
            ("lts_us", 1_767_225_600_000_001),
        ] {
            assert_eq!(
                col(name).data_type(),
                &DataType::Timestamp(TimeUnit::Microsecond, None),
                "{name}"
            );
            assert_eq!(
                col(name)
                    .as_primitive::<TimestampMicrosecondType>()
                    .value(0),
                want,
                "{name}"
            );
        }
        assert_eq!(col("uid").as_string::<i32>().value(0), UUID);
    }
}
