//! `hostscript merge`: the fleet view from many hosts' JSON reports (`run --format json`), as
//! Ansible fetches them to a controller. It reads each report back into the same items and
//! results a run produces, so the JSON, JUnit (a suite per host) and Prometheus (a `host`
//! label) outputs come from the run's reporters. A report it cannot read, or one with another
//! schema version, is one error line naming the file; the other reports still merge, and the
//! exit code says something was wrong.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::{MergeArgs, MergeFormat};
use crate::error::{Error, Result, exit_code};
use crate::outcome::{CheckResult, Status};
use crate::report::{self, Item, Reporter, Summary, json::SCHEMA_VERSION};

/// The largest report merge reads: far above any real run, and a bound on what a stray file
/// (a core dump named `.json`) can make it allocate.
const REPORT_BYTES: u64 = 64 * 1024 * 1024;

/// The fields of a run's JSON report that merge needs (json.rs writes them). Fields added in
/// later compatible versions are ignored; a missing or mistyped one is an error.
#[derive(serde::Deserialize)]
struct Document {
    host: String,
    duration_ms: u64,
    checks: Vec<Check>,
}

#[derive(serde::Deserialize)]
struct Check {
    id: String,
    description: String,
    required: bool,
    #[serde(default)]
    remote: bool,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    needs: Vec<String>,
    remediation: Option<String>,
    file: String,
    line: usize,
    status: Status,
    message: String,
    #[serde(default)]
    details: serde_json::Map<String, serde_json::Value>,
    duration_ms: u64,
    #[serde(default)]
    script_error: bool,
    /// `--state` runs: since when it has had this status, its last pass, whether it flaps.
    #[serde(default)]
    since: Option<String>,
    #[serde(default)]
    last_pass: Option<String>,
    #[serde(default)]
    flapping: Option<bool>,
}

/// One host's report, read back.
struct HostRun {
    file: PathBuf,
    summary: Summary,
    results: Vec<(Item, CheckResult)>,
}

pub fn execute(args: MergeArgs) -> Result<u8> {
    let files = report_files(&args.reports)?;
    // Nothing to merge is no fleet that is ready: a wrong directory must not read as "all
    // ready" to a CI gate.
    if files.is_empty() {
        return Err(Error::NoReports {
            paths: super::display_paths(&args.reports),
        });
    }
    let mut runs: Vec<HostRun> = Vec::new();
    let mut bad = 0;
    let mut cut: Vec<String> = Vec::new();
    for file in files {
        match read_report(&file) {
            Ok(run) => {
                if let Some(first) = runs.iter().find(|r| r.summary.host == run.summary.host) {
                    crate::say!(
                        "hostscript: error: {}: host `{}` already reported by {}; ignored",
                        file.display(),
                        run.summary.host,
                        first.file.display()
                    );
                    bad += 1;
                } else {
                    runs.push(run);
                }
            }
            // An empty or cut-off report is what an unreachable host leaves behind (`ssh
            // host hostscript run -f json > host.json`): that host is missing, named after
            // its file, not a broken merge.
            Err(Unreadable::Cut(why)) => {
                let host = file
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                crate::say!(
                    "hostscript: warning: {}: {why}: host `{host}` counts as missing",
                    file.display()
                );
                cut.push(host);
            }
            Err(Unreadable::Bad(message)) => {
                crate::say!(
                    "hostscript: error: {}: {}",
                    file.display(),
                    crate::error::one_line(&message)
                );
                bad += 1;
            }
        }
    }
    runs.sort_by(|a, b| a.summary.host.cmp(&b.summary.host));
    let mut missing: Vec<String> = args
        .expect
        .iter()
        .filter(|h| !h.is_empty() && !runs.iter().any(|r| &r.summary.host == *h))
        .cloned()
        .chain(cut)
        .collect();
    missing.sort();
    missing.dedup();

    let mut out = report::stdout();
    match args.format {
        MergeFormat::Human => human(&mut out, &runs, &missing),
        MergeFormat::Json => json(&mut out, &runs, &missing),
        MergeFormat::Junit => junit(&mut out, &runs, &missing),
        MergeFormat::Prometheus => prometheus(&mut out, &runs, &missing),
    }
    .map_err(Error::Output)?;

    if bad > 0 {
        return Ok(exit_code::USAGE);
    }
    let ready = runs.iter().all(|r| r.summary.ok()) && missing.is_empty();
    Ok(if ready {
        exit_code::SUCCESS
    } else {
        exit_code::CHECK_FAILED
    })
}

/// The files named, with a directory standing for the `*.json` files in it (sorted, so the
/// output is the same on every controller).
fn report_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let entries = std::fs::read_dir(path).map_err(|source| Error::Read {
                path: path.clone(),
                source,
            })?;
            let mut found: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "json") && p.is_file())
                .collect();
            found.sort();
            files.extend(found);
        } else if path.exists() {
            files.push(path.clone());
        } else {
            return Err(Error::MissingPath { path: path.clone() });
        }
    }
    Ok(files)
}

/// Why a report could not be merged: cut off (empty, or its JSON ends early), which stands for
/// a host that never answered, or wrong.
enum Unreadable {
    Cut(String),
    Bad(String),
}

impl From<String> for Unreadable {
    fn from(message: String) -> Self {
        Unreadable::Bad(message)
    }
}

fn read_report(file: &Path) -> std::result::Result<HostRun, Unreadable> {
    use std::io::Read;
    let handle = std::fs::File::open(file).map_err(|e| format!("cannot read: {e}"))?;
    let mut text = String::new();
    handle
        .take(REPORT_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read: {e}"))?;
    if text.len() as u64 > REPORT_BYTES {
        return Err(format!(
            "larger than {} MiB; not a hostscript report",
            REPORT_BYTES >> 20
        )
        .into());
    }
    if text.trim().is_empty() {
        return Err(Unreadable::Cut("empty".into()));
    }
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        if e.is_eof() {
            Unreadable::Cut(format!("cut off ({e})"))
        } else {
            Unreadable::Bad(format!("not JSON: {e}"))
        }
    })?;
    match value.get("schema_version").and_then(|v| v.as_u64()) {
        Some(v) if v == u64::from(SCHEMA_VERSION) => {}
        Some(v) => {
            return Err(format!(
                "schema_version {v} is not one this hostscript reads ({SCHEMA_VERSION}); \
                 merge with the hostscript that wrote it"
            )
            .into());
        }
        None => {
            return Err(
                "no schema_version: not a report of `hostscript run --format json`"
                    .to_string()
                    .into(),
            );
        }
    }
    let doc: Document = serde_json::from_value(value).map_err(|e| format!("bad report: {e}"))?;
    if doc.host.is_empty() {
        return Err("bad report: empty host".to_string().into());
    }
    let results: Vec<(Item, CheckResult)> = doc
        .checks
        .into_iter()
        .map(|c| -> std::result::Result<(Item, CheckResult), String> {
            let item = Item {
                spec: std::sync::Arc::new(crate::script::define::CheckSpec {
                    id: c.id,
                    description: c.description,
                    required: c.required,
                    remote: c.remote,
                    tags: c.tags,
                    needs: c.needs,
                    remediation: c.remediation,
                    timeout: None,
                }),
                file: c.file.into(),
                line: c.line,
                explain: false,
            };
            let mut result = CheckResult::new(c.status, c.message);
            result.details = c.details;
            result.duration = Duration::from_millis(c.duration_ms);
            result.script_error = c.script_error;
            if let Some(since) = c.since.as_deref() {
                let secs = |t: &str| {
                    humantime::parse_rfc3339(t)
                        .map_err(|e| format!("bad report: check `{}`: `{t}`: {e}", item.id))
                        .map(|t| {
                            t.duration_since(std::time::UNIX_EPOCH)
                                .map_or(0, |d| d.as_secs())
                        })
                };
                result.remembered = Some(crate::outcome::Remembered {
                    since: secs(since)?,
                    last_pass: c.last_pass.as_deref().map(secs).transpose()?,
                    flapping: c.flapping.unwrap_or(false),
                    changes: 0,
                    runs: 0,
                    changed_now: false,
                    now: crate::state::now(),
                });
            }
            Ok((item, result))
        })
        .collect::<std::result::Result<_, String>>()?;
    let summary = Summary::new(&results, Duration::from_millis(doc.duration_ms), doc.host);
    Ok(HostRun {
        file: file.to_path_buf(),
        summary,
        results,
    })
}

/// `reporter` after it has seen every check of `run`; the caller takes the run's part from it
/// (a JSON value, a JUnit suite, Prometheus samples) to put beside the other hosts'.
fn fed<R: Reporter>(mut reporter: R, run: &HostRun) -> std::io::Result<R> {
    for (item, result) in &run.results {
        reporter.check_finished(item, result)?;
    }
    Ok(reporter)
}

/// For each failing (fail or error) check and status, the hosts it has, most widespread first.
fn failing(runs: &[HostRun]) -> Vec<(String, Status, Vec<String>)> {
    let mut by: BTreeMap<(String, Status), Vec<String>> = BTreeMap::new();
    for run in runs {
        for (item, result) in &run.results {
            if matches!(result.status, Status::Fail | Status::Error) {
                by.entry((item.id.clone(), result.status))
                    .or_default()
                    .push(run.summary.host.clone());
            }
        }
    }
    let mut list: Vec<_> = by.into_iter().map(|((id, s), h)| (id, s, h)).collect();
    list.sort_by(|a, b| b.2.len().cmp(&a.2.len()).then_with(|| a.0.cmp(&b.0)));
    list
}

/// How long ago a remembered status began: `3d 4h`.
fn age(m: &crate::outcome::Remembered) -> String {
    crate::text::human_age(Duration::from_secs(m.now.saturating_sub(m.since)))
}

/// Since when a host has been as it is: not ready, since its longest-failing required check
/// began failing; ready, since its last required check took its status.
fn host_since(run: &HostRun) -> Option<String> {
    let required = run
        .results
        .iter()
        .filter(|(item, _)| item.required)
        .filter_map(|(_, r)| r.remembered.as_ref().map(|m| (r.status, m)));
    let chosen = if run.summary.ok() {
        required.max_by_key(|(_, m)| m.since)
    } else {
        required
            .filter(|(s, _)| matches!(s, Status::Fail | Status::Error))
            .min_by_key(|(_, m)| m.since)
    };
    chosen.map(|(_, m)| age(m))
}

fn human(out: &mut dyn Write, runs: &[HostRun], missing: &[String]) -> std::io::Result<()> {
    let width = runs
        .iter()
        .map(|r| r.summary.host.len())
        .chain(missing.iter().map(String::len))
        .chain(std::iter::once(4))
        .max()
        .unwrap_or(4);
    // Reports of runs with --state carry since when; the column shows when any does.
    let remembered = runs
        .iter()
        .any(|r| r.results.iter().any(|(_, r)| r.remembered.is_some()));
    let since_header = if remembered { "  SINCE" } else { "" };
    writeln!(
        out,
        "{:width$}  {:9}  {:>4}  {:>4}  {:>4}  {:>5}  {:>4}{since_header}",
        "HOST", "STATUS", "PASS", "WARN", "FAIL", "ERROR", "SKIP"
    )?;
    for run in runs {
        let n = |s: Status| run.summary.counts.get(&s).copied().unwrap_or(0);
        let since = if remembered {
            host_since(run).map_or_else(String::new, |age| format!("  {age}"))
        } else {
            String::new()
        };
        writeln!(
            out,
            "{:width$}  {:9}  {:>4}  {:>4}  {:>4}  {:>5}  {:>4}{since}",
            run.summary.host,
            if run.summary.ok() {
                "ready"
            } else {
                "not ready"
            },
            n(Status::Pass),
            n(Status::Warn),
            n(Status::Fail),
            n(Status::Error),
            n(Status::Skip)
        )?;
    }
    for host in missing {
        writeln!(out, "{host:width$}  no report")?;
    }
    let failing = failing(runs);
    if !failing.is_empty() {
        writeln!(out)?;
        for (id, status, hosts) in &failing {
            // Each host with how long it has been so, where its report says.
            let named: Vec<String> = hosts
                .iter()
                .map(|h| {
                    let age = runs
                        .iter()
                        .find(|r| &r.summary.host == h)
                        .and_then(|r| r.results.iter().find(|(i, _)| &i.id == id))
                        .and_then(|(_, r)| r.remembered.as_ref())
                        .map(age);
                    match age {
                        Some(age) => format!("{h} ({age})"),
                        None => h.clone(),
                    }
                })
                .collect();
            writeln!(
                out,
                "{id}: {status} on {}/{} hosts: {}",
                hosts.len(),
                runs.len(),
                named.join(", ")
            )?;
        }
    }
    let ready = runs.iter().filter(|r| r.summary.ok()).count();
    writeln!(out)?;
    write!(out, "{ready}/{} hosts ready", runs.len() + missing.len())?;
    if runs.len() > ready {
        write!(out, ", {} not ready", runs.len() - ready)?;
    }
    if !missing.is_empty() {
        write!(
            out,
            ", {} sent no report: {}",
            missing.len(),
            missing.join(", ")
        )?;
    }
    writeln!(out)?;
    out.flush()
}

/// The fleet document: each host's full report (as `run` writes it), the failing checks with
/// their hosts, and the hosts that sent none.
fn json(out: &mut dyn Write, runs: &[HostRun], missing: &[String]) -> std::io::Result<()> {
    let hosts: Vec<serde_json::Value> = runs
        .iter()
        .map(|run| {
            let mut value = fed(report::json::Json::new(std::io::sink()), run)?.value(&run.summary);
            if let Some(map) = value.as_object_mut() {
                map.insert(
                    "file".to_string(),
                    serde_json::Value::String(run.file.display().to_string()),
                );
            }
            Ok(value)
        })
        .collect::<std::io::Result<_>>()?;
    let failing: Vec<serde_json::Value> = failing(runs)
        .into_iter()
        .map(|(id, status, hosts)| {
            serde_json::json!({"id": id, "status": status, "hosts": hosts, "of": runs.len()})
        })
        .collect();
    let doc = serde_json::json!({
        "schema_version": SCHEMA_VERSION,
        "kind": "fleet",
        "ok": missing.is_empty() && runs.iter().all(|r| r.summary.ok()),
        "ready": runs.iter().filter(|r| r.summary.ok()).map(|r| &r.summary.host).collect::<Vec<_>>(),
        "not_ready": runs.iter().filter(|r| !r.summary.ok()).map(|r| &r.summary.host).collect::<Vec<_>>(),
        "missing": missing,
        "failing": failing,
        "hosts": hosts,
    });
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)?;
    out.flush()
}

/// One suite per host; a host that sent no report is a suite with one erroring case, so a CI
/// view shows it red rather than leaving it out.
fn junit(out: &mut dyn Write, runs: &[HostRun], missing: &[String]) -> std::io::Result<()> {
    use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};
    let mut suites = Vec::new();
    let mut time = Duration::ZERO;
    for run in runs {
        suites.push(fed(report::junit::Junit::new(std::io::sink()), run)?.suite(&run.summary));
        time += run.summary.duration;
    }
    for host in missing {
        let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
        status.set_message("no report from this host");
        let mut suite = TestSuite::new(format!("hostscript on {host}"));
        suite.add_test_case(TestCase::new("report", status));
        suites.push(suite);
    }
    report::junit::write_suites(out, suites, time)
}

/// The run's metrics with each host's label, plus `hostscript_report_received` per host, so
/// an alert can fire on a host that went silent.
fn prometheus(out: &mut dyn Write, runs: &[HostRun], missing: &[String]) -> std::io::Result<()> {
    let mut list = Vec::new();
    for run in runs {
        list.push(
            fed(report::prometheus::Prometheus::new(std::io::sink()), run)?.into_run(&run.summary),
        );
    }
    report::prometheus::write_runs(out, &list)?;
    writeln!(
        out,
        "# HELP hostscript_report_received 1 when the host's report was merged, 0 when it sent none."
    )?;
    writeln!(out, "# TYPE hostscript_report_received gauge")?;
    for run in runs {
        writeln!(
            out,
            "hostscript_report_received{{host=\"{}\"}} 1",
            report::prometheus::label(&run.summary.host)
        )?;
    }
    for host in missing {
        writeln!(
            out,
            "hostscript_report_received{{host=\"{}\"}} 0",
            report::prometheus::label(host)
        )?;
    }
    out.flush()
}
