//! Identifier normalisation, defined once in `weir-envelope` (sinks apply the same rule to
//! table names): snake_case column names (Nilus's default), or names as they are with
//! `SCHEMA_NAMING=direct`.

pub use weir_envelope::naming::{snake_case, Naming};
