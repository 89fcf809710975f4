//! The Nilus masking catalogue, applied column-wise to Arrow batches (being written).
