//! States, statuses and failure reasons of sessions.

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        #[cfg_attr(
            feature = "diesel",
            derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow),
            diesel(sql_type = diesel::sql_types::Text)
        )]
        pub enum $name { $($(#[$vm])* $variant),+ }

        /// Stored as its lower-case name.
        #[cfg(feature = "diesel")]
        impl<DB> diesel::deserialize::FromSql<diesel::sql_types::Text, DB> for $name
        where
            DB: diesel::backend::Backend,
            String: diesel::deserialize::FromSql<diesel::sql_types::Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> diesel::deserialize::Result<Self> {
                Ok(String::from_sql(bytes)?.parse()?)
            }
        }

        #[cfg(feature = "diesel")]
        impl<DB> diesel::serialize::ToSql<diesel::sql_types::Text, DB> for $name
        where
            DB: diesel::backend::Backend,
            str: diesel::serialize::ToSql<diesel::sql_types::Text, DB>,
        {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, DB>,
            ) -> diesel::serialize::Result {
                self.as_str().to_sql(out)
            }
        }

        impl $name {
            /// Every value, in order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The lower-case name used in the database, the CLI and the API.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = crate::Error;
            fn from_str(s: &str) -> crate::Result<Self> {
                match s.to_ascii_lowercase().as_str() {
                    $($text => Ok($name::$variant),)+
                    _ => Err(crate::Error::InvalidValue {
                        what: stringify!($name),
                        value: s.to_owned(),
                        expected: [$($text),+].join(", "),
                    }),
                }
            }
        }
    };
}
pub(crate) use string_enum;

string_enum! {
    /// How a session went. Ordered by severity: a status can only ever be raised.
    ///
    /// ```
    /// use minke_core::Status;
    /// assert!(Status::Success < Status::Warning && Status::Warning < Status::Error);
    /// assert_eq!("warning".parse::<Status>().unwrap(), Status::Warning);
    /// ```
    Status {
        /// Everything went as expected.
        Success = "success",
        /// Something deserves a look.
        Warning = "warning",
        /// Something went wrong.
        Error = "error",
    }
}

string_enum! {
    /// Where a session is in its life: `initialized → running → completed | failed |
    /// stopped | canceled`.
    ///
    /// ```
    /// use minke_core::State;
    /// assert!(State::Completed.is_done());
    /// assert!(!State::Running.is_done());
    /// ```
    State {
        /// Recorded, waiting for its turn.
        Initialized = "initialized",
        /// Working on its host.
        Running = "running",
        /// `process` returned; see the status for how it went.
        Completed = "completed",
        /// Minke could not work on the host; see the reason.
        Failed = "failed",
        /// Stopped by a person while running.
        Stopped = "stopped",
        /// Never started: canceled, host disabled or locked.
        Canceled = "canceled",
    }
}

impl State {
    /// True for the four final states.
    pub fn is_done(self) -> bool {
        !matches!(self, State::Initialized | State::Running)
    }
}

string_enum! {
    /// Where a run is: `running`, then `done` (every session ended), `canceled` (it was
    /// stopped) or `interrupted` (its process ended before it).
    ///
    /// ```
    /// use minke_core::RunState;
    /// assert_eq!("interrupted".parse::<RunState>().unwrap(), RunState::Interrupted);
    /// assert!(RunState::Done.is_done() && !RunState::Running.is_done());
    /// ```
    RunState {
        /// Its sessions are waiting or running.
        Running = "running",
        /// Every session ended.
        Done = "done",
        /// It was stopped; sessions not started were canceled.
        Canceled = "canceled",
        /// The process running it ended before it.
        Interrupted = "interrupted",
    }
}

impl RunState {
    /// True once the run has ended, one way or another.
    pub fn is_done(self) -> bool {
        self != RunState::Running
    }
}

string_enum! {
    /// Why a session `failed`: each failure class is distinct.
    ///
    /// ```
    /// use minke_core::FailReason;
    /// assert_eq!(FailReason::HostKey.to_string(), "host_key");
    /// ```
    FailReason {
        /// The host refused the TCP connection.
        ConnectRefused = "connect_refused",
        /// The host name could not be resolved.
        Dns = "dns",
        /// The TCP connection or SSH handshake took too long.
        ConnectTimeout = "connect_timeout",
        /// No offered credential was accepted.
        Authentication = "authentication",
        /// The host key is unknown (strict policy) or changed.
        HostKey = "host_key",
        /// A command ran longer than its timeout.
        CommandTimeout = "command_timeout",
        /// The whole session ran longer than its timeout.
        SessionTimeout = "session_timeout",
        /// The connection broke while working.
        Disconnected = "disconnected",
        /// The session's own code returned an error or panicked.
        SessionError = "session_error",
        /// sudo refused to run a command: a wrong or missing password, a user not
        /// allowed.
        Sudo = "sudo",
        /// A file transfer failed: no SFTP subsystem, a path that cannot be read
        /// or written, a full disk.
        Transfer = "transfer",
        /// The model object could not be loaded, resolved to a host or saved.
        Setup = "setup",
        /// The process running the session ended before it (killed, crashed, the
        /// machine went down); recorded by the next run that starts.
        Interrupted = "interrupted",
    }
}

string_enum! {
    /// The level of a message.
    MessageLevel {
        /// Informational.
        Info = "info",
        /// Worth a look.
        Warning = "warning",
        /// Something went wrong.
        Error = "error",
    }
}

impl From<Status> for MessageLevel {
    fn from(s: Status) -> Self {
        match s {
            Status::Success => MessageLevel::Info,
            Status::Warning => MessageLevel::Warning,
            Status::Error => MessageLevel::Error,
        }
    }
}
