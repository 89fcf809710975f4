//! The per-batch work between the batcher and the sink (docs/architecture.md section 2, steps 3 to 5):
//! decode broker envelopes, shape, mask, and cast `type_hints` on typed batches.

use crate::connector::ConnectorError;
use crate::decode::registry::RegistryError;
use crate::decode::{DecodeConfig, Decoded, Decoder};
use crate::mask::{MaskError, Masker};
use arrow::array::ArrayRef;
use arrow::compute::cast;
use arrow::datatypes::{Field, Schema};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use std::sync::Arc;
use weir_envelope::dead_letter;

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
    /// `strict_masks: true`: a mask whose column is in no batch is an error, not a warning.
    pub strict_masks: bool,
}

/// Why a batch could not be transformed.
#[derive(Debug, thiserror::Error)]
pub enum TransformError {
    /// Arrow refused an operation.
    #[error("{0}")]
    Arrow(#[from] ArrowError),
    /// A mask spec is wrong (checked when the manifest was read, so rare here).
    #[error("mask: {0}")]
    MaskSpec(String),
    /// Masking failed.
    #[error("mask: {0}")]
    Mask(#[source] MaskError),
    /// A masked column is not in the batch and `strict_masks: true` is set.
    #[error("mask: column `{column}` is not in the data (columns: {existing}); fix the name or drop strict_masks")]
    MaskedColumnMissing {
        /// The column the mask names.
        column: String,
        /// The columns the batch has.
        existing: String,
    },
    /// A value did not decode and `on_error: fail` is set.
    #[error("{0} (on_error: fail)")]
    Undecodable(String),
    /// A service decoding needs (the schema registry) cannot be reached: the batch is retried.
    #[error("{0}")]
    Unavailable(String),
    /// Decoding found the configuration wrong (the registry refused the credentials): a bad
    /// manifest, not a runtime failure.
    #[error("{0}")]
    Config(ConnectorError),
}

/// A decode error that says the schema registry cannot be reached becomes
/// [`TransformError::Unavailable`], one that says it refused the credentials
/// [`TransformError::Config`]; others stay as they are.
fn unavailable(e: ArrowError) -> TransformError {
    match &e {
        ArrowError::ExternalError(inner) => match inner.downcast_ref::<RegistryError>() {
            Some(r @ RegistryError::Unavailable { .. }) => {
                TransformError::Unavailable(r.to_string())
            }
            Some(r @ RegistryError::Config(_)) => TransformError::Config(ConnectorError::new(
                crate::connector::ErrorKind::Config,
                r.to_string(),
            )),
            _ => TransformError::Arrow(e),
        },
        _ => TransformError::Arrow(e),
    }
}

/// The running transform of one pipeline.
pub struct Transform {
    decoder: Decoder,
    masker: Option<Masker>,
    spec: TransformSpec,
    /// Masked columns seen in some batch, or already reported missing.
    mask_checked: std::collections::HashSet<String>,
}

impl Transform {
    /// The stage a pipeline needs, if any: a source of broker envelopes is always decoded; a
    /// source of typed batches (it says so in its declaration) is shaped only when the
    /// manifest masks or casts something, and otherwise runs without this stage (nor its
    /// thread).
    pub fn for_source(
        spec: &TransformSpec,
        typed_output: bool,
    ) -> Result<Option<Self>, TransformError> {
        if typed_output && spec.mask.is_empty() && spec.decode.type_hints.is_empty() {
            return Ok(None);
        }
        let mut spec = spec.clone();
        spec.decode.typed_input = typed_output;
        Self::new(spec).map(Some)
    }

    /// Builds it; mask specs were checked when the manifest was read.
    pub fn new(spec: TransformSpec) -> Result<Self, TransformError> {
        let masker = if spec.mask.is_empty() {
            None
        } else {
            Some(
                Masker::parse_all(&spec.mask, &spec.mask_key).map_err(|errs| {
                    TransformError::MaskSpec(
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
            mask_checked: Default::default(),
        })
    }

    /// Decodes, masks and casts one micro-batch. A record that does not decode, or that a
    /// mask cannot apply to, becomes a dead letter (or fails the batch with `on_error: fail`).
    pub fn apply(&mut self, batch: RecordBatch) -> Result<Decoded, TransformError> {
        let envelope = batch.clone();
        let mut decoded = self.decoder.decode(batch).map_err(unavailable)?;
        self.fail_on_dead(decoded.dead.as_ref())?;
        let Some(b) = decoded.batch.take() else {
            return Ok(decoded);
        };
        self.check_masked_columns(&b)?;
        let b = match &self.masker {
            Some(m) => {
                let (b, failed) = m.apply_rows(&b).map_err(TransformError::Mask)?;
                self.set_aside(b, failed, &envelope, &mut decoded)?
            }
            None => b,
        };
        decoded.batch = if b.num_rows() == 0 {
            None
        } else {
            Some(self.cast_hints(b)?)
        };
        Ok(decoded)
    }

    /// A mask on a column the data does not have (a typo such as `emial` would leave PII
    /// unmasked) is reported once per run at WARN with the columns there are, or is an error
    /// with `strict_masks: true`.
    fn check_masked_columns(&mut self, batch: &RecordBatch) -> Result<(), TransformError> {
        let Some(m) = &self.masker else {
            return Ok(());
        };
        let schema = batch.schema();
        let missing: Vec<String> = m.missing(&schema).into_iter().map(str::to_string).collect();
        for rule in m.rules() {
            if !missing.contains(&rule.column) {
                self.mask_checked.insert(rule.column.clone());
            }
        }
        for column in missing {
            if !self.mask_checked.insert(column.clone()) {
                continue;
            }
            let existing = schema
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect::<Vec<_>>()
                .join(", ");
            if self.spec.strict_masks {
                return Err(TransformError::MaskedColumnMissing { column, existing });
            }
            tracing::warn!(column = %column, columns = %existing, "a masked column is not in the data: check its name (strict_masks: true makes this an error)");
        }
        Ok(())
    }

    /// With `on_error: fail`, a dead letter fails the batch.
    fn fail_on_dead(&self, dead: Option<&RecordBatch>) -> Result<(), TransformError> {
        if self.spec.on_error != OnError::Fail {
            return Ok(());
        }
        let Some(dead) = dead else {
            return Ok(());
        };
        let why = dead
            .column_by_name(dead_letter::ERROR)
            .and_then(|c| {
                c.as_any()
                    .downcast_ref::<arrow::array::StringArray>()
                    .map(|s| s.value(0).to_string())
            })
            .unwrap_or_else(|| "a value did not decode".into());
        Err(TransformError::Undecodable(why))
    }

    /// Takes the rows a mask could not apply to out of the batch and into dead letters.
    fn set_aside(
        &self,
        batch: RecordBatch,
        failed: Vec<(usize, MaskError)>,
        envelope: &RecordBatch,
        decoded: &mut Decoded,
    ) -> Result<RecordBatch, TransformError> {
        if failed.is_empty() {
            return Ok(batch);
        }
        let rows = match (&decoded.rows, self.spec.on_error) {
            (Some(rows), OnError::DeadLetter) => rows,
            // A typed batch has no envelope to keep, and `on_error: fail` stops.
            _ => {
                return match failed.into_iter().next() {
                    Some((_, e)) => Err(TransformError::Mask(e)),
                    None => Ok(batch),
                }
            }
        };
        let reasons: Vec<(u32, String)> = failed
            .iter()
            .map(|(r, e)| (rows[*r], format!("the mask cannot apply: {e}")))
            .collect();
        let more = self.decoder.dead_letters(envelope, &reasons)?;
        decoded.dead = match (decoded.dead.take(), more) {
            (Some(a), Some(b)) => Some(arrow::compute::concat_batches(&a.schema(), [&a, &b])?),
            (a, b) => a.or(b),
        };
        let keep: arrow::array::BooleanArray = (0..batch.num_rows())
            .map(|i| Some(failed.binary_search_by_key(&i, |(r, _)| *r).is_err()))
            .collect();
        if let Some(rows) = decoded.rows.as_mut() {
            let mut i = 0;
            rows.retain(|_| {
                let k = keep.value(i);
                i += 1;
                k
            });
        }
        Ok(arrow::compute::filter_record_batch(&batch, &keep)?)
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
