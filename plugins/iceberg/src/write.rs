//! Writing a batch (already in the table's schema, as iceberg-rust's Arrow) as Parquet data
//! files under the table's location: one file per partition, rolling over at the target
//! size, named with a fresh UUIDv7 prefix so no two writes share a name.

use arrow58::record_batch::RecordBatch;
use iceberg::arrow::RecordBatchPartitionSplitter;
use iceberg::spec::{DataFile, DataFileFormat};
use iceberg::table::Table;
use iceberg::writer::base_writer::data_file_writer::DataFileWriterBuilder;
use iceberg::writer::file_writer::location_generator::{
    DefaultFileNameGenerator, DefaultLocationGenerator,
};
use iceberg::writer::file_writer::rolling_writer::RollingFileWriterBuilder;
use iceberg::writer::file_writer::ParquetWriterBuilder;
use iceberg::writer::partitioning::fanout_writer::FanoutWriter;
use iceberg::writer::partitioning::PartitioningWriter;
use iceberg::writer::{IcebergWriter, IcebergWriterBuilder};
use parquet58::basic::{Compression, ZstdLevel};
use parquet58::file::properties::WriterProperties;

/// Writes `batch` into data files of `table` (not yet committed).
pub(crate) async fn data_files(
    table: &Table,
    batch: RecordBatch,
    target_file_size: u64,
) -> iceberg::Result<Vec<DataFile>> {
    let md = table.metadata();
    let schema = md.current_schema().clone();
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    let rolling = RollingFileWriterBuilder::new(
        ParquetWriterBuilder::new(props, schema.clone()),
        usize::try_from(target_file_size).unwrap_or(usize::MAX),
        table.file_io().clone(),
        DefaultLocationGenerator::new(md)?,
        DefaultFileNameGenerator::new(
            format!("weir-{}", uuid::Uuid::now_v7()),
            None,
            DataFileFormat::Parquet,
        ),
    );
    let builder = DataFileWriterBuilder::new(rolling);
    if md.default_partition_spec().is_unpartitioned() {
        let mut w = builder.build(None).await?;
        w.write(batch).await?;
        return w.close().await;
    }
    let splitter = RecordBatchPartitionSplitter::try_new_with_computed_values(
        schema,
        md.default_partition_spec().clone(),
    )?;
    let mut w = FanoutWriter::new(builder);
    for (key, part) in splitter.split(&batch)? {
        w.write(key, part).await?;
    }
    w.close().await
}
