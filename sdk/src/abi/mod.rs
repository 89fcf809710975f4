//! The binary contract: every `#[repr(C)]` type that crosses the library boundary, and every
//! use of abi_stable, lives in this module.
//!
//! Plugin authors never touch these types: [`export_plugin!`](crate::export_plugin) builds the
//! plugin side from a [`Plugin`](crate::Plugin), and the host side (feature `host`) turns a
//! loaded library back into [`Source`](crate::Source) and [`Sink`](crate::Sink) objects.
//!
//! Two symbols make a library a weir plugin:
//! - `weir_plugin_declaration`, a plain [`Declaration`] (magic, ABI version, sdk version) that
//!   the host reads before anything else, so a plugin of another ABI is refused with a message
//!   naming both versions instead of a layout error;
//! - abi_stable's root-module header, checked for version and type layout at load.
//!
//! Batches cross as the Arrow C Data Interface ([`FfiBatch`]): the producer exports, the
//! consumer imports and later calls the producer's release callback, so nothing allocated on
//! one side is freed on the other.

mod batch;
mod export;
mod forward;
#[cfg(feature = "host")]
pub mod host;

use abi_stable::{
    declare_root_module_statics,
    library::RootModule,
    package_version_strings, sabi_trait,
    sabi_types::VersionStrings,
    std_types::{RBox, ROption, RResult, RStr, RString, RVec},
    StableAbi,
};
use arrow::ffi::{FFI_ArrowArray, FFI_ArrowSchema};

pub use export::Declaration;

/// The exported name of abi_stable's root-module header (abi_stable's
/// `ROOT_MODULE_LOADER_NAME`; a unit test keeps the two equal).
pub const ROOT_MODULE_SYMBOL: &str = "_1as_0lib_1header_0root_bmodule_bloader";

/// The exported name of the plugin's [`Declaration`].
pub const DECLARATION_SYMBOL: &str = "weir_plugin_declaration";

/// Error kinds across the boundary.
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum FfiErrorKind {
    Config,
    Connection,
    Retriable,
    Fatal,
    Data,
}

/// A position across the boundary.
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
#[allow(missing_docs)]
pub struct FfiPosition {
    pub key: RString,
    pub next: i64,
}

/// An error across the boundary.
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
#[allow(missing_docs)]
pub struct FfiError {
    pub kind: FfiErrorKind,
    pub message: RString,
    pub position: ROption<FfiPosition>,
}

/// A record batch as a struct array in the Arrow C Data Interface.
#[repr(C)]
#[derive(StableAbi)]
#[allow(missing_docs)]
pub struct FfiBatch {
    // SAFETY (of the opaque fields): the C Data Interface structs have a frozen C layout;
    // abi_stable checks their size and alignment.
    #[sabi(unsafe_opaque_field)]
    pub array: FFI_ArrowArray,
    #[sabi(unsafe_opaque_field)]
    pub schema: FFI_ArrowSchema,
}

/// What a poll returns across the boundary.
#[repr(C)]
#[derive(StableAbi)]
#[allow(missing_docs)]
pub struct FfiPoll {
    pub batch: ROption<FfiBatch>,
    pub positions: RVec<FfiPosition>,
    pub end: bool,
    pub assigned: RVec<RString>,
    pub revoked: RVec<RString>,
    /// Records behind the end of each substream (`next` holds the count).
    pub backlog: RVec<FfiPosition>,
}

/// Log levels across the boundary (0 = off).
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum FfiLevel {
    Off,
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

/// One log event of a plugin, handed to the host's log callback.
#[repr(C)]
#[derive(StableAbi)]
#[allow(missing_docs)]
pub struct FfiLogRecord<'a> {
    pub plugin: RStr<'a>,
    pub pipeline: RStr<'a>,
    pub level: FfiLevel,
    pub target: RStr<'a>,
    pub message: RStr<'a>,
}

/// The host's log callback. It must not unwind.
pub type FfiLogFn = extern "C" fn(&FfiLogRecord<'_>);

/// The context the host hands to every instance.
#[repr(C)]
#[derive(StableAbi, Clone)]
#[allow(missing_docs)]
pub struct FfiContext {
    pub pipeline: RString,
    pub log: extern "C" fn(&FfiLogRecord<'_>),
    pub max_level: FfiLevel,
}

/// A source's configuration across the boundary (options as a JSON object).
#[repr(C)]
#[derive(StableAbi, Clone)]
#[allow(missing_docs)]
pub struct FfiSourceConfig {
    pub address: RString,
    pub options_json: RString,
    pub run_in_loop: bool,
    pub batch_size: u64,
    pub batch_timeout_ms: u64,
}

/// A sink's configuration across the boundary (options as a JSON object).
#[repr(C)]
#[derive(StableAbi, Clone)]
#[allow(missing_docs)]
pub struct FfiSinkConfig {
    pub address: RString,
    pub options_json: RString,
}

/// Source or sink, across the boundary.
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum FfiKind {
    Source,
    Sink,
}

/// One connector's description across the boundary.
#[repr(C)]
#[derive(StableAbi, Clone)]
#[allow(missing_docs)]
pub struct FfiConnectorInfo {
    pub kind: FfiKind,
    pub scheme: RString,
    pub description: RString,
    pub options_schema: RString,
    pub typed_output: bool,
    pub exactly_once: bool,
}

/// A plugin's description across the boundary.
#[repr(C)]
#[derive(StableAbi, Clone)]
#[allow(missing_docs)]
pub struct FfiPluginInfo {
    pub name: RString,
    pub version: RString,
    pub sdk_version: RString,
    pub abi_version: u32,
    pub connectors: RVec<FfiConnectorInfo>,
}

/// A source instance across the boundary.
#[sabi_trait]
#[allow(missing_docs)]
pub trait FfiSource: Send {
    fn open(&mut self) -> RResult<RVec<RString>, FfiError>;
    fn poll(&mut self, max_records: u64, timeout_ms: u64) -> RResult<FfiPoll, FfiError>;
    fn seek(&mut self, positions: RVec<FfiPosition>) -> RResult<(), FfiError>;
    fn commit(&mut self, positions: RVec<FfiPosition>) -> RResult<(), FfiError>;
    #[sabi(last_prefix_field)]
    fn close(&mut self) -> RResult<(), FfiError>;
}

/// A sink instance across the boundary.
#[sabi_trait]
#[allow(missing_docs)]
pub trait FfiSink: Send {
    fn open(&mut self) -> RResult<(), FfiError>;
    fn stored_positions(&mut self, keys: RVec<RString>) -> RResult<RVec<FfiPosition>, FfiError>;
    fn write(&mut self, batch: FfiBatch) -> RResult<(), FfiError>;
    fn commit(&mut self, positions: RVec<FfiPosition>) -> RResult<(), FfiError>;
    #[sabi(last_prefix_field)]
    fn close(&mut self) -> RResult<(), FfiError>;
}

/// An owned source trait object.
pub type FfiSourceBox = FfiSource_TO<'static, RBox<()>>;
/// An owned sink trait object.
pub type FfiSinkBox = FfiSink_TO<'static, RBox<()>>;

/// The root module every plugin library exports. Extend only by appending fields after
/// `new_sink` (and moving `last_prefix_field` there); anything else is a new ABI version.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginModRef)))]
#[sabi(missing_field(panic))]
pub struct PluginMod {
    /// The plugin's description.
    pub info: extern "C" fn() -> FfiPluginInfo,
    /// Makes a source instance for a scheme.
    pub new_source: extern "C" fn(
        scheme: RString,
        ctx: FfiContext,
        config: FfiSourceConfig,
    ) -> RResult<FfiSourceBox, FfiError>,
    /// Makes a sink instance for a scheme.
    #[sabi(last_prefix_field)]
    pub new_sink: extern "C" fn(
        scheme: RString,
        ctx: FfiContext,
        config: FfiSinkConfig,
    ) -> RResult<FfiSinkBox, FfiError>,
}

impl RootModule for PluginModRef {
    declare_root_module_statics! {PluginModRef}
    const BASE_NAME: &'static str = "weir_plugin";
    const NAME: &'static str = "weir_plugin";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}

impl From<crate::ErrorKind> for FfiErrorKind {
    /// [`PositionsMoved`](crate::ErrorKind::PositionsMoved) crosses as `Fatal`; the message
    /// carries the marker (see [`From<crate::Error> for FfiError`](FfiError)).
    fn from(k: crate::ErrorKind) -> Self {
        use crate::ErrorKind as K;
        match k {
            K::Config => Self::Config,
            K::Connection => Self::Connection,
            K::Retriable => Self::Retriable,
            K::Fatal | K::PositionsMoved => Self::Fatal,
            K::Data => Self::Data,
        }
    }
}

impl From<FfiErrorKind> for crate::ErrorKind {
    fn from(k: FfiErrorKind) -> Self {
        match k {
            FfiErrorKind::Config => Self::Config,
            FfiErrorKind::Connection => Self::Connection,
            FfiErrorKind::Retriable => Self::Retriable,
            FfiErrorKind::Fatal => Self::Fatal,
            FfiErrorKind::Data => Self::Data,
        }
    }
}

impl From<&crate::Position> for FfiPosition {
    fn from(p: &crate::Position) -> Self {
        Self {
            key: p.key.as_str().into(),
            next: p.next,
        }
    }
}

impl From<FfiPosition> for crate::Position {
    fn from(p: FfiPosition) -> Self {
        crate::Position::new(p.key.as_str(), p.next)
    }
}

/// What a positions-moved error's message begins with on the wire (sdk 0.1.2 wrote it so).
fn moved_prefix() -> String {
    format!("{}: ", crate::POSITIONS_MOVED)
}

impl From<crate::Error> for FfiError {
    fn from(e: crate::Error) -> Self {
        let message = if e.kind == crate::ErrorKind::PositionsMoved {
            format!("{}{}", moved_prefix(), e.message)
        } else {
            e.message
        };
        Self {
            kind: e.kind.into(),
            message: message.into(),
            position: e.position.as_ref().map(FfiPosition::from).into(),
        }
    }
}

impl From<FfiError> for crate::Error {
    /// A fatal error whose message carries the positions-moved marker is
    /// [`PositionsMoved`](crate::ErrorKind::PositionsMoved), whichever sdk 0.1.* made it.
    fn from(e: FfiError) -> Self {
        let position = e.position.into_option().map(Into::into);
        let message = e.message.into_string();
        if e.kind == FfiErrorKind::Fatal {
            if let Some(detail) = message.strip_prefix(&moved_prefix()) {
                return crate::Error {
                    kind: crate::ErrorKind::PositionsMoved,
                    message: detail.to_string(),
                    position,
                };
            }
        }
        crate::Error {
            kind: e.kind.into(),
            message,
            position,
        }
    }
}

impl From<crate::LogLevel> for FfiLevel {
    fn from(l: crate::LogLevel) -> Self {
        use crate::LogLevel as L;
        match l {
            L::Off => Self::Off,
            L::Error => Self::Error,
            L::Warn => Self::Warn,
            L::Info => Self::Info,
            L::Debug => Self::Debug,
            L::Trace => Self::Trace,
        }
    }
}

impl From<FfiLevel> for crate::LogLevel {
    fn from(l: FfiLevel) -> Self {
        match l {
            FfiLevel::Off => Self::Off,
            FfiLevel::Error => Self::Error,
            FfiLevel::Warn => Self::Warn,
            FfiLevel::Info => Self::Info,
            FfiLevel::Debug => Self::Debug,
            FfiLevel::Trace => Self::Trace,
        }
    }
}

fn positions_to_ffi(positions: &[crate::Position]) -> RVec<FfiPosition> {
    positions.iter().map(FfiPosition::from).collect()
}

fn positions_from_ffi(positions: RVec<FfiPosition>) -> Vec<crate::Position> {
    positions.into_iter().map(Into::into).collect()
}

#[doc(hidden)]
pub mod __private {
    //! What [`export_plugin!`](crate::export_plugin) expands to. Not part of the API.
    pub use super::export::{declaration, lib_header, root_module};
    pub use abi_stable::library::{LibHeader, RootModuleResult};
}

#[cfg(test)]
mod tests {
    #[test]
    fn root_module_symbol_matches_abi_stable() {
        assert_eq!(
            super::ROOT_MODULE_SYMBOL,
            abi_stable::library::ROOT_MODULE_LOADER_NAME
        );
    }

    use super::{FfiError, FfiErrorKind, FfiPosition};
    use crate::{Error, ErrorKind, Position};

    /// What a plugin of sdk 0.1.0 to 0.1.2 puts on the wire for each of its errors.
    fn wire(kind: FfiErrorKind, message: &str) -> FfiError {
        FfiError {
            kind,
            message: message.into(),
            position: abi_stable::std_types::ROption::RSome(FfiPosition {
                key: "orders/3".into(),
                next: 120,
            }),
        }
    }

    #[test]
    fn a_previous_sdks_errors_map_to_the_same_kinds() {
        for (ffi, kind) in [
            (FfiErrorKind::Config, ErrorKind::Config),
            (FfiErrorKind::Connection, ErrorKind::Connection),
            (FfiErrorKind::Retriable, ErrorKind::Retriable),
            (FfiErrorKind::Fatal, ErrorKind::Fatal),
            (FfiErrorKind::Data, ErrorKind::Data),
        ] {
            let e = Error::from(wire(ffi, "it broke"));
            assert_eq!(e.kind, kind);
            assert_eq!(e.message, "it broke");
            assert_eq!(e.position, Some(Position::new("orders/3", 120)));
        }
        // sdk 0.1.2's `positions_moved` was a fatal error with the marker in front.
        let e = Error::from(wire(
            FfiErrorKind::Fatal,
            "positions moved by another writer: orders/3 is at 120, expected 100",
        ));
        assert_eq!(e.kind, ErrorKind::PositionsMoved);
        assert_eq!(e.message, "orders/3 is at 120, expected 100");
        // The marker alone does not make another kind positions-moved.
        let e = Error::from(wire(
            FfiErrorKind::Data,
            "positions moved by another writer: x",
        ));
        assert_eq!(e.kind, ErrorKind::Data);
    }

    #[test]
    fn positions_moved_crosses_as_the_fatal_error_older_hosts_know() {
        let e = Error::positions_moved("orders/3 is at 120, expected 100");
        let ffi = FfiError::from(e.clone());
        assert_eq!(ffi.kind, FfiErrorKind::Fatal);
        assert_eq!(
            ffi.message.as_str(),
            "positions moved by another writer: orders/3 is at 120, expected 100"
        );
        assert_eq!(Error::from(ffi), e);
    }

    #[test]
    fn rejected_rows_cross_as_the_data_error_older_hosts_know() {
        let rows = vec![
            crate::RejectedRow::new(2, "shop.t: null value in column \"name\"\nof relation"),
            crate::RejectedRow::new(9, "shop.t: violates check constraint \"t_qty_check\""),
        ];
        let ffi = FfiError::from(Error::rows_rejected(rows));
        assert_eq!(ffi.kind, FfiErrorKind::Data);
        assert!(ffi
            .message
            .as_str()
            .starts_with(weir_envelope::rejected::MARKER));
        let back = Error::from(ffi).rejected_rows().expect("rows");
        assert_eq!(back.len(), 2);
        assert_eq!((back[0].row, back[1].row), (2, 9));
        assert_eq!(
            back[0].reason,
            "shop.t: null value in column \"name\" of relation"
        );
    }
}
