//! The worker pool and the operations, with the one mutation gate.
//!
//! A step is a closure run on a set of hosts by a rayon pool of `forks`
//! threads. Each host has a slot holding its shell (and so its SSH
//! session), opened on first use and reused by every later step. A host
//! whose connection failed is marked and skipped by later steps; a failing
//! host never stops the others, and the step returns every host's outcome.
//!
//! Every operation ends in [`HostCtx::perform`]: read-only actions run
//! always; mutating ones run, or under `--dry-run` are recorded, printed,
//! and skipped. Nothing else talks to a host.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use rayon::prelude::*;

use super::blob::Blob;
use super::error::ExecError;
use super::redact::Redactor;
use super::runlog::{Progress, RunLog};
use super::shell::{sh_quote, CmdOutput, Shell, Stdin, Target};
use super::transport::{self, ConnectOptions};
use crate::model::{Connection, Node};

/// Default `--forks`.
///
/// The work is I/O bound: a new connection costs ~150–250 ms, nearly all
/// of it waiting on the network and the host's sshd (kex, auth, sudo), and
/// a command over an open connection ~7 ms, again mostly waiting. A thread
/// waiting costs nothing but its stack (touched pages only, a few tens of
/// KB) and a libssh2 session (~100 KB), so the limit is not threads but
/// the CPU of the handshakes: on the client ~5 ms per curve25519 kex and
/// signature, so 50 concurrent handshakes every ~200 ms keep about one
/// core busy and still leave room for the rest. 50 reaches 100 hosts in
/// two waves and 500 in ten; Ansible's default of 5 would serialise a
/// 100-host run into 20 waves. It also stays under sshd's default
/// `MaxStartups 10:30:100` per target (one connection per host) and is
/// easy to raise with `--forks` when the control machine has more cores.
pub const DEFAULT_FORKS: usize = 50;

#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub forks: usize,
    pub dry_run: bool,
    pub connect: ConnectOptions,
    /// Grace for replies on top of a command's own limit; also the limit
    /// for starting a shell (sudo included) and for each write.
    pub io_timeout: Duration,
    /// Limit for commands that do not set their own.
    pub command_timeout: Option<Duration>,
}

impl EngineOptions {
    pub fn new(connect: ConnectOptions) -> Self {
        EngineOptions {
            forks: DEFAULT_FORKS,
            dry_run: false,
            connect,
            io_timeout: Duration::from_secs(30),
            command_timeout: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    Changed,
    Failed,
    Unreachable,
    /// Not attempted: the host was already unreachable in an earlier step.
    Skipped,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Changed => "changed",
            Status::Failed => "failed",
            Status::Unreachable => "unreachable",
            Status::Skipped => "skipped",
        }
    }
}

/// How a step ended on one host.
#[derive(Debug, Clone)]
pub struct HostReport {
    pub host: String,
    pub status: Status,
    /// Error kind (`AuthFailed`, `ConnectionRefused`...) when not ok.
    pub kind: Option<&'static str>,
    /// Redacted message: the error, or what the step chose to show.
    pub message: String,
    /// Last command's exit code and output (redacted), when there was one.
    pub rc: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// How long the host spent in the step.
    pub elapsed: std::time::Duration,
}

#[derive(Debug, Clone)]
pub struct StepReport {
    pub step: String,
    pub hosts: Vec<HostReport>,
}

impl StepReport {
    pub fn failures(&self) -> impl Iterator<Item = &HostReport> {
        self.hosts.iter().filter(|h| {
            matches!(
                h.status,
                Status::Failed | Status::Unreachable | Status::Skipped
            )
        })
    }
    pub fn all_ok(&self) -> bool {
        self.failures().next().is_none()
    }
}

/// Why a step failed on a host.
#[derive(Debug)]
pub enum HostFail {
    /// Could not reach or use the host.
    Exec(ExecError),
    /// The host answered, but the step's work failed (non-zero exit...).
    Failed(String),
}

impl From<ExecError> for HostFail {
    fn from(e: ExecError) -> Self {
        HostFail::Exec(e)
    }
}

/// Result of an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Unchanged,
    Changed,
    /// Dry run: would change.
    WouldChange,
}

#[derive(Default)]
struct Slot {
    shell: Option<Shell>,
    dead: Option<ExecError>,
}

pub struct Engine {
    nodes: Vec<Node>,
    slots: Vec<Mutex<Slot>>,
    pool: rayon::ThreadPool,
    opts: EngineOptions,
    pub log: RunLog,
    pub progress: Progress,
    redactor: Redactor,
    planned: Mutex<Vec<(String, String)>>,
    retries: AtomicUsize,
}

/// Every secret the nodes carry, for redaction.
pub fn redactor_for(nodes: &[Node], opts: &ConnectOptions) -> Redactor {
    let r = Redactor::new();
    fn target(r: &Redactor, t: &crate::model::SshTarget) {
        if let Some(p) = &t.password {
            r.add(p);
        }
        if let Some(b) = &t.bastion {
            target(r, b);
        }
    }
    for n in nodes {
        if let Connection::Ssh(t) = &n.connection {
            target(&r, t);
        }
        if let Some(b) = &n.become_ {
            if let Some(p) = &b.password {
                r.add(p);
            }
        }
    }
    if let Some(p) = &opts.key_passphrase {
        r.add(p);
    }
    r
}

impl Engine {
    pub fn new(
        nodes: Vec<Node>,
        opts: EngineOptions,
        log: RunLog,
        progress: Progress,
    ) -> Result<Engine, ExecError> {
        // The log's own set, so what the run learns reaches the log too.
        let redactor = log.redactor().clone();
        redactor.extend(&redactor_for(&nodes, &opts.connect));
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(opts.forks.max(1))
            // Workers only wait on sockets: small stacks keep RSS low.
            .stack_size(512 * 1024)
            .thread_name(|i| format!("ksinstall-fork-{i}"))
            .build()
            .map_err(|e| ExecError::Other(format!("cannot start the worker pool: {e}")))?;
        let slots = nodes.iter().map(|_| Mutex::new(Slot::default())).collect();
        Ok(Engine {
            nodes,
            slots,
            pool,
            opts,
            log,
            progress,
            redactor,
            planned: Mutex::new(Vec::new()),
            retries: AtomicUsize::new(0),
        })
    }

    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    pub fn dry_run(&self) -> bool {
        self.opts.dry_run
    }

    /// How many operations were tried again over a new connection after
    /// the connection was lost (uploads only: they are idempotent).
    pub fn retries(&self) -> usize {
        self.retries.load(Ordering::Relaxed)
    }

    /// Mutating actions a dry run skipped, as (host, description).
    pub fn planned(&self) -> Vec<(String, String)> {
        self.planned.lock().unwrap().clone()
    }

    /// Runs `f` on each of `hosts` (indices into `nodes()`), `forks` at a time.
    pub fn step<F>(&self, name: &str, hosts: &[usize], f: F) -> StepReport
    where
        F: Fn(&mut HostCtx) -> Result<(), HostFail> + Sync,
    {
        self.step_headed(&format!("{name}: {} host(s)", hosts.len()), name, hosts, f)
    }

    /// `step` with the line shown when it begins given by the caller (the
    /// install's phases name their title and host count in one line).
    pub fn step_headed<F>(&self, heading: &str, name: &str, hosts: &[usize], f: F) -> StepReport
    where
        F: Fn(&mut HostCtx) -> Result<(), HostFail> + Sync,
    {
        self.progress.begin_step(heading, hosts.len());
        let reports: Vec<HostReport> = self.pool.install(|| {
            hosts
                .par_iter()
                .with_max_len(1)
                .map(|&i| self.run_on(name, i, &f))
                .collect()
        });
        self.progress.end_step();
        StepReport {
            step: name.to_string(),
            hosts: reports,
        }
    }

    fn run_on<F>(&self, step: &str, i: usize, f: &F) -> HostReport
    where
        F: Fn(&mut HostCtx) -> Result<(), HostFail> + Sync,
    {
        let node = &self.nodes[i];
        let mut slot = self.slots[i].lock().unwrap_or_else(|p| p.into_inner());
        let started = std::time::Instant::now();
        let mut report = HostReport {
            host: node.name.clone(),
            status: Status::Ok,
            kind: None,
            message: String::new(),
            rc: None,
            stdout: String::new(),
            stderr: String::new(),
            elapsed: Default::default(),
        };
        if let Some(e) = &slot.dead {
            report.status = Status::Skipped;
            report.kind = Some(e.kind());
            report.message = format!(
                "skipped: unreachable earlier ({})",
                self.redactor.redact(&e.to_string())
            );
            self.progress
                .finished(&node.name, "skipped", &report.message);
            return report;
        }
        let mut ctx = HostCtx {
            engine: self,
            index: i,
            slot: &mut slot,
            changed: false,
            last: None,
            message: String::new(),
        };
        let result = catch_unwind(AssertUnwindSafe(|| f(&mut ctx))).unwrap_or_else(|_| {
            Err(HostFail::Failed(format!(
                "internal error: step {step} panicked"
            )))
        });
        let changed = ctx.changed;
        let last = ctx.last.take();
        let message = std::mem::take(&mut ctx.message);
        drop(ctx);
        if let Some(out) = last {
            report.rc = Some(out.rc);
            report.stdout = self.redactor.redact_bytes(&out.stdout);
            report.stderr = self.redactor.redact_bytes(&out.stderr);
        }
        report.message = self.redactor.redact(&message);
        match result {
            Ok(()) => report.status = if changed { Status::Changed } else { Status::Ok },
            Err(HostFail::Failed(m)) => {
                report.status = Status::Failed;
                report.kind = Some("Failed");
                report.message = self.redactor.redact(&m);
            }
            Err(HostFail::Exec(e)) => {
                report.kind = Some(e.kind());
                report.message = self.redactor.redact(&e.to_string());
                if e.is_unreachable() {
                    report.status = Status::Unreachable;
                    if let Some(mut sh) = slot.shell.take() {
                        sh.close();
                    }
                    slot.dead = Some(e);
                } else {
                    report.status = Status::Failed;
                    if matches!(e, ExecError::OpTimedOut { .. }) {
                        // The shell is in an unknown state: start afresh next time.
                        slot.shell = None;
                    }
                }
            }
        }
        self.log.record(
            &node.name,
            &format!("{step}: {}", report.status.label()),
            if report.message.is_empty() {
                ""
            } else {
                &report.message
            },
        );
        self.progress
            .finished(&node.name, report.status.label(), &report.message);
        report.elapsed = started.elapsed();
        report
    }

    /// Closes every open shell (and session).
    pub fn close_all(&self) {
        self.pool.install(|| {
            self.slots.par_iter().with_max_len(1).for_each(|s| {
                let mut s = s.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(mut sh) = s.shell.take() {
                    sh.close();
                }
            })
        });
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.close_all();
    }
}

/// One action on a host: the unit the mutation gate sees.
pub struct Action<'a> {
    /// What it does, in words, for progress, the log and dry-run output.
    pub describe: String,
    pub script: String,
    pub stdin: Option<Stdin<'a>>,
    pub timeout: Option<Duration>,
    pub mutates: bool,
    /// Its output holds key material (certificates, kubeconfigs): the run log
    /// records the exit code only.
    pub sensitive: bool,
}

/// A step's handle on one host.
pub struct HostCtx<'a> {
    engine: &'a Engine,
    index: usize,
    slot: &'a mut Slot,
    changed: bool,
    last: Option<CmdOutput>,
    message: String,
}

impl HostCtx<'_> {
    pub fn node(&self) -> &Node {
        &self.engine.nodes[self.index]
    }

    pub fn dry_run(&self) -> bool {
        self.engine.opts.dry_run
    }

    /// Marks the host changed by this step.
    pub fn set_changed(&mut self) {
        self.changed = true;
    }

    /// Text to show for this host in the step's report.
    pub fn set_message(&mut self, m: impl Into<String>) {
        self.message = m.into();
    }

    /// The host's shell, connecting on first use.
    fn shell(&mut self) -> Result<&mut Shell, ExecError> {
        if self.slot.shell.is_none() {
            let engine = self.engine;
            let node = &engine.nodes[self.index];
            engine.progress.working(&node.name, "connecting");
            // A connection that breaks while it is being set up (nothing has
            // run on the host yet) is tried once more: at hundreds of hosts
            // a few first contacts are reset mid-way and the next succeeds.
            let (sh, login_user, become_user) = match Self::open(engine, node) {
                Err(e) if matches!(e, ExecError::ConnectionLost { .. }) => {
                    engine.log.record(
                        &node.name,
                        &format!("{e} while connecting; once more in 2 s"),
                        "",
                    );
                    std::thread::sleep(Duration::from_secs(2));
                    Self::open(engine, node)?
                }
                r => r?,
            };
            let become_user = become_user.as_deref();
            if let Connection::Ssh(t) = &node.connection {
                if let Some(m) = engine.opts.connect.known_hosts.learned(&t.address, t.port) {
                    engine.log.record(&node.name, &m, "");
                    engine.progress.notice(&node.name, &m);
                }
            }
            engine.log.record(
                &node.name,
                &match become_user {
                    Some(u) => format!("connected as {login_user}, shell as {u} via sudo"),
                    None => format!("connected as {login_user}"),
                },
                "",
            );
            self.slot.shell = Some(sh);
        }
        Ok(self.slot.shell.as_mut().expect("just set"))
    }

    /// A connection and the privileged shell on it; the login user and the
    /// user sudo becomes, when another.
    fn open(engine: &Engine, node: &Node) -> Result<(Shell, String, Option<String>), ExecError> {
        let (target, login_user) = match &node.connection {
            Connection::Local => (Target::Local, local_user()),
            Connection::Ssh(t) => (
                Target::Ssh(transport::connect(t, &node.name, &engine.opts.connect)?),
                t.user.clone(),
            ),
        };
        let become_user = (node.become_.as_ref())
            .map(|b| b.user.clone())
            .filter(|u| *u != login_user);
        let password = node.become_.as_ref().and_then(|b| b.password.as_ref());
        let sh = Shell::start(
            target,
            become_user.as_deref(),
            password,
            &login_user,
            engine.opts.io_timeout,
        )?;
        Ok((sh, login_user, become_user))
    }

    /// The mutation gate: every operation on a host comes through here.
    /// Read-only actions always run; mutating ones are only recorded
    /// (and `None` returned) in a dry run.
    pub fn perform(&mut self, a: Action) -> Result<Option<CmdOutput>, ExecError> {
        let engine = self.engine;
        let name = engine.nodes[self.index].name.clone();
        if super::interrupt::requested() {
            engine
                .log
                .record(&name, &a.describe, "not started: interrupted");
            return Err(ExecError::Interrupted);
        }
        if a.mutates && engine.opts.dry_run {
            let d = engine.redactor.redact(&a.describe);
            engine.log.record(&name, &format!("DRY RUN, would {d}"), "");
            engine.progress.working(&name, &format!("would {d}"));
            engine.planned.lock().unwrap().push((name, d));
            return Ok(None);
        }
        let timeout = a.timeout.or(engine.opts.command_timeout);
        // Connected first, so the host's line says "connecting" and then
        // what runs, in that order.
        let shell = self.shell()?;
        engine.progress.working(&name, &a.describe);
        let mut out = shell.run(&a.script, a.stdin, timeout);
        // A connection that died while idle (a long render between steps)
        // fails the next command's first write, before the host got it:
        // connected again, the command is sent once more.
        if let (Err(ExecError::ConnectionLost { detail }), true) = (&out, shell.unsent) {
            let detail = detail.clone();
            engine.log.record(
                &name,
                &a.describe,
                &format!("not sent: connection lost: {detail}; connecting again"),
            );
            self.slot.shell = None;
            out = match self.shell() {
                Ok(shell) => shell.run(&a.script, a.stdin, timeout),
                // The host is gone: what happened is still the lost connection.
                Err(again) => Err(ExecError::ConnectionLost {
                    detail: format!("{detail}; connecting again: {again}"),
                }),
            };
        }
        match &out {
            Ok(o) => {
                let mut body = format!(
                    "rc={}{}\n",
                    o.rc,
                    if o.timed_out { " (timed out)" } else { "" }
                );
                if a.sensitive {
                    body.push_str("(output not logged: it holds key material)\n");
                } else if !o.stdout.is_empty() {
                    body.push_str("--- stdout\n");
                    body.push_str(&String::from_utf8_lossy(&o.stdout));
                    if !o.stdout.ends_with(b"\n") {
                        body.push('\n');
                    }
                }
                if !o.stderr.is_empty() {
                    body.push_str("--- stderr\n");
                    body.push_str(&String::from_utf8_lossy(&o.stderr));
                }
                engine.log.record(&name, &a.describe, &body);
            }
            Err(e) => engine
                .log
                .record(&name, &a.describe, &format!("error: {e}")),
        }
        out.map(Some)
    }

    /// Runs a command that may change the host (skipped in dry run).
    pub fn exec(
        &mut self,
        cmd: &str,
        timeout: Option<Duration>,
    ) -> Result<Option<CmdOutput>, ExecError> {
        let out = self.perform(Action {
            describe: format!("run: {cmd}"),
            script: cmd.to_string(),
            stdin: None,
            timeout,
            mutates: true,
            sensitive: false,
        })?;
        if let Some(o) = &out {
            self.changed = true;
            self.last = Some(o.clone());
        }
        Ok(out)
    }

    /// Runs a command that only reads (runs in dry run too).
    pub fn query(&mut self, cmd: &str, timeout: Option<Duration>) -> Result<CmdOutput, ExecError> {
        let out = self
            .perform(Action {
                describe: format!("query: {cmd}"),
                script: cmd.to_string(),
                stdin: None,
                timeout,
                mutates: false,
                sensitive: false,
            })?
            .expect("read-only actions always run");
        self.last = Some(out.clone());
        Ok(out)
    }

    /// Fetches a file's content.
    pub fn fetch(&mut self, path: &str) -> Result<Vec<u8>, HostFail> {
        let out = self
            .perform(Action {
                describe: format!("fetch {path}"),
                script: format!("cat -- {}", sh_quote(path)),
                stdin: None,
                timeout: None,
                mutates: false,
                sensitive: true,
            })?
            .expect("read-only actions always run");
        if out.rc != 0 {
            return Err(HostFail::Failed(format!(
                "cannot fetch {path}: {}",
                out.stderr_text().trim()
            )));
        }
        Ok(out.stdout)
    }

    /// Puts `data` at `dest` (absolute path) with `mode` and `owner`
    /// (`user[:group]`): written to a temp file beside `dest`, checked,
    /// then renamed over it, so readers never see a partial file and an
    /// interrupted upload leaves the old one whole. Nothing is sent when
    /// the content, mode and owner already match.
    ///
    /// An upload is idempotent, so when the connection is lost during one
    /// it is tried once more over a new connection (commands are never
    /// retried: they may not be idempotent).
    pub fn upload(
        &mut self,
        data: &[u8],
        dest: &str,
        mode: Option<u32>,
        owner: Option<&str>,
    ) -> Result<Change, HostFail> {
        self.upload_blob(&Blob::new(data), dest, mode, owner)
    }

    /// `upload` of shared content: held once and hashed once for every
    /// host, or streamed from this machine's disk (see `Blob`).
    pub fn upload_blob(
        &mut self,
        blob: &Blob,
        dest: &str,
        mode: Option<u32>,
        owner: Option<&str>,
    ) -> Result<Change, HostFail> {
        let mut sent = false;
        match self.upload_once(blob, dest, mode, owner, &mut sent) {
            Err(HostFail::Exec(e @ ExecError::ConnectionLost { .. })) => {
                let engine = self.engine;
                let name = engine.nodes[self.index].name.clone();
                engine.log.record(
                    &name,
                    &format!("upload to {dest}: {e}; trying once more over a new connection"),
                    "",
                );
                engine
                    .progress
                    .working(&name, "reconnecting to retry an upload");
                engine.retries.fetch_add(1, Ordering::Relaxed);
                if let Some(mut sh) = self.slot.shell.take() {
                    sh.close();
                }
                let mut again = false;
                match self.upload_once(blob, dest, mode, owner, &mut again)? {
                    // The lost attempt got as far as the rename.
                    Change::Unchanged if sent => {
                        self.changed = true;
                        Ok(Change::Changed)
                    }
                    c => Ok(c),
                }
            }
            r => r,
        }
    }

    /// One upload attempt; `sent` is set once the content is being sent.
    fn upload_once(
        &mut self,
        blob: &Blob,
        dest: &str,
        mode: Option<u32>,
        owner: Option<&str>,
        sent: &mut bool,
    ) -> Result<Change, HostFail> {
        if !dest.starts_with('/') || dest.ends_with('/') {
            return Err(HostFail::Failed(format!(
                "upload destination must be an absolute file path: {dest}"
            )));
        }
        let q = sh_quote(dest);
        let hash = blob.sha256();
        // Content the host received already (`--serve-bundle`) is copied
        // from its cache, not sent.
        let cached = format!("{}/{hash}", super::relay::CAS_DIR);
        let check = self
            .perform(Action {
                describe: format!("check {dest}"),
                script: format!(
                    "f={q}; if [ -f \"$f\" ]; then sha256sum <\"$f\" | cut -c1-64; stat -c '%a %U:%G' -- \"$f\"; elif [ -e \"$f\" ]; then echo NOTFILE; else echo ABSENT; fi; [ -f {c} ] && echo CACHED; true",
                    c = sh_quote(&cached)
                ),
                stdin: None,
                timeout: None,
                mutates: false,
                sensitive: false,
            })?
            .expect("read-only actions always run");
        let text = check.stdout_text();
        let mut lines = text.lines();
        let first = lines.next().unwrap_or("").trim();
        if check.rc != 0 || first == "NOTFILE" {
            return Err(HostFail::Failed(format!(
                "cannot upload to {dest}: {}",
                if first == "NOTFILE" {
                    "exists and is not a regular file".to_string()
                } else {
                    check.stderr_text().trim().to_string()
                }
            )));
        }
        let exists = first != "ABSENT";
        let (cur_mode, cur_owner) = match lines.next().and_then(|l| l.split_once(' ')) {
            Some((m, o)) => (
                u32::from_str_radix(m.trim(), 8).ok(),
                Some(o.trim().to_string()),
            ),
            None => (None, None),
        };
        let owner_matches = |cur: &Option<String>| match (owner, cur) {
            (None, _) => true,
            (Some(want), Some(cur)) => {
                if want.contains(':') {
                    want == cur
                } else {
                    cur.split(':').next() == Some(want)
                }
            }
            (Some(_), None) => false,
        };
        let in_cache = text.lines().any(|l| l == "CACHED");
        let content_same = exists && first == hash;
        let mode_same = mode.is_none() || mode == cur_mode;
        if content_same && mode_same && owner_matches(&cur_owner) {
            return Ok(Change::Unchanged);
        }
        let mut attrs = String::new();
        match mode {
            Some(m) => attrs.push_str(&format!("chmod {m:04o} \"$t\"\n")),
            None if exists => attrs.push_str("chmod --reference=\"$f\" \"$t\"\n"),
            None => attrs.push_str("chmod 0644 \"$t\"\n"),
        }
        match owner {
            Some(o) => attrs.push_str(&format!("chown {} \"$t\"\n", sh_quote(o))),
            None if exists => attrs.push_str("chown --reference=\"$f\" \"$t\" 2>/dev/null || :\n"),
            None => {}
        }
        let how = match in_cache && !content_same {
            true => "copy from the host's cache",
            false => "upload",
        };
        let describe = format!(
            "{how} {} bytes to {dest}{}{}",
            blob.len(),
            mode.map(|m| format!(" mode {m:04o}")).unwrap_or_default(),
            owner.map(|o| format!(" owner {o}")).unwrap_or_default()
        );
        let stage = format!("{}.ksinstall-", stage_prefix(dest));
        let (script, stdin) = if content_same {
            // Only the attributes differ: no need to send the content.
            let mut s = format!("set -e\nf={q}\nt=\"$f\"\n");
            s.push_str(&attrs);
            (s, None)
        } else if in_cache {
            // The cache's file, linked (no second copy on the disk) or
            // copied, checked again (the cache is only a shortcut), and
            // renamed into place as a sent file would be.
            let script = format!(
                "set -e\nf={q}\nd=${{f%/*}}; d=${{d:-/}}; b=${{f##*/}}\nmkdir -p -- \"$d\"\n\
                 t=\"$d/.$b.ksinstall-$$\"\ntrap 'rm -f -- \"$t\"' EXIT\n\
                 ln -f -- {c} \"$t\" 2>/dev/null || cp -f -- {c} \"$t\"\n\
                 [ \"$(sha256sum <\"$t\" | cut -c1-64)\" = {hash} ] || {{ echo 'the cached copy does not match' >&2; exit 1; }}\n\
                 {attrs}mv -f -- \"$t\" \"$f\"\ntrap - EXIT\n",
                c = sh_quote(&cached)
            );
            (script, None)
        } else {
            // The content arrives in $KSI_STDIN, a new file beside $f when
            // the shell could make one there (renamed into place, so written
            // once); otherwise it is copied from the shell's own directory.
            let script = format!(
                "set -e\nf={q}\nd=${{f%/*}}; d=${{d:-/}}; b=${{f##*/}}\n\
                 mkdir -p -- \"$d\"\n\
                 find \"$d\" -maxdepth 1 -name \".$b.ksinstall-*\" -mmin +10 -delete 2>/dev/null || :\n\
                 case \"$KSI_STDIN\" in \"$d/.$b.ksinstall-\"*) t=$KSI_STDIN ;; *) t=$(mktemp \"$d/.$b.ksinstall-XXXXXX\"); cat >\"$t\" ;; esac\n\
                 trap 'rm -f -- \"$t\"' EXIT\n\
                 [ \"$(sha256sum <\"$t\" | cut -c1-64)\" = {hash} ] || {{ echo 'upload corrupted in transit' >&2; exit 1; }}\n\
                 {attrs}mv -f -- \"$t\" \"$f\"\ntrap - EXIT\n"
            );
            let stdin = Stdin {
                content: blob,
                stage: Some(&stage),
            };
            (script, Some(stdin))
        };
        *sent = true;
        let out = self.perform(Action {
            describe,
            script,
            stdin,
            timeout: None,
            mutates: true,
            sensitive: false,
        })?;
        match out {
            None => Ok(Change::WouldChange),
            Some(o) if o.rc == 0 => {
                self.changed = true;
                Ok(Change::Changed)
            }
            Some(o) => Err(HostFail::Failed(format!(
                "upload to {dest} failed: {}",
                o.stderr_text().trim()
            ))),
        }
    }
}

/// `dir/.name` for `dir/name`: the start of an upload's temp files.
fn stage_prefix(dest: &str) -> String {
    match dest.rsplit_once('/') {
        Some((dir, name)) => format!("{dir}/.{name}"),
        None => format!(".{dest}"),
    }
}

/// The user this process runs as.
pub fn local_user() -> String {
    let uid = unsafe { libc::getuid() };
    if uid == 0 {
        return "root".to_string();
    }
    std::env::var("USER").unwrap_or_else(|_| uid.to_string())
}
