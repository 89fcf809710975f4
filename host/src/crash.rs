//! Naming the plugin a crash happened in. A plugin's panic is contained (the sdk catches it at
//! the boundary); an `abort()`, a segfault, a stack overflow or an illegal instruction is not,
//! and the process dies with every pipeline in it. Before it does, a signal handler writes one
//! line to stderr naming the plugin call that was running on the crashing thread, so the log
//! says which plugin took the process down.
//!
//! Each plugin call runs inside [`during`], which notes the call in a thread-local (plain
//! `'static` text, readable from a signal handler). The handler (SIGSEGV, SIGBUS, SIGILL,
//! SIGFPE, SIGABRT, on the thread's alternate stack, which std gives every thread it starts)
//! writes the line with one `write(2)` only, clears the note, puts back the handler that was there
//! before (std's stack-overflow report for SIGSEGV and SIGBUS) and returns: the fault happens
//! again and that handler, or the default action, ends the process.

use std::cell::Cell;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::sync::OnceLock;

/// What the line says happens next, in the host (every pipeline dies) and in an isolated
/// plugin process (`isolate::child`: only its pipeline fails).
const IN_HOST: &str = "; the process dies with every pipeline in it (a crash, unlike a panic, cannot be contained inside the process: set `isolation: process` in the pipeline's source options, or start weir with --isolation process, so a crash fails that pipeline alone)";
const IN_CHILD: &str =
    "; this isolated plugin process dies, and the host fails and restarts this pipeline alone";

/// Set in an isolated plugin process: the crash line says only its pipeline fails.
static ISOLATED: AtomicBool = AtomicBool::new(false);

/// This process serves one isolated plugin instance (`weir isolate`).
pub fn set_isolated() {
    ISOLATED.store(true, Ordering::SeqCst);
}

/// The plugin call running on this thread: (who, call).
type Note = Option<(&'static str, &'static str)>;

thread_local! {
    static CURRENT: Cell<Note> = const { Cell::new(None) };
}

/// Labels made once per plugin instance (`plugin `delta` 0.1.0, sink of pipeline `orders``),
/// kept for the life of the process (a restarted pipeline gets its old label back).
fn intern(label: String) -> &'static str {
    static LABELS: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut set = LABELS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(l) = set.get(label.as_str()) {
        return l;
    }
    let leaked: &'static str = Box::leak(label.into_boxed_str());
    set.insert(leaked);
    leaked
}

/// The label of one plugin instance, for [`during`].
pub fn label(plugin: &str, version: &str, kind: &str, pipeline: &str) -> &'static str {
    intern(format!(
        "plugin `{plugin}` {version} ({kind} of pipeline `{pipeline}`)"
    ))
}

/// Runs `f`, a call `call` into the plugin instance `who`, noted for the crash handler.
pub fn during<T>(who: &'static str, call: &'static str, f: impl FnOnce() -> T) -> T {
    let before = CURRENT.with(|c| c.replace(Some((who, call))));
    let out = f();
    CURRENT.with(|c| c.set(before));
    out
}

const SIGNALS: [(libc::c_int, &str); 5] = [
    (libc::SIGSEGV, "SIGSEGV (segmentation fault)"),
    (libc::SIGBUS, "SIGBUS (bus error)"),
    (libc::SIGILL, "SIGILL (illegal instruction)"),
    (libc::SIGFPE, "SIGFPE (arithmetic fault)"),
    (libc::SIGABRT, "SIGABRT (abort)"),
];

/// The handlers there before [`install`], put back when a crash is reported.
static PREVIOUS: OnceLock<Vec<(libc::c_int, libc::sigaction)>> = OnceLock::new();

/// Installs the handler for the crash signals (once, at start).
pub fn install() {
    PREVIOUS.get_or_init(|| {
        let mut previous = Vec::new();
        for (sig, _) in SIGNALS {
            // SAFETY: a zeroed sigaction is valid; the handler only calls async-signal-safe
            // functions (write, sigaction) and reads a const-initialised thread-local.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = handler as *const () as libc::sighandler_t;
                action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
                libc::sigemptyset(&mut action.sa_mask);
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(sig, &action, &mut old) == 0 {
                    previous.push((sig, old));
                }
            }
        }
        previous
    });
}

/// How a crash signal is named in the crash line and in an isolated process's failure.
pub fn signal_name(sig: libc::c_int) -> String {
    match SIGNALS.iter().find(|(s, _)| *s == sig) {
        Some((_, name)) => (*name).to_string(),
        None if sig == libc::SIGKILL => {
            "SIGKILL (killed: by the out-of-memory killer, or by hand)".to_string()
        }
        None if sig == libc::SIGTERM => "SIGTERM (terminated)".to_string(),
        None => format!("signal {sig}"),
    }
}

fn write_all(bytes: &[u8]) {
    let mut rest = bytes;
    while !rest.is_empty() {
        // SAFETY: write(2) on stderr with a valid buffer is async-signal-safe.
        let n = unsafe { libc::write(2, rest.as_ptr().cast(), rest.len()) };
        if n <= 0 {
            return;
        }
        rest = &rest[n as usize..];
    }
}

extern "C" fn handler(sig: libc::c_int, _info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    let note = CURRENT.try_with(|c| c.take()).ok().flatten();
    if let Some((who, call)) = note {
        let name = SIGNALS
            .iter()
            .find(|(s, _)| *s == sig)
            .map_or("a fatal signal", |(_, n)| n);
        // One write of one line, so other threads' log lines cannot split it.
        let mut line = [0u8; 1024];
        let mut len = 0;
        for part in [
            "weir: fatal: ",
            who,
            " crashed with ",
            name,
            " in `",
            call,
            "`",
            if ISOLATED.load(Ordering::Relaxed) {
                IN_CHILD
            } else {
                IN_HOST
            },
        ] {
            let n = part.len().min(line.len() - 1 - len);
            line[len..len + n].copy_from_slice(&part.as_bytes()[..n]);
            len += n;
        }
        line[len] = b'\n';
        write_all(&line[..=len]);
    }
    if let Some(previous) = PREVIOUS.get() {
        for (s, old) in previous {
            if *s == sig {
                // SAFETY: restoring the action saved at install.
                unsafe { libc::sigaction(sig, old, std::ptr::null_mut()) };
            }
        }
    }
    // SIGABRT comes from abort(), which raises it again once this returns; a fault happens
    // again at the same instruction, now under the previous handler.
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_interned_and_calls_nest() {
        let a = label("delta", "0.1.0", "sink", "orders");
        let b = label("delta", "0.1.0", "sink", "orders");
        assert!(std::ptr::eq(a, b));
        assert_eq!(a, "plugin `delta` 0.1.0 (sink of pipeline `orders`)");
        during(a, "write", || {
            assert_eq!(CURRENT.with(Cell::get), Some((a, "write")));
            during(a, "commit", || {
                assert_eq!(CURRENT.with(Cell::get), Some((a, "commit")));
            });
            assert_eq!(CURRENT.with(Cell::get), Some((a, "write")));
        });
        assert_eq!(CURRENT.with(Cell::get), None);
    }
}
