//! `hostscript test PATH…`: site checks tested against recorded and hand-written hosts. Every
//! `*.test.toml` under the paths (so `vars.toml` and `waivers.toml` beside checks are never
//! taken for tests) names its checks, optionally a recording to replay, `[[answer]]` entries
//! over the recording (the same form as a recording's entries), `[vars]` over the checks' own,
//! and `[expect]`: check id → status, or `{ status, message = "substring" }`. The checks run
//! against those answers alone (nothing on this host is asked), and each expectation holds or
//! is named. Exit 0 when all hold, 1 when one does not, 2 for a bad test file (file:line).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::cli::{TestArgs, TestFormat};
use crate::commands::{Session, SessionOptions};
use crate::error::{Error, Result, exit_code};
use crate::outcome::{CheckResult, Status};
use crate::probe::{Entry, Recording, Seam};
use crate::runner::{self, RunnerOptions};

/// The budget of each check under test: answers come from memory, so only a script that
/// loops forever needs it.
const CHECK_BUDGET: Duration = Duration::from_secs(10);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    #[serde(default)]
    description: Option<String>,
    /// Check files or directories, relative to the test file.
    checks: Vec<String>,
    /// A recording (`run --record`), relative to the test file.
    #[serde(default)]
    replay: Option<String>,
    #[serde(default)]
    answer: Vec<toml::Spanned<Entry>>,
    #[serde(default)]
    vars: toml::Table,
    expect: BTreeMap<String, toml::Spanned<Expect>>,
    /// Every check not in `[expect]` must end as it does on the recording alone: the edited
    /// answers change what is expected and nothing else.
    #[serde(default)]
    others_unchanged: bool,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Expect {
    Status(Status),
    Full {
        status: Status,
        #[serde(default)]
        message: Option<String>,
    },
}

impl Expect {
    fn status(&self) -> Status {
        match self {
            Expect::Status(s) | Expect::Full { status: s, .. } => *s,
        }
    }

    fn message(&self) -> Option<&str> {
        match self {
            Expect::Status(_) => None,
            Expect::Full { message, .. } => message.as_deref(),
        }
    }
}

/// One expectation and what the run gave.
struct Checked {
    id: String,
    /// What it says, for TAP and JUnit: `thinpool.health is fail`.
    title: String,
    /// Why it does not hold; `None` when it holds.
    wrong: Option<String>,
}

/// One test file: its expectations, or why it could not run (file:line: message).
struct Outcome {
    file: PathBuf,
    description: Option<String>,
    result: std::result::Result<Vec<Checked>, String>,
}

pub fn execute(args: TestArgs) -> Result<u8> {
    let files = find(&args.paths)?;
    if files.is_empty() {
        return Err(Error::Flag {
            flag: "PATH",
            message: format!(
                "no *.test.toml files in {}",
                crate::commands::display_paths(&args.paths)
            ),
        });
    }
    let outcomes: Vec<Outcome> = files.iter().map(|f| run_file(f)).collect();
    let mut out = crate::report::stdout();
    match args.format {
        TestFormat::Human => human(&mut out, &outcomes),
        TestFormat::Tap => tap(&mut out, &outcomes),
        TestFormat::Junit => junit(&mut out, &outcomes),
    }
    .and_then(|()| out.flush())
    .map_err(Error::Output)?;
    Ok(if outcomes.iter().any(|o| o.result.is_err()) {
        exit_code::USAGE
    } else if outcomes.iter().any(|o| {
        o.result
            .as_ref()
            .is_ok_and(|c| c.iter().any(|x| x.wrong.is_some()))
    }) {
        exit_code::CHECK_FAILED
    } else {
        exit_code::SUCCESS
    })
}

/// Every `*.test.toml` named or under the paths, sorted; a missing path is an error.
fn find(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                walk(&path, out)?;
            } else if is_test_file(&path) {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut found = Vec::new();
    for path in paths {
        if path.is_dir() {
            walk(path, &mut found).map_err(|source| Error::Read {
                path: path.clone(),
                source,
            })?;
        } else if path.is_file() {
            found.push(path.clone());
        } else {
            return Err(Error::MissingPath { path: path.clone() });
        }
    }
    found.sort();
    found.dedup();
    Ok(found)
}

fn is_test_file(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".test.toml"))
}

/// The line of a byte offset, from 1.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

fn run_file(file: &Path) -> Outcome {
    let mut description = None;
    let result = load(file).and_then(|(test, recording, base, checks)| {
        description = test.description.clone();
        let ran = run(file, recording, &checks)?;
        let mut checked = compare(&test, &ran);
        if let Some(base) = base {
            let before = run(file, base, &checks)?;
            checked.push(unchanged(&test, &before, &ran));
        }
        Ok(checked)
    });
    Outcome {
        file: file.to_path_buf(),
        description,
        result,
    }
}

/// Reads a test file and what it names: its recording merged with its own answers (which
/// replace the recording's answers to the same questions) and its checks' paths.
fn load(
    file: &Path,
) -> std::result::Result<(TestFile, Recording, Option<Recording>, Vec<PathBuf>), String> {
    let shown = file.display();
    let text = std::fs::read_to_string(file).map_err(|e| format!("{shown}: {e}"))?;
    let test: TestFile = toml::from_str(&text).map_err(|e| {
        let line = e.span().map_or(1, |s| line_of(&text, s.start));
        format!("{shown}:{line}: {}", e.message().trim())
    })?;
    let dir = file.parent().unwrap_or(Path::new("."));
    let mut recording = match &test.replay {
        Some(rel) => {
            Recording::load(&dir.join(rel)).map_err(|e| format!("{shown}: replay: {e}"))?
        }
        None => Recording {
            format: crate::probe::recording::FORMAT.into(),
            version: crate::probe::recording::VERSION,
            hostname: "hand-written".into(),
            time: String::new(),
            hostscript: env!("CARGO_PKG_VERSION").into(),
            vars: serde_json::Map::new(),
            answers: Vec::new(),
        },
    };
    if test.others_unchanged && test.replay.is_none() {
        return Err(format!(
            "{shown}: `others_unchanged` compares with the recording: give `replay`"
        ));
    }
    let base = test.others_unchanged.then(|| recording.clone());
    let mut own = Vec::new();
    let mut replaced = HashSet::new();
    for spanned in &test.answer {
        let line = line_of(&text, spanned.span().start);
        let entry = spanned.get_ref().clone();
        let question = entry
            .question()
            .map_err(|e| format!("{shown}:{line}: [[answer]]: {e}"))?;
        let _ = entry
            .answer()
            .map_err(|e| format!("{shown}:{line}: [[answer]]: {e}"))?;
        replaced.insert(question.redacted_key());
        own.push(entry);
    }
    recording.answers.retain(|e| {
        e.question()
            .map(|q| !replaced.contains(&q.redacted_key()))
            .unwrap_or(true)
    });
    recording.answers.extend(own);
    for (key, value) in &test.vars {
        let value =
            serde_json::to_value(value).map_err(|e| format!("{shown}: [vars] {key}: {e}"))?;
        recording.vars.insert(key.clone(), value);
    }
    if test.checks.is_empty() {
        return Err(format!("{shown}: `checks` names no check files"));
    }
    let checks = test.checks.iter().map(|c| dir.join(c)).collect();
    Ok((test, recording, base, checks))
}

/// What the checks of one run ended as, by id, and the scripts that failed to load.
struct Ran {
    results: HashMap<String, CheckResult>,
    failures: Vec<String>,
}

/// Runs the checks against the recording's answers alone.
fn run(file: &Path, recording: Recording, checks: &[PathBuf]) -> std::result::Result<Ran, String> {
    let shown = file.display();
    let vars = recording.vars.clone();
    let session = Session::start(SessionOptions {
        paths: checks,
        vars_files: &[],
        var_flags: &[],
        jobs: None,
        load_budget: CHECK_BUDGET,
        target: None,
        base_vars_dirs: &[],
        remediating: None,
        replay_vars: Some(&vars),
    })
    .map_err(|e| format!("{shown}: checks: {e}"))?;
    let options = RunnerOptions {
        jobs: session.jobs,
        default_timeout: CHECK_BUDGET,
        grace: Duration::from_secs(1),
        remote_host: None,
        excluded: HashMap::new(),
        waivers: crate::waivers::Waivers::default(),
        running: runner::Running::default(),
        seam: Seam::replay(recording),
        explain: Vec::new(),
    };
    let defs = &session.loaded.checks;
    let mut results: HashMap<String, CheckResult> = HashMap::new();
    runner::execute(session.engine.clone(), defs, &options, |i, result| {
        results.insert(defs[i].id.clone(), result.redacted());
    });
    let failures = session
        .loaded
        .failures
        .iter()
        .map(|f| f.diagnostic.to_string())
        .collect();
    session.runtime.shutdown_background();
    Ok(Ran { results, failures })
}

/// Each expectation against what the run gave.
fn compare(test: &TestFile, ran: &Ran) -> Vec<Checked> {
    test.expect
        .iter()
        .map(|(id, expect)| {
            let expect = expect.get_ref();
            let (want, message) = (expect.status(), expect.message());
            let wrong = match ran.results.get(id) {
                None if ran.failures.is_empty() => Some(format!("no check `{id}` ran")),
                None => Some(format!(
                    "no check `{id}` ran; scripts that failed to load: {}",
                    ran.failures.join("; ")
                )),
                Some(r) if r.status != want => {
                    Some(format!("expected {want}, got {}: {}", r.status, r.message))
                }
                Some(r) => message
                    .filter(|m| !r.message.contains(m))
                    .map(|m| format!("expected a message containing `{m}`, got: {}", r.message)),
            };
            let title = match message {
                Some(m) => format!("{id} is {want} with `{m}`"),
                None => format!("{id} is {want}"),
            };
            Checked {
                id: id.clone(),
                title,
                wrong,
            }
        })
        .collect()
}

/// `others_unchanged`: every check not in `[expect]` ends as on the recording alone.
fn unchanged(test: &TestFile, before: &Ran, after: &Ran) -> Checked {
    let mut changed: Vec<String> = after
        .results
        .iter()
        .filter(|(id, _)| !test.expect.contains_key(*id))
        .filter_map(|(id, r)| {
            let was = before.results.get(id).map(|b| b.status);
            (was != Some(r.status)).then(|| {
                let was = was.map_or("absent".to_string(), |s| s.to_string());
                format!(
                    "{id} is {} (on the recording alone {was}): {}",
                    r.status, r.message
                )
            })
        })
        .collect();
    changed.sort();
    Checked {
        id: "(others)".into(),
        title: "the checks not in [expect] are as on the recording alone".into(),
        wrong: (!changed.is_empty()).then(|| format!("not expected: {}", changed.join("; "))),
    }
}

fn human(out: &mut impl Write, outcomes: &[Outcome]) -> std::io::Result<()> {
    let (mut ok, mut failed, mut bad) = (0, 0, 0);
    for o in outcomes {
        let about = o
            .description
            .as_deref()
            .map(|d| format!(" — {d}"))
            .unwrap_or_default();
        match &o.result {
            Err(e) => {
                bad += 1;
                writeln!(out, "BAD   {e}")?;
            }
            Ok(checked) if checked.iter().all(|c| c.wrong.is_none()) => {
                ok += 1;
                let n = checked.len();
                let s = if n == 1 { "" } else { "s" };
                writeln!(
                    out,
                    "ok    {} ({n} expectation{s}){about}",
                    o.file.display()
                )?;
            }
            Ok(checked) => {
                failed += 1;
                writeln!(out, "FAIL  {}{about}", o.file.display())?;
                for c in checked {
                    if let Some(wrong) = &c.wrong {
                        writeln!(out, "      {}: {wrong}", c.id)?;
                    }
                }
            }
        }
    }
    let n = outcomes.len();
    writeln!(
        out,
        "\n{n} test file{}: {ok} ok, {failed} failed, {bad} bad",
        if n == 1 { "" } else { "s" }
    )
}

fn tap(out: &mut impl Write, outcomes: &[Outcome]) -> std::io::Result<()> {
    let total: usize = outcomes
        .iter()
        .map(|o| o.result.as_ref().map_or(1, Vec::len))
        .sum();
    writeln!(out, "TAP version 13\n1..{total}")?;
    let mut n = 0;
    for o in outcomes {
        let file = o.file.display();
        match &o.result {
            Err(e) => {
                n += 1;
                writeln!(out, "not ok {n} - {file}: bad test file")?;
                writeln!(out, "  ---\n  message: {e:?}\n  ...")?;
            }
            Ok(checked) => {
                for c in checked {
                    n += 1;
                    match &c.wrong {
                        None => writeln!(out, "ok {n} - {file}: {}", c.title.clone())?,
                        Some(wrong) => {
                            writeln!(out, "not ok {n} - {file}: {}", c.title.clone())?;
                            writeln!(out, "  ---\n  message: {wrong:?}\n  ...")?;
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

fn junit(out: &mut impl Write, outcomes: &[Outcome]) -> std::io::Result<()> {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let mut report = Report::new("hostscript test");
    for o in outcomes {
        let file = o.file.display().to_string();
        let mut suite = TestSuite::new(file.as_str());
        match &o.result {
            Err(e) => {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
                status.set_message(e.as_str());
                suite.add_test_case(TestCase::new("bad test file", status));
            }
            Ok(checked) => {
                for c in checked {
                    let status = match &c.wrong {
                        None => TestCaseStatus::success(),
                        Some(wrong) => {
                            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                            s.set_message(wrong.as_str());
                            s
                        }
                    };
                    let mut case = TestCase::new(c.title.clone(), status);
                    case.set_classname(file.as_str());
                    suite.add_test_case(case);
                }
            }
        }
        report.add_test_suite(suite);
    }
    report.serialize(&mut *out).map_err(std::io::Error::other)?;
    writeln!(out)
}
