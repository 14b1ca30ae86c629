//! The Prometheus reporter: the run in the text exposition format, for node_exporter's textfile
//! collector (`hostscript run checks/ -f prometheus > DIR/hostscript.prom.$$ && mv ...`), so a
//! fleet dashboard can alert per check id. One sample per check per status (1 for the current
//! status, 0 for the others, so a recovered check's old status series drops to 0 rather than
//! going stale), plus durations and run-level gauges.

use std::io::{self, Write};

use crate::outcome::{CheckResult, Status};
use crate::report::{Item, Reporter, Summary};

struct Record {
    id: String,
    required: bool,
    status: Status,
    seconds: f64,
    /// With `--state`: since when it has this status (Unix seconds), and whether it flaps.
    remembered: Option<(u64, bool)>,
}

pub struct Prometheus<W: Write> {
    out: W,
    records: Vec<Record>,
}

impl<W: Write> Prometheus<W> {
    pub fn new(out: W) -> Self {
        Prometheus {
            out,
            records: Vec::new(),
        }
    }
}

/// A label value with `\`, `"` and newlines escaped, as the text format requires (`merge`
/// labels its own series with it too).
pub fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl<W: Write> Reporter for Prometheus<W> {
    fn check_finished(&mut self, item: &Item, result: &CheckResult) -> io::Result<()> {
        self.records.push(Record {
            id: item.id.clone(),
            required: item.required,
            status: result.status,
            seconds: result.duration.as_secs_f64(),
            remembered: result.remembered.as_ref().map(|m| (m.since, m.flapping)),
        });
        Ok(())
    }

    fn finish(&mut self, summary: &Summary) -> io::Result<()> {
        let run = Run {
            records: std::mem::take(&mut self.records),
            summary: summary.clone(),
        };
        write_runs(&mut self.out, &[run])
    }
}

/// One host's run, ready to be written with others (`merge`: one family block, every host's
/// samples in it, as the text format requires each family to appear once).
pub struct Run {
    records: Vec<Record>,
    summary: Summary,
}

impl<W: Write> Prometheus<W> {
    pub fn into_run(self, summary: &Summary) -> Run {
        Run {
            records: self.records,
            summary: summary.clone(),
        }
    }
}

/// The exposition text of `runs`, each sample labelled with its run's host.
pub fn write_runs(out: &mut dyn Write, runs: &[Run]) -> io::Result<()> {
    let mut text = String::new();
    text.push_str(
        "# HELP hostscript_check_status 1 for the check's current status, 0 for the others.\n",
    );
    text.push_str("# TYPE hostscript_check_status gauge\n");
    for run in runs {
        let host = label(&run.summary.host);
        for r in &run.records {
            for status in Status::ALL {
                text.push_str(&format!(
                    "hostscript_check_status{{host=\"{host}\",id=\"{}\",required=\"{}\",status=\"{}\"}} {}\n",
                    label(&r.id),
                    r.required,
                    status.as_str(),
                    u8::from(r.status == status)
                ));
            }
        }
    }
    text.push_str("# HELP hostscript_check_duration_seconds How long the check ran.\n");
    text.push_str("# TYPE hostscript_check_duration_seconds gauge\n");
    for run in runs {
        let host = label(&run.summary.host);
        for r in &run.records {
            text.push_str(&format!(
                "hostscript_check_duration_seconds{{host=\"{host}\",id=\"{}\"}} {}\n",
                label(&r.id),
                r.seconds
            ));
        }
    }
    // What runs remember (`--state`): only checks that carry it, so a run without state
    // writes neither family.
    if runs
        .iter()
        .any(|r| r.records.iter().any(|r| r.remembered.is_some()))
    {
        text.push_str("# HELP hostscript_check_status_since_timestamp_seconds Since when the check has had its current status (Unix time; --state).\n");
        text.push_str("# TYPE hostscript_check_status_since_timestamp_seconds gauge\n");
        for run in runs {
            let host = label(&run.summary.host);
            for r in &run.records {
                if let Some((since, _)) = r.remembered {
                    text.push_str(&format!(
                        "hostscript_check_status_since_timestamp_seconds{{host=\"{host}\",id=\"{}\"}} {since}\n",
                        label(&r.id)
                    ));
                }
            }
        }
        text.push_str("# HELP hostscript_check_flapping 1 when the check changed status at least K times in its last N runs (--state).\n");
        text.push_str("# TYPE hostscript_check_flapping gauge\n");
        for run in runs {
            let host = label(&run.summary.host);
            for r in &run.records {
                if let Some((_, flapping)) = r.remembered {
                    text.push_str(&format!(
                        "hostscript_check_flapping{{host=\"{host}\",id=\"{}\"}} {}\n",
                        label(&r.id),
                        u8::from(flapping)
                    ));
                }
            }
        }
    }
    text.push_str("# HELP hostscript_checks Checks per status in this run.\n");
    text.push_str("# TYPE hostscript_checks gauge\n");
    for run in runs {
        let host = label(&run.summary.host);
        for (status, n) in &run.summary.counts {
            text.push_str(&format!(
                "hostscript_checks{{host=\"{host}\",status=\"{}\"}} {n}\n",
                status.as_str()
            ));
        }
    }
    text.push_str("# HELP hostscript_ready 1 when every required check passed.\n");
    text.push_str("# TYPE hostscript_ready gauge\n");
    for run in runs {
        text.push_str(&format!(
            "hostscript_ready{{host=\"{}\"}} {}\n",
            label(&run.summary.host),
            u8::from(run.summary.ok())
        ));
    }
    text.push_str("# HELP hostscript_run_duration_seconds How long the whole run took.\n");
    text.push_str("# TYPE hostscript_run_duration_seconds gauge\n");
    for run in runs {
        text.push_str(&format!(
            "hostscript_run_duration_seconds{{host=\"{}\"}} {}\n",
            label(&run.summary.host),
            run.summary.duration.as_secs_f64()
        ));
    }
    text.push_str("# HELP hostscript_run_timestamp_seconds When the run finished (Unix time).\n");
    text.push_str("# TYPE hostscript_run_timestamp_seconds gauge\n");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    for run in runs {
        text.push_str(&format!(
            "hostscript_run_timestamp_seconds{{host=\"{}\"}} {now}\n",
            label(&run.summary.host)
        ));
    }
    out.write_all(text.as_bytes())?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
