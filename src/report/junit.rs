//! The JUnit XML reporter (through quick-junit), for CI systems that show test reports: one
//! test suite per run named after the host, one test case per check (class name = the id's
//! first word, so `containerd.*` group together). `fail` is a failure, `error` an error, `skip`
//! a skipped case; a `warn` passes with its message in system-out, so a gate stays green on
//! warnings as the exit code does.

use std::io::{self, Write};

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use crate::outcome::{CheckResult, Status};
use crate::report::{Item, Reporter, Summary};

pub struct Junit<W: Write> {
    out: W,
    cases: Vec<TestCase>,
}

impl<W: Write> Junit<W> {
    pub fn new(out: W) -> Self {
        Junit {
            out,
            cases: Vec::new(),
        }
    }
}

impl<W: Write> Reporter for Junit<W> {
    fn check_finished(&mut self, item: &Item, result: &CheckResult) -> io::Result<()> {
        let status = match result.status {
            Status::Pass | Status::Warn => TestCaseStatus::success(),
            Status::Skip => {
                let mut s = TestCaseStatus::skipped();
                s.set_message(result.message.as_str());
                s
            }
            Status::Fail | Status::Error => {
                let kind = if result.status == Status::Fail {
                    NonSuccessKind::Failure
                } else {
                    NonSuccessKind::Error
                };
                let mut s = TestCaseStatus::non_success(kind);
                s.set_message(result.message.as_str());
                s.set_type(result.status.as_str());
                if let Some(fix) = result.fix(item.remediation.as_deref()) {
                    s.set_description(format!("fix: {} {fix}", crate::report::fix_command()));
                } else if let Some(why) = &result.no_fix {
                    s.set_description(format!("fix: by hand ({why})"));
                }
                s
            }
        };
        let mut case = TestCase::new(item.id.as_str(), status);
        case.set_classname(item.id.split('.').next().unwrap_or(&item.id));
        case.set_time(result.duration);
        case.add_property(Property::new(
            "file",
            format!("{}:{}", item.file, item.line),
        ));
        case.add_property(Property::new("required", item.required.to_string()));
        if result.status == Status::Warn {
            case.set_system_out(format!("warn: {}", result.message));
        }
        self.cases.push(case);
        Ok(())
    }

    fn finish(&mut self, summary: &Summary) -> io::Result<()> {
        let suite = self.suite(summary);
        write_suites(&mut self.out, vec![suite], summary.duration)
    }
}

impl<W: Write> Junit<W> {
    /// The run as one test suite named after the host; `merge` puts one per host in a report.
    pub fn suite(&mut self, summary: &Summary) -> TestSuite {
        let mut suite = TestSuite::new(format!("hostscript on {}", summary.host));
        suite.set_time(summary.duration);
        suite.add_test_cases(std::mem::take(&mut self.cases));
        suite
    }
}

/// One JUnit document holding `suites`.
pub fn write_suites(
    out: &mut dyn Write,
    suites: Vec<TestSuite>,
    time: std::time::Duration,
) -> io::Result<()> {
    let mut report = Report::new("hostscript");
    report.set_time(time);
    report.add_test_suites(suites);
    report.serialize(&mut *out).map_err(io::Error::other)?;
    writeln!(out)?;
    out.flush()
}
