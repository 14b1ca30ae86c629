//! Runs a program from an argv array (never through a shell) with a timeout, capped output and
//! optional stdin, env and working directory. Nothing a program starts outlives it: hostscript
//! makes itself a child subreaper (`PR_SET_CHILD_SUBREAPER`), so a daemon that double-forks
//! or calls `setsid` is re-parented to hostscript instead of init, and every command carries a
//! token in its environment (`HOSTSCRIPT_COMMAND`). When a command ends, or its budget runs
//! out, every orphan whose command is no longer running is killed and reaped; the command's
//! output pipes are then read to their end, so a leftover holding a pipe open cannot hold the
//! check for its whole budget. A subreaper was chosen over a cgroup per command because it
//! needs no writable cgroup hierarchy (not a given in containers or without systemd) and
//! costs one /proc scan per command.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

/// What to run and how.
#[derive(Debug, Clone)]
pub struct CommandSpec {
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub clear_env: bool,
    pub cwd: Option<PathBuf>,
    pub stdin: Option<Vec<u8>>,
    pub timeout: Duration,
    /// Bytes kept of stdout and of stderr each; the rest is read and dropped.
    pub max_output: usize,
}

impl CommandSpec {
    pub fn new(argv: Vec<String>, timeout: Duration) -> Self {
        CommandSpec {
            argv,
            env: Vec::new(),
            clear_env: false,
            cwd: None,
            stdin: None,
            timeout,
            max_output: DEFAULT_MAX_OUTPUT,
        }
    }

    fn program(&self) -> &str {
        self.argv.first().map_or("", String::as_str)
    }
}

/// Output kept per stream unless a script asks for more.
pub const DEFAULT_MAX_OUTPUT: usize = 1024 * 1024;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandOutput {
    /// Exit code, or `None` when a signal ended the program. An answer written by hand
    /// without one exited 0.
    #[serde(default = "exited_zero")]
    pub code: Option<i32>,
    #[serde(default)]
    pub signal: Option<i32>,
    #[serde(default)]
    pub stdout: String,
    #[serde(default)]
    pub stderr: String,
    #[serde(default)]
    pub stdout_truncated: bool,
    #[serde(default)]
    pub stderr_truncated: bool,
    #[serde(default, rename = "duration_ms", with = "crate::host::millis")]
    pub duration: Duration,
}

fn exited_zero() -> Option<i32> {
    Some(0)
}

#[derive(Debug, thiserror::Error)]
pub enum CmdError {
    #[error("empty argv: nothing to run")]
    EmptyArgv,
    #[error("program `{program}` not found on PATH")]
    NotFound { program: String },
    #[error("`{program}` does not exist")]
    NoSuchFile { program: String },
    #[error("`{program}`: permission denied")]
    PermissionDenied { program: String },
    #[error("working directory `{}` does not exist", cwd.display())]
    NoSuchCwd { cwd: PathBuf },
    #[error("cannot start `{program}`: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("`{program}` timed out after {} and was killed", crate::text::human_duration(*after))]
    TimedOut { program: String, after: Duration },
    #[error("interrupted")]
    Interrupted,
    #[error("reading the output of `{program}`: {source}")]
    Io {
        program: String,
        source: std::io::Error,
    },
}

/// The environment variable that marks every process a command starts.
pub const TOKEN_VAR: &str = "HOSTSCRIPT_COMMAND";

static SUBREAPER: AtomicBool = AtomicBool::new(false);
/// Set when the run is being interrupted: commands are killed and no new one starts.
static STOPPED: AtomicBool = AtomicBool::new(false);
static NEXT_TOKEN: AtomicU64 = AtomicU64::new(1);

/// Commands still running: their direct child's pid and their token. An orphan whose token is
/// here belongs to a command that is still at work and is left alone.
struct Running {
    pids: HashSet<i32>,
    tokens: HashSet<String>,
}

static RUNNING: std::sync::LazyLock<Mutex<Running>> = std::sync::LazyLock::new(|| {
    Mutex::new(Running {
        pids: HashSet::new(),
        tokens: HashSet::new(),
    })
});

/// Spawning holds this shared, sweeping holds it exclusive: a sweep never sees a child that is
/// spawned but not yet registered (and whose /proc environ may still be the parent's).
static SPAWNING: std::sync::RwLock<()> = std::sync::RwLock::new(());

fn running() -> std::sync::MutexGuard<'static, Running> {
    RUNNING.lock().unwrap_or_else(|p| p.into_inner())
}

/// Makes this process the reaper of every orphan among its descendants. Call once at start;
/// returns false where the kernel refuses (then leftovers escape to init, as before).
#[allow(unsafe_code)] // audited FFI: see the SAFETY comment
pub fn become_subreaper() -> bool {
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER takes one integer argument.
    let ok = unsafe { nix::libc::prctl(nix::libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } == 0;
    SUBREAPER.store(ok, Ordering::Relaxed);
    ok
}

/// Direct children of this process that no running command owns: orphans re-parented to us.
fn orphans() -> Vec<i32> {
    let owned = running().pids.clone();
    children()
        .into_iter()
        .filter(|pid| !owned.contains(pid))
        .collect()
}

/// This process's children. `/proc/self/task/TID/children` lists each thread's (an orphan is
/// re-parented to any live thread of the reaper), a few small reads; a kernel built without
/// CONFIG_PROC_CHILDREN has no such file, and then every `/proc/PID/stat` is read for its
/// parent, which costs a read per process on the machine and ran at the end of every command.
fn children() -> Vec<i32> {
    static HAS_CHILDREN_FILES: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let me = std::process::id();
    let has = *HAS_CHILDREN_FILES
        .get_or_init(|| std::path::Path::new(&format!("/proc/self/task/{me}/children")).exists());
    if has {
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
            return Vec::new();
        };
        let mut pids = Vec::new();
        for task in tasks.flatten() {
            // A thread that ended since the listing has no file any more: nothing to add.
            if let Ok(text) = std::fs::read_to_string(task.path().join("children")) {
                pids.extend(
                    text.split_whitespace()
                        .filter_map(|p| p.parse::<i32>().ok()),
                );
            }
        }
        return pids;
    }
    let me = me.to_string();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| {
                    let rest = &stat[stat.rfind(')')? + 1..];
                    rest.split_whitespace().nth(1).map(|ppid| ppid == me)
                })
                .unwrap_or(false)
        })
        .collect()
}

/// The command token in a process's environment, if it can be read (a zombie has none).
fn token_of(pid: i32) -> Option<String> {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    environ.split(|b| *b == 0).find_map(|entry| {
        let entry = std::str::from_utf8(entry).ok()?;
        entry
            .strip_prefix(TOKEN_VAR)?
            .strip_prefix('=')
            .map(str::to_string)
    })
}

/// Kills and reaps every orphan that no running command owns. Each killed process's own
/// children are re-parented to us in turn, so this repeats until a round finds none. `all`
/// also takes orphans of running commands (the run is ending).
pub fn reap_orphans(all: bool) -> usize {
    if !SUBREAPER.load(Ordering::Relaxed) {
        return 0;
    }
    let _exclusive = SPAWNING.write().unwrap_or_else(|p| p.into_inner());
    let mut reaped = 0;
    for _ in 0..256 {
        let mut progress = false;
        for pid in orphans() {
            let token = token_of(pid);
            if !all && token.as_ref().is_some_and(|t| running().tokens.contains(t)) {
                continue;
            }
            let pid = Pid::from_raw(pid);
            let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
            // Our child now: waiting returns as soon as the kill lands, and frees the zombie.
            if nix::sys::wait::waitpid(pid, None).is_ok() {
                reaped += 1;
                progress = true;
            }
        }
        if !progress {
            break;
        }
    }
    reaped
}

/// On a signal: no command starts any more, and every one running is killed with what it
/// started. Their `run` calls end with `CmdError::Interrupted`.
pub fn stop_all() -> usize {
    STOPPED.store(true, Ordering::Relaxed);
    kill_everything()
}

/// At the end of a run (or on a signal): kills every command still running, with its process
/// group, and every orphan, and reaps them all. Nothing hostscript started survives it.
pub fn kill_everything() -> usize {
    let pids: Vec<i32> = {
        let mut r = running();
        r.tokens.clear();
        r.pids.drain().collect()
    };
    let mut killed = 0;
    for pid in &pids {
        let pid = Pid::from_raw(*pid);
        let _ = killpg(pid, Signal::SIGKILL);
        let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
        // tokio may have reaped it already (ECHILD); otherwise this frees the zombie.
        if nix::sys::wait::waitpid(pid, None).is_ok() {
            killed += 1;
        }
    }
    killed + reap_orphans(true)
}

pub async fn run(spec: &CommandSpec) -> Result<CommandOutput, CmdError> {
    if STOPPED.load(Ordering::Relaxed) {
        return Err(CmdError::Interrupted);
    }
    let program = spec.program().to_string();
    if program.is_empty() {
        return Err(CmdError::EmptyArgv);
    }
    // A token in the argv or the environment is secret from here on, wherever it turns up.
    crate::secrets::discover(&spec.argv.join(" "));
    for (name, value) in &spec.env {
        crate::secrets::discover(&format!("{name}={value}"));
    }
    if let Some(cwd) = &spec.cwd
        && !cwd.is_dir()
    {
        return Err(CmdError::NoSuchCwd { cwd: cwd.clone() });
    }
    let mut command = tokio::process::Command::new(&program);
    command
        .args(&spec.argv[1..])
        .stdin(if spec.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so a timeout can kill everything the program started.
        .process_group(0)
        .kill_on_drop(true);
    if spec.clear_env {
        command.env_clear();
    }
    command.envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let token = format!(
        "{}.{}",
        std::process::id(),
        NEXT_TOKEN.fetch_add(1, Ordering::Relaxed)
    );
    command.env(TOKEN_VAR, &token);
    if let Some(cwd) = &spec.cwd {
        command.current_dir(cwd);
    }

    let started = Instant::now();
    // Registered before the spawn, so a sweep by another command never mistakes this child
    // for an orphan.
    let spawning = SPAWNING.read().unwrap_or_else(|p| p.into_inner());
    running().tokens.insert(token.clone());
    let mut done = Done { pid: None, token };
    let mut child = command
        .spawn()
        .map_err(|source| spawn_error(&program, source))?;
    let pid = child.id().and_then(|id| i32::try_from(id).ok());
    if let Some(pid) = pid {
        running().pids.insert(pid);
        done.pid = Some(pid);
    }
    drop(spawning);
    let group = pid.map(Pid::from_raw);

    let stdin_task = match (child.stdin.take(), spec.stdin.clone()) {
        (Some(mut pipe), Some(bytes)) => Some(tokio::spawn(async move {
            // A program that exits without reading its input is not an error of ours.
            let _ = pipe.write_all(&bytes).await;
            let _ = pipe.shutdown().await;
        })),
        _ => None,
    };
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let max = spec.max_output;

    let deadline = tokio::time::Instant::now() + spec.timeout;
    let mut out_task = tokio::spawn(read_capped(stdout, max));
    let mut err_task = tokio::spawn(read_capped(stderr, max));
    let finished = match tokio::time::timeout_at(deadline, child.wait()).await {
        Ok(status) => {
            // The program is done: whatever it left behind goes now (its own group first,
            // then orphans that escaped it), so the pipes close and the reads below end.
            if let Some(group) = group {
                let _ = killpg(group, Signal::SIGKILL);
            }
            done.finish();
            reap_orphans(false);
            let out = tokio::time::timeout_at(deadline, &mut out_task).await;
            let err = tokio::time::timeout_at(deadline, &mut err_task).await;
            match (out, err) {
                (Ok(out), Ok(err)) => Ok((joined(out), joined(err), status)),
                _ => Err(()),
            }
        }
        Err(_) => Err(()),
    };
    out_task.abort();
    err_task.abort();

    if let Some(task) = stdin_task {
        task.abort();
    }
    tracing::debug!(
        argv = ?spec.argv,
        ms = started.elapsed().as_millis() as u64,
        ok = finished.as_ref().is_ok_and(|(_, _, s)| s.as_ref().is_ok_and(|s| s.success())),
        "cmd::run"
    );
    if STOPPED.load(Ordering::Relaxed) {
        return Err(CmdError::Interrupted);
    }
    match finished {
        Ok((out, err, status)) => {
            let io = |source| CmdError::Io {
                program: program.clone(),
                source,
            };
            let (stdout, stdout_truncated) = out.map_err(io)?;
            let (stderr, stderr_truncated) = err.map_err(io)?;
            let status = status.map_err(io)?;
            // What a program prints (`systemctl show` quotes ExecStart whole) may carry one.
            crate::secrets::discover(&stdout);
            crate::secrets::discover(&stderr);
            use std::os::unix::process::ExitStatusExt;
            Ok(CommandOutput {
                code: status.code(),
                signal: status.signal(),
                stdout,
                stderr,
                stdout_truncated,
                stderr_truncated,
                duration: started.elapsed(),
            })
        }
        Err(()) => {
            if let Some(group) = group {
                // ESRCH means the group is already gone, which is what we want.
                let _ = killpg(group, Signal::SIGKILL);
            }
            // Reap the direct child so no zombie is left; its group is dead, so this is quick.
            let _ = tokio::time::timeout(Duration::from_secs(2), child.wait()).await;
            done.finish();
            reap_orphans(false);
            Err(CmdError::TimedOut {
                program,
                after: spec.timeout,
            })
        }
    }
}

/// Unregisters a command however `run` ends (also when its future is dropped mid-way).
struct Done {
    pid: Option<i32>,
    token: String,
}

impl Done {
    fn finish(&mut self) {
        let mut r = running();
        if let Some(pid) = self.pid.take() {
            r.pids.remove(&pid);
        }
        r.tokens.remove(&self.token);
    }
}

impl Drop for Done {
    fn drop(&mut self) {
        self.finish();
    }
}

type Read = std::io::Result<(String, bool)>;

fn joined(r: Result<Read, tokio::task::JoinError>) -> Read {
    r.unwrap_or_else(|e| Err(std::io::Error::other(e)))
}

fn spawn_error(program: &str, source: std::io::Error) -> CmdError {
    let program = program.to_string();
    match source.kind() {
        std::io::ErrorKind::NotFound if program.contains('/') => CmdError::NoSuchFile { program },
        std::io::ErrorKind::NotFound => CmdError::NotFound { program },
        // execvp reports EACCES when a PATH directory could not be searched and the program
        // was found nowhere else: that is a missing program, not one it may not run.
        std::io::ErrorKind::PermissionDenied
            if !program.contains('/') && which::which(&program).is_err() =>
        {
            CmdError::NotFound { program }
        }
        std::io::ErrorKind::PermissionDenied => CmdError::PermissionDenied { program },
        _ => CmdError::Spawn { program, source },
    }
}

/// Reads a whole stream, keeping the first `max` bytes. Reading on past the cap matters: a
/// program blocked on a full pipe would otherwise never exit.
async fn read_capped<R: AsyncRead + Unpin>(
    stream: Option<R>,
    max: usize,
) -> std::io::Result<(String, bool)> {
    let Some(mut stream) = stream else {
        return Ok((String::new(), false));
    };
    let mut kept = Vec::new();
    let mut truncated = false;
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        let room = max.saturating_sub(kept.len());
        kept.extend_from_slice(&chunk[..n.min(room)]);
        truncated |= n > room;
    }
    Ok((String::from_utf8_lossy(&kept).into_owned(), truncated))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(argv: &[&str]) -> CommandSpec {
        CommandSpec::new(
            argv.iter().map(|s| s.to_string()).collect(),
            Duration::from_secs(5),
        )
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    #[test]
    fn captures_exit_code_and_both_streams() {
        let out =
            block_on(run(&spec(&["sh", "-c", "echo out; echo err >&2; exit 3"]))).expect("runs");
        assert_eq!(out.code, Some(3));
        assert_eq!(out.stdout, "out\n");
        assert_eq!(out.stderr, "err\n");
    }

    #[test]
    fn reports_the_signal_that_ended_the_program() {
        let out = block_on(run(&spec(&["sh", "-c", "kill -TERM $$"]))).expect("runs");
        assert_eq!((out.code, out.signal), (None, Some(15)));
    }

    #[test]
    fn stdin_env_and_cwd_reach_the_program() {
        let mut s = spec(&["sh", "-c", "cat; printf ' %s ' \"$GREETING\"; pwd"]);
        s.stdin = Some(b"piped".to_vec());
        s.env.push(("GREETING".into(), "hi".into()));
        s.cwd = Some("/".into());
        let out = block_on(run(&s)).expect("runs");
        assert_eq!(out.stdout, "piped hi /\n");
    }

    #[test]
    fn output_beyond_the_cap_is_dropped_and_flagged() {
        let mut s = spec(&["sh", "-c", "head -c 200000 /dev/zero | tr '\\0' a"]);
        s.max_output = 1000;
        let out = block_on(run(&s)).expect("runs");
        assert_eq!(out.stdout.len(), 1000);
        assert!(out.stdout_truncated);
        assert!(!out.stderr_truncated);
    }

    #[test]
    fn missing_program_is_named() {
        let err = block_on(run(&spec(&["no-such-program-hs"]))).expect_err("missing");
        assert_eq!(
            err.to_string(),
            "program `no-such-program-hs` not found on PATH"
        );
        let err = block_on(run(&spec(&["/nonexistent/prog"]))).expect_err("missing");
        assert_eq!(err.to_string(), "`/nonexistent/prog` does not exist");
    }

    #[test]
    fn timeout_kills_the_whole_process_group() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pidfile = dir.path().join("grandchild.pid");
        let script = format!("sleep 30 & echo $! > {}; wait", pidfile.display());
        let mut s = spec(&["sh", "-c", &script]);
        s.timeout = Duration::from_millis(300);
        let started = Instant::now();
        let err = block_on(run(&s)).expect_err("times out");
        assert!(matches!(err, CmdError::TimedOut { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(3));
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .expect("pid")
            .trim()
            .parse()
            .expect("int");
        // The grandchild must be gone (or a zombie reaped by init) shortly after the kill.
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let alive = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|s| !s.contains(") Z "))
                .unwrap_or(false);
            if !alive {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "grandchild {pid} survived the timeout"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
