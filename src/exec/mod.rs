//! The execution engine: reaching hosts and doing things on them.
//!
//! Split as pyinfra splits it:
//! - connectors (`transport`): an SSH session (password, key, agent,
//!   bastion jump) or the local machine, each yielding a byte pipe to a
//!   shell on the host;
//! - the shell protocol (`shell`): one long-lived, possibly sudo'ed shell
//!   per host, running framed requests;
//! - operations (`engine::HostCtx`): exec, upload, fetch, all through one
//!   mutation gate that a dry run turns into a printed plan;
//! - the pool (`engine::Engine`): a rayon pool of `--forks` workers running
//!   a step on many hosts, collecting every host's outcome.
//!
//! See docs/EXEC.md.

pub mod blob;
pub mod engine;
pub mod error;
pub mod interrupt;
pub mod knownhosts;
pub mod live;
pub mod logger;
pub mod redact;
pub mod relay;
pub mod runlog;
pub mod shell;
pub mod transport;
pub mod verbs;

pub use blob::Blob;
pub use engine::{
    Action, Change, Engine, EngineOptions, HostCtx, HostFail, HostReport, Status, StepReport,
    DEFAULT_FORKS,
};
pub use error::ExecError;
pub use knownhosts::{HostKeyPolicy, KnownHosts};
pub use redact::Redactor;
pub use runlog::{Progress, RunLog};
pub use shell::{CmdOutput, Stdin};
pub use transport::ConnectOptions;
