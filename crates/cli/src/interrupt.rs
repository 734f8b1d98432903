//! Ctrl-C (or a cluster's SIGTERM) during a study. While training or scoring watch for
//! it (`emergent_train::stop`), the first signal lets the current step or task finish,
//! a run keep its state there, and the work return [`Interrupted`]; then, or at once in any other stage or on a
//! second signal, one line says what is kept and the command that resumes, and the exit
//! status is 130. Nothing is left half written either way: every checkpoint is written
//! under a temporary name and renamed, and every evaluation is one transaction.

use std::sync::OnceLock;

static MESSAGE: OnceLock<Vec<u8>> = OnceLock::new();

pub use emergent_train::stop::Interrupted;

static FINISHING: &[u8] = b"\ninterrupted: finishing the current step (again to stop at once)\n";

#[cfg(unix)]
extern "C" fn on_signal(_: libc::c_int) {
    // Only async-signal-safe calls here: atomics, write(2) and _exit(2).
    if emergent_train::stop::watched() && !emergent_train::stop::requested() {
        emergent_train::stop::request();
        // SAFETY: a static buffer.
        unsafe {
            libc::write(2, FINISHING.as_ptr().cast(), FINISHING.len());
        }
        return;
    }
    resume_line_and_exit()
}

/// Prints the resume line and exits with 130 (128 + SIGINT).
pub fn resume_line_and_exit() -> ! {
    if let Some(m) = MESSAGE.get() {
        // SAFETY: the buffer lives for the whole process.
        unsafe {
            libc::write(2, m.as_ptr().cast(), m.len());
        }
    }
    // SAFETY: ends the process without running anything else.
    unsafe { libc::_exit(130) }
}

/// The command line as typed, quoted where the shell would need it.
fn command_line() -> String {
    let args: Vec<String> = std::env::args()
        .enumerate()
        .map(|(i, a)| if i == 0 { "emergent".to_string() } else { a })
        .map(|a| {
            if a.is_empty() || a.contains(|c: char| c.is_whitespace() || "'\"$`\\".contains(c)) {
                format!("'{}'", a.replace('\'', "'\\''"))
            } else {
                a
            }
        })
        .collect();
    args.join(" ")
}

/// From now on an interrupt says that the finished work is kept and how to resume.
pub fn say_how_to_resume() {
    let line = format!(
        "\ninterrupted: finished checkpoints and evaluations, and where each run stopped, are kept; `{}` resumes from them\n",
        command_line()
    );
    if MESSAGE.set(line.into_bytes()).is_err() {
        return;
    }
    #[cfg(unix)]
    // SAFETY: installs a handler that only writes a prepared buffer and exits.
    unsafe {
        let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
}
