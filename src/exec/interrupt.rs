//! Ctrl-C and SIGTERM during a verb that changes hosts.
//!
//! Killing the installer in the middle of a command would leave the host
//! half-changed and the state file behind what the hosts hold. So, once
//! armed, the first SIGINT or SIGTERM only asks for a stop: no new command
//! starts on any host (`HostCtx::perform` refuses with `Interrupted`), the
//! commands already running finish (each is bounded by its time limit),
//! the phase's state is saved, and the run exits 130. A second signal ends
//! the process at once, for an operator who cannot wait.

use std::sync::atomic::{AtomicBool, Ordering};

use signal_hook::consts::{SIGINT, SIGTERM};

static REQUESTED: AtomicBool = AtomicBool::new(false);
static ARMED: AtomicBool = AtomicBool::new(false);
static REPORTED: AtomicBool = AtomicBool::new(false);

/// The exit code of a run stopped by a signal, as shells report SIGINT.
pub const EXIT_CODE: u8 = 130;

/// Installs the handlers (once per process; later calls do nothing).
pub fn arm() -> std::io::Result<()> {
    if ARMED.swap(true, Ordering::SeqCst) {
        return Ok(());
    }
    for sig in [SIGINT, SIGTERM] {
        // The shutdown goes first: it sees the flag as the previous signal
        // left it, so only a second signal exits at once.
        signal_hook::flag::register_conditional_shutdown(sig, i32::from(EXIT_CODE), &REQUESTED)?;
        signal_hook::flag::register(sig, &REQUESTED)?;
    }
    Ok(())
}

/// Whether a stop was asked for.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// The verb has said where it stopped and how to go on: the generic
/// message at exit is then not printed too.
pub fn mark_reported() {
    REPORTED.store(true, Ordering::SeqCst);
}

/// Whether the verb said where it stopped.
pub fn reported() -> bool {
    REPORTED.load(Ordering::SeqCst)
}

/// Asks for a stop as a signal would: for tests.
#[doc(hidden)]
pub fn request() {
    REQUESTED.store(true, Ordering::SeqCst);
}
