//! Ctrl-C (or a cluster's SIGTERM) during a study: one line saying what is kept and
//! the command that resumes, then exit status 130. Nothing needs cleaning up: every
//! checkpoint is written under a temporary name and renamed, and every evaluation is
//! one database transaction.

use std::sync::OnceLock;

static MESSAGE: OnceLock<Vec<u8>> = OnceLock::new();

#[cfg(unix)]
extern "C" fn on_signal(_: libc::c_int) {
    // Only async-signal-safe calls here: write(2) and _exit(2).
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
        "\ninterrupted: finished checkpoints and evaluations are kept; `{}` resumes from them\n",
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
