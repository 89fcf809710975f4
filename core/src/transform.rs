//! The per-batch work between the batcher and the sink (DESIGN.md section 2, steps 3 to 5):
//! decode broker envelopes, shape, mask, and cast `type_hints` on typed batches.

use crate::decode::{DecodeConfig, Decoded, Decoder};
use crate::mask::Masker;
use arrow::array::ArrayRef;
use arrow::compute::cast;
use arrow::datatypes::{Field, Schema};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use std::sync::Arc;

/// What to do with a value that does not decode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnError {
    /// Write it to the dead-letter destination and go on (the default).
    #[default]
    DeadLetter,
    /// Stop the pipeline (`on_error: fail`); positions stay before the batch.
    Fail,
}

/// The shaping a manifest asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TransformSpec {
    /// Decoding.
    pub decode: DecodeConfig,
    /// `mask`: (column, "algorithm[:param]") in manifest order.
    pub mask: Vec<(String, String)>,
    /// The key of the deterministic masks (`uuid`, `sequential`): `WEIR_MASK_KEY`, else derived
    /// from the pipeline's name, so a restart or another replica gives the same tokens.
    pub mask_key: Vec<u8>,
    /// `on_error`.
    pub on_error: OnError,
    /// `dead_letter`: (address, scheme).
    pub dead_letter: Option<(String, String)>,
}

/// Why a batch could not be transformed.
#[derive(Debug, thiserror::Error)]
pub enum TransformError {
    /// Arrow refused an operation.
    #[error("{0}")]
    Arrow(#[from] ArrowError),
    /// Masking failed.
    #[error("mask: {0}")]
    Mask(String),
    /// A value did not decode and `on_error: fail` is set.
    #[error("{0} (on_error: fail)")]
    Undecodable(String),
}

/// The running transform of one pipeline.
pub struct Transform {
    decoder: Decoder,
    masker: Option<Masker>,
    spec: TransformSpec,
}

impl Transform {
    /// Builds it; mask specs were checked when the manifest was read.
    pub fn new(spec: TransformSpec) -> Result<Self, TransformError> {
        let masker = if spec.mask.is_empty() {
            None
        } else {
            Some(
                Masker::parse_all(&spec.mask, &spec.mask_key).map_err(|errs| {
                    TransformError::Mask(
                        errs.iter()
                            .map(|(c, e)| format!("{c}: {e}"))
                            .collect::<Vec<_>>()
                            .join("; "),
                    )
                })?,
            )
        };
        Ok(Self {
            decoder: Decoder::new(spec.decode.clone()),
            masker,
            spec,
        })
    }

    /// Decodes, masks and casts one micro-batch.
    pub fn apply(&mut self, batch: RecordBatch) -> Result<Decoded, TransformError> {
        let decoded = self.decoder.decode(batch)?;
        if self.spec.on_error == OnError::Fail {
            if let Some(dead) = &decoded.dead {
                let why = dead
                    .column_by_name("_error")
                    .and_then(|c| {
                        c.as_any()
                            .downcast_ref::<arrow::array::StringArray>()
                            .map(|s| s.value(0).to_string())
                    })
                    .unwrap_or_else(|| "a value did not decode".into());
                return Err(TransformError::Undecodable(why));
            }
        }
        let batch = match decoded.batch {
            None => None,
            Some(b) => {
                let b = match &self.masker {
                    Some(m) => m
                        .apply(&b)
                        .map_err(|e| TransformError::Mask(e.to_string()))?,
                    None => b,
                };
                Some(self.cast_hints(b)?)
            }
        };
        Ok(Decoded {
            batch,
            dead: decoded.dead,
        })
    }

    /// Casts hinted columns of typed batches (decoded ones already have the hinted types).
    fn cast_hints(&self, batch: RecordBatch) -> Result<RecordBatch, ArrowError> {
        if self.spec.decode.type_hints.is_empty() {
            return Ok(batch);
        }
        let schema = batch.schema();
        let mut fields: Vec<Field> = Vec::with_capacity(schema.fields().len());
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
        let mut changed = false;
        for (f, c) in schema.fields().iter().zip(batch.columns()) {
            let hinted = self.spec.decode.type_hints.get(f.name()).or_else(|| {
                self.spec
                    .decode
                    .type_hints
                    .get(&self.spec.decode.naming.apply(f.name()))
            });
            match hinted.map(|h| h.data_type()) {
                Some(t) if &t != f.data_type() => {
                    let cast_col = cast(c, &t)?;
                    fields.push(Field::new(f.name(), t, true));
                    columns.push(cast_col);
                    changed = true;
                }
                _ => {
                    fields.push(f.as_ref().clone());
                    columns.push(c.clone());
                }
            }
        }
        if !changed {
            return Ok(batch);
        }
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
    }
}
