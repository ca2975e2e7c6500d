//! The signals that stop work: Ctrl-C (SIGINT), SIGTERM and SIGHUP.
//!
//! Handlers are installed when [`Signals::new`] is called; from then on these
//! signals no longer end the process at once but are answered by stopping the work
//! in order (remote commands killed, history written, host locks released).

/// Which signal came.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// Ctrl-C: a person at the terminal (the first asks politely).
    Interrupt,
    /// SIGTERM or SIGHUP: a service manager, `kill`, or a closed terminal. Stop at once.
    Terminate,
}

/// Receives the signals that stop work.
pub(crate) struct Signals {
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    hup: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    /// Installs the handlers (needs a Tokio runtime).
    pub(crate) fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let watch = |kind| match signal(kind) {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::warn!("cannot watch for signal {kind:?}: {e}");
                    None
                }
            };
            Signals {
                int: watch(SignalKind::interrupt()),
                term: watch(SignalKind::terminate()),
                hup: watch(SignalKind::hangup()),
            }
        }
        #[cfg(not(unix))]
        {
            Signals {}
        }
    }

    /// Waits for the next signal.
    pub(crate) async fn next(&mut self) -> Stop {
        #[cfg(unix)]
        {
            async fn recv(s: Option<&mut tokio::signal::unix::Signal>) {
                let got = match s {
                    Some(s) => s.recv().await.is_some(),
                    None => false,
                };
                if !got {
                    // Not watched, or no more signals of this kind: never.
                    std::future::pending::<()>().await;
                }
            }
            tokio::select! {
                () = recv(self.int.as_mut()) => Stop::Interrupt,
                () = recv(self.term.as_mut()) => Stop::Terminate,
                () = recv(self.hup.as_mut()) => Stop::Terminate,
            }
        }
        #[cfg(not(unix))]
        {
            match tokio::signal::ctrl_c().await {
                Ok(()) => Stop::Interrupt,
                Err(_) => std::future::pending().await,
            }
        }
    }
}
