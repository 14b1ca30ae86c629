//! The command line exactly as the user typed it (clap derive), with no I/O and no probing of
//! the host. `config`-like resolution (vars files, path expansion) happens in the commands that
//! need it, so `--help` and usage errors stay instant.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Tell whether a Linux host is ready to run Flintlock microVMs, from editable Rhai checks.
#[derive(Debug, Parser)]
#[command(name = "hostscript", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// Load scripts, modules, vars, templates and waivers that others than their owner (or
    /// root) could change, with a warning for each, instead of refusing them: for development
    /// checkouts only; as root it lets whoever can write there run code as root
    #[arg(
        long,
        global = true,
        env = "HOSTSCRIPT_ALLOW_UNTRUSTED_PATHS",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub allow_untrusted_paths: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run checks and report; exit 0 when every required check passes
    #[command(
        after_help = "Examples:\n  hostscript run checks/\n  hostscript run checks/ --tag thinpool -o junit=report.xml\n  hostscript run checks/ --fix --dry-run"
    )]
    Run(RunArgs),
    /// List the checks the scripts define, without running them
    #[command(
        after_help = "Examples:\n  hostscript list checks/\n  hostscript list checks/ --only 'containerd.*' --format json\n  hostscript list checks/ remediations/ --format markdown > docs/suite.md"
    )]
    List(ListArgs),
    /// Compile every script and report every error as file:line:col; exit 1 if any
    #[command(
        after_help = "Examples:\n  hostscript lint checks/\n  hostscript lint checks/ remediations/ site/"
    )]
    Lint(LintArgs),
    /// Apply remediations (or show what they would change with --dry-run)
    #[command(
        after_help = "Examples:\n  hostscript remediate --list\n  hostscript remediate thinpool --dry-run\n  sudo hostscript remediate thinpool containerd-dev"
    )]
    Remediate(RemediateArgs),
    /// Serve readiness over HTTP (/healthz, /healthz/ID, /metrics, /report); never remediates
    #[command(
        after_help = "Examples:\n  hostscript serve checks/\n  hostscript serve checks/ --listen 0.0.0.0:9842 --interval 1m"
    )]
    Serve(ServeArgs),
    /// Test checks against recorded and hand-written hosts: run every *.test.toml under PATH
    #[command(
        after_help = "Examples:\n  hostscript test tests/hosts/\n  hostscript test site/kvm.test.toml --format junit > tests.xml"
    )]
    Test(TestArgs),
    /// Merge many hosts' JSON reports into the fleet view (hosts by status, failing checks)
    #[command(
        after_help = "Examples:\n  hostscript merge reports/\n  hostscript merge reports/ --expect host-a,host-b,host-c\n  hostscript merge a.json b.json --format prometheus > fleet.prom"
    )]
    Merge(MergeArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    #[command(
        after_help = "Examples:\n  hostscript completions bash > /etc/bash_completion.d/hostscript\n  hostscript completions zsh > \"${fpath[1]}/_hostscript\"\n  hostscript completions fish > ~/.config/fish/completions/hostscript.fish"
    )]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// The primitives reference: the modules, or one module's functions with their signatures
    #[command(
        after_help = "Examples:\n  hostscript doc\n  hostscript doc fs\n  hostscript doc --format markdown > docs/primitives.md\n  hostscript doc --definitions .rhai-defs   # for the Rhai language server"
    )]
    Doc {
        /// One module (fs, cmd, grpc, ..., fix)
        module: Option<String>,
        /// Write Rhai definition files (.d.rhai) into DIR, for editors
        #[arg(long, value_name = "DIR")]
        definitions: Option<PathBuf>,
        /// `markdown`: the whole reference as one page (docs/primitives.md is this output)
        #[arg(long, value_name = "FORMAT", value_parser = ["text", "markdown"], default_value = "text")]
        format: String,
    },
    /// Print the man page (roff), or write one page per subcommand into DIR
    #[command(
        after_help = "Examples:\n  hostscript man | man -l -\n  hostscript man --dir docs/man   # hostscript.1, hostscript-run.1, ..."
    )]
    Man {
        /// Write hostscript.1 and a page per subcommand (hostscript-run.1, ...) into DIR
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

/// How remediations change the host (shared by `remediate` and `run --fix`).
#[derive(Debug, Args, Clone)]
pub struct ChangeArgs {
    /// Show every change (diffs, commands) and change nothing; works without root
    #[arg(long, help_heading = "Changes")]
    pub dry_run: bool,

    /// Remediation directory (repeatable) [default: the installed
    /// /usr/share/hostscript/remediations]
    #[arg(
        long = "remediations",
        value_name = "DIR",
        env = "HOSTSCRIPT_REMEDIATIONS",
        help_heading = "Changes"
    )]
    pub remediation_dirs: Vec<PathBuf>,

    /// Stage files only: put every file path the remediations touch under DIR. systemctl's
    /// changing verbs (daemon-reload, enable, start, restart) are not run (reported "cannot
    /// tell"), as they would act on this host's manager; reading unit state still happens
    #[arg(
        long,
        value_name = "DIR",
        default_value = "/",
        help_heading = "Changes"
    )]
    pub root: PathBuf,

    /// Append applied changes to FILE [default: ROOT/var/log/hostscript/changes.log]
    #[arg(long, value_name = "FILE", help_heading = "Changes")]
    pub log: Option<PathBuf>,

    /// Wall-clock budget of each remediation (600, 10m)
    #[arg(
        long = "remediation-timeout",
        value_name = "DURATION",
        default_value = "600",
        value_parser = crate::text::parse_duration,
        help_heading = "Changes"
    )]
    pub remediation_timeout: std::time::Duration,
}

#[derive(Debug, Args)]
pub struct RemediateArgs {
    /// Remediation ids to apply, in any order (their `after` lists decide the order)
    #[arg(value_name = "ID", required_unless_present = "list")]
    pub ids: Vec<String>,

    /// List the remediations: id, description, what each touches
    #[arg(long)]
    pub list: bool,

    /// Checks directory whose vars.toml applies first, so checks and remediations share vars
    /// [default: the installed checks and checks.d, with /etc/hostscript/vars.toml]
    #[arg(long = "checks", value_name = "DIR")]
    pub checks_dir: Option<PathBuf>,

    #[command(flatten)]
    pub vars: VarsArgs,

    #[command(flatten)]
    pub change: ChangeArgs,

    #[command(flatten)]
    pub output: OutputArgs,

    /// Apply remediations that are backing off after failing (--state)
    #[arg(long, help_heading = "Changes")]
    pub force: bool,

    #[command(flatten)]
    pub state: StateArgs,

    /// Refused with a reason: a remediation acts on this host, never on a recording's answers
    #[arg(long, value_name = "FILE", hide = true)]
    pub replay: Option<PathBuf>,
}

/// Vars over the vars.toml files of the script directories.
#[derive(Debug, Args, Clone)]
pub struct VarsArgs {
    /// Read vars from FILE (TOML), over the vars.toml files (repeatable, later wins)
    #[arg(
        long = "vars",
        value_name = "FILE",
        env = "HOSTSCRIPT_VARS",
        help_heading = "Vars"
    )]
    pub files: Vec<PathBuf>,

    /// Set one var, over every vars file (VALUE parses as TOML, else as a string)
    #[arg(long = "var", value_name = "KEY=VALUE", help_heading = "Vars")]
    pub flags: Vec<String>,
}

/// How `run` reports: one format on stdout, and any number of `-o FORMAT=FILE` besides.
#[derive(Debug, Args, Clone)]
pub struct RunOutputArgs {
    /// Output format on stdout
    #[arg(short, long, value_enum, default_value_t = RunFormat::Human, env = "HOSTSCRIPT_FORMAT", help_heading = "Output")]
    pub format: RunFormat,

    /// Also write the report as FORMAT to FILE (repeatable; each file written atomically),
    /// e.g. -o junit=report.xml
    #[arg(
        short = 'o',
        long = "output",
        value_name = "FORMAT=FILE",
        help_heading = "Output"
    )]
    pub outputs: Vec<String>,

    /// When to colour human output
    #[arg(long, value_enum, default_value_t = Color::Auto, help_heading = "Output")]
    pub color: Color,

    /// Show only the checks that did not pass, and the summary
    #[arg(
        short,
        long,
        env = "HOSTSCRIPT_QUIET",
        conflicts_with = "verbose",
        help_heading = "Output"
    )]
    pub quiet: bool,

    /// -v: every check's details; -vv: also log every host call with its duration on stderr
    /// (or RUST_LOG=hostscript=debug)
    #[arg(short, long, action = clap::ArgAction::Count, help_heading = "Output")]
    pub verbose: u8,
}

/// How `remediate` reports.
#[derive(Debug, Args, Clone)]
pub struct OutputArgs {
    /// Output format
    #[arg(short, long, value_enum, default_value_t = DocFormat::Human, env = "HOSTSCRIPT_FORMAT", help_heading = "Output")]
    pub format: DocFormat,

    /// When to colour human output
    #[arg(long, value_enum, default_value_t = Color::Auto, help_heading = "Output")]
    pub color: Color,
}

/// Where checks come from and which of them to use.
#[derive(Debug, Args, Clone)]
pub struct SelectionArgs {
    /// Check directories, .rhai files or quoted globs ('checks/*.rhai') [default: the installed
    /// /usr/share/hostscript/checks, then /etc/hostscript/checks.d, with
    /// /etc/hostscript/vars.toml]
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    #[command(flatten)]
    pub vars: VarsArgs,

    /// Select checks that carry TAG (repeatable; any tag matches)
    #[arg(long, value_name = "TAG", help_heading = "Selection")]
    pub tag: Vec<String>,

    /// Select checks whose id matches GLOB, e.g. 'kvm.*' (repeatable; any glob matches)
    #[arg(long, value_name = "GLOB", help_heading = "Selection")]
    pub only: Vec<String>,

    /// Waivers file (TOML [[waiver]] id, reason, expires) instead of each checks directory's
    /// waivers.toml (repeatable)
    #[arg(
        long = "waivers",
        value_name = "FILE",
        env = "HOSTSCRIPT_WAIVERS",
        help_heading = "Selection"
    )]
    pub waivers: Vec<PathBuf>,

    /// Leave out checks whose id matches GLOB (repeatable); checks that need one are skipped,
    /// naming it
    #[arg(
        long,
        value_name = "GLOB",
        env = "HOSTSCRIPT_SKIP",
        value_delimiter = ',',
        help_heading = "Selection"
    )]
    pub skip: Vec<String>,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// JSON reports (`hostscript run --format json`), or directories of *.json reports
    #[arg(required = true, value_name = "REPORT")]
    pub reports: Vec<PathBuf>,

    /// Hosts that should have sent a report (comma-separated, repeatable); those without one
    /// are listed as sending no report
    #[arg(long, value_name = "HOSTS", value_delimiter = ',')]
    pub expect: Vec<String>,

    /// Output format
    #[arg(short, long, value_enum, default_value_t = MergeFormat::Human, help_heading = "Output")]
    pub format: MergeFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum MergeFormat {
    Human,
    Json,
    Junit,
    Prometheus,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub run: RunArgs,

    /// Address to listen on (loopback unless you name another)
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:9842",
        env = "HOSTSCRIPT_LISTEN"
    )]
    pub listen: String,

    /// How long results are reused before the checks run again
    #[arg(long, value_name = "DURATION", default_value = "30", value_parser = crate::text::parse_duration, env = "HOSTSCRIPT_INTERVAL")]
    pub interval: std::time::Duration,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub selection: SelectionArgs,

    #[command(flatten)]
    pub output: RunOutputArgs,

    /// Run at most N checks at once [default: the number of CPUs; at most 64]
    #[arg(
        short,
        long,
        value_name = "N",
        env = "HOSTSCRIPT_JOBS",
        help_heading = "Limits"
    )]
    pub jobs: Option<usize>,

    /// Wall-clock budget of each check (10, 10s, 1m30s; a check may set its own)
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "10",
        value_parser = crate::text::parse_duration,
        env = "HOSTSCRIPT_TIMEOUT",
        help_heading = "Limits"
    )]
    pub timeout: std::time::Duration,

    /// Run the checks that did not pass again until every required check passes or DURATION
    /// is up (after remediating, say); the report is the last attempt's
    #[arg(long, value_name = "DURATION", value_parser = crate::text::parse_duration, env = "HOSTSCRIPT_RETRY_TIMEOUT", help_heading = "Limits")]
    pub retry_timeout: Option<std::time::Duration>,

    /// Pause between attempts with --retry-timeout (default 1s)
    #[arg(long, value_name = "DURATION", default_value = "1", value_parser = crate::text::parse_duration, env = "HOSTSCRIPT_SLEEP", help_heading = "Limits")]
    pub sleep: std::time::Duration,

    /// Look at HOST[:PORT]: a host other than localhost/127.0.0.1/::1 runs only the
    /// remote-capable checks (the rest skip as local-only); sets the vars target and
    /// target_port
    #[arg(long, value_name = "HOST[:PORT]", env = "HOSTSCRIPT_TARGET")]
    pub target: Option<String>,

    /// Apply the remediations the failed checks name (in dependency order), then check again
    #[arg(long, help_heading = "Changes")]
    pub fix: bool,

    /// With --fix: apply remediations that are backing off after failing (--state)
    #[arg(long, requires = "fix", help_heading = "Changes")]
    pub force: bool,

    #[command(flatten)]
    pub change: ChangeArgs,

    #[command(flatten)]
    pub host: HostDataArgs,

    #[command(flatten)]
    pub state: StateArgs,
}

/// What runs remember (`crate::state`).
#[derive(Debug, Args, Clone, Default)]
pub struct StateArgs {
    /// Remember each check's status and each remediation's outcome across runs in FILE (JSON,
    /// 0600): reports show since when and flapping, failed remediations back off [default:
    /// /var/lib/hostscript/state.json for the installed layout run as root]
    #[arg(
        long,
        value_name = "FILE",
        env = "HOSTSCRIPT_STATE",
        help_heading = "Memory"
    )]
    pub state: Option<PathBuf>,

    /// Keep no state, not even the installed layout's
    #[arg(long, conflicts_with = "state", help_heading = "Memory")]
    pub no_state: bool,

    /// Statuses kept per check, the window flapping is counted in; an id no run has seen for
    /// N runs is forgotten
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u16).range(2..=1000), help_heading = "Memory")]
    pub history: u16,

    /// Status changes within the kept statuses that mark a check as flapping
    #[arg(long, value_name = "K", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=1000), help_heading = "Memory")]
    pub flap_changes: u16,
}

/// The host as data: record a run's questions and answers, replay them, show them.
#[derive(Debug, Args, Default)]
pub struct HostDataArgs {
    /// Write every question the checks ask and its answer to FILE (JSON, mode 0600, secrets
    /// masked): attach it to a bug report
    #[arg(long, value_name = "FILE", help_heading = "Host as data")]
    pub record: Option<PathBuf>,

    /// Answer every question from a recording and touch nothing on this host
    #[arg(
        long,
        value_name = "FILE",
        help_heading = "Host as data",
        conflicts_with = "record"
    )]
    pub replay: Option<PathBuf>,

    /// Show what the checks matching GLOB asked and saw, passed or not (repeatable)
    #[arg(long, value_name = "GLOB", help_heading = "Host as data")]
    pub explain: Vec<String>,
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// Test files (*.test.toml) or directories to search for them
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Output format
    #[arg(short, long, value_enum, default_value_t = TestFormat::Human, help_heading = "Output")]
    pub format: TestFormat,
}

/// How `hostscript test` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TestFormat {
    /// One line per test file, a line per expectation that does not hold
    Human,
    /// Test Anything Protocol: one test point per expectation
    Tap,
    /// JUnit XML: one suite per test file, one case per expectation
    Junit,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub selection: SelectionArgs,

    /// Output format: `markdown` is the suite's reference page, with the remediations of
    /// any remediations directory among the paths and the vars each declaration reads
    /// (docs/suite.md is `hostscript list checks/ remediations/ --format markdown`)
    #[arg(short, long, value_enum, default_value_t = ListFormat::Human, help_heading = "Output")]
    pub format: ListFormat,
}

/// The formats of `list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    /// For people
    Human,
    /// One JSON document, for machines
    Json,
    /// A Markdown reference page: checks, remediations and the vars they read
    Markdown,
}

#[derive(Debug, Args)]
pub struct LintArgs {
    /// Script directories, .rhai files or quoted globs [default: the installed suite's checks
    /// and remediations, and /etc/hostscript/checks.d, with /etc/hostscript/vars.toml]
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    #[command(flatten)]
    pub vars: VarsArgs,

    /// Waivers to check instead of each checks directory's waivers.toml
    #[arg(long, value_name = "FILE")]
    pub waivers: Vec<PathBuf>,
}

/// The formats of a check run's report (`run`, `-o`). Each has its reporter in `report/`,
/// chosen in one place: `report::for_format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RunFormat {
    /// One line per check, for people
    Human,
    /// One JSON document, for machines
    Json,
    /// Prometheus text format, for node_exporter's textfile collector
    Prometheus,
    /// JUnit XML, for CI test reports
    Junit,
    /// TAP version 14, for CI systems that read TAP
    Tap,
    /// One Nagios/Icinga plugin line with perfdata; exit 0/1/2/3
    Nagios,
}

impl From<RunFormat> for crate::report::Format {
    fn from(f: RunFormat) -> Self {
        match f {
            RunFormat::Human => crate::report::Format::Human,
            RunFormat::Json => crate::report::Format::Json,
            RunFormat::Prometheus => crate::report::Format::Prometheus,
            RunFormat::Junit => crate::report::Format::Junit,
            RunFormat::Tap => crate::report::Format::Tap,
            RunFormat::Nagios => crate::report::Format::Nagios,
        }
    }
}

impl RunFormat {
    /// Parses `FORMAT=FILE` of `-o`.
    pub fn parse_output(arg: &str) -> Result<(RunFormat, PathBuf), String> {
        let (format, file) = arg
            .split_once('=')
            .filter(|(_, f)| !f.is_empty())
            .ok_or_else(|| format!("`{arg}`: expected FORMAT=FILE, e.g. junit=report.xml"))?;
        let format = <RunFormat as ValueEnum>::from_str(format, true).map_err(|_| {
            format!(
                "`{arg}`: unknown format `{format}` (human, json, prometheus, junit, tap, nagios)"
            )
        })?;
        Ok((format, PathBuf::from(file)))
    }
}

/// The formats of `list` and `remediate`: a listing or a remediation report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DocFormat {
    /// For people
    Human,
    /// One JSON document, for machines
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    /// Colour when stdout is a terminal and NO_COLOR is unset
    Auto,
    Always,
    Never,
}

/// Whether the command line asks for the Nagios format (`run -f nagios`, `--format=nagios`,
/// `HOSTSCRIPT_FORMAT=nagios`), read from the raw arguments: a command line clap refused must
/// still end as a Nagios plugin's UNKNOWN.
pub fn nagios_requested(args: impl IntoIterator<Item = std::ffi::OsString>) -> bool {
    let args: Vec<String> = args
        .into_iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let flagged = args
        .windows(2)
        .any(|w| (w[0] == "--format" || w[0] == "-f") && w[1].eq_ignore_ascii_case("nagios"))
        || args.iter().any(|a| {
            a.eq_ignore_ascii_case("--format=nagios") || a.eq_ignore_ascii_case("-fnagios")
        });
    flagged || std::env::var("HOSTSCRIPT_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("nagios"))
}
