//! Waivers: a site's reasoned, dated exceptions. `waivers.toml` beside `vars.toml` in each
//! checks directory (or `--waivers FILE`) lists `[[waiver]]` entries with an `id` glob, a
//! `reason` and an optional `expires` date. A waived check still runs; a result other than
//! `pass` is reported as `skip` "waived: REASON (until DATE)" with its real status kept in
//! `details.waived_status` (kubeadm's --ignore-preflight-errors and InSpec's waivers, with the
//! reason next to the result). An expired waiver no longer applies, and the run says so once.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::outcome::{CheckResult, Status, Waived};

#[derive(Debug, Clone)]
pub struct Waiver {
    pub pattern: glob::Pattern,
    pub reason: String,
    /// `YYYY-MM-DD`: the last day the waiver applies.
    pub expires: Option<String>,
    pub file: PathBuf,
}

#[derive(Debug, Default, Clone)]
pub struct Waivers {
    pub all: Vec<Waiver>,
}

/// Today's date in UTC as `YYYY-MM-DD`.
pub fn today() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()[..10].to_string()
}

impl Waivers {
    /// `waivers.toml` of each directory, or only `explicit` when given (which must exist).
    pub fn load(dirs: &[PathBuf], explicit: &[PathBuf]) -> Result<Waivers> {
        let mut waivers = Waivers::default();
        if explicit.is_empty() {
            for dir in dirs {
                let file = dir.join("waivers.toml");
                if file.is_file() {
                    waivers.read(&file)?;
                }
            }
        } else {
            for file in explicit {
                if !file.is_file() {
                    return Err(Error::MissingPath { path: file.clone() });
                }
                waivers.read(file)?;
            }
        }
        Ok(waivers)
    }

    fn read(&mut self, file: &Path) -> Result<()> {
        let bad = |message: String| Error::Flag {
            flag: "waivers",
            message: format!("{}: {message}", file.display()),
        };
        let text = std::fs::read_to_string(file).map_err(|source| Error::Read {
            path: file.to_path_buf(),
            source,
        })?;
        // Waivers decide what counts as failing: refused like a script when others than the
        // owner could change them.
        crate::trust::admit(file).map_err(|reason| Error::Untrusted { reason })?;
        let doc: toml::Table = toml::from_str(&text).map_err(|e| bad(e.to_string()))?;
        for key in doc.keys() {
            if key != "waiver" {
                return Err(bad(format!(
                    "unknown key `{key}` (expected [[waiver]] entries)"
                )));
            }
        }
        let entries = match doc.get("waiver") {
            None => return Ok(()),
            Some(toml::Value::Array(a)) => a.clone(),
            Some(_) => return Err(bad("`waiver` must be [[waiver]] entries".into())),
        };
        for (n, entry) in entries.iter().enumerate() {
            let at = |m: &str| bad(format!("waiver {}: {m}", n + 1));
            let table = entry.as_table().ok_or_else(|| at("not a table"))?;
            for key in table.keys() {
                if !["id", "reason", "expires"].contains(&key.as_str()) {
                    return Err(at(&format!("unknown key `{key}` (id, reason, expires)")));
                }
            }
            let id = table
                .get("id")
                .and_then(|v| v.as_str())
                .ok_or_else(|| at("needs an `id` glob"))?;
            let reason = table
                .get("reason")
                .and_then(|v| v.as_str())
                .filter(|r| !r.trim().is_empty())
                .ok_or_else(|| at("needs a `reason`"))?;
            let expires = match table.get("expires") {
                None => None,
                Some(toml::Value::Datetime(d)) => Some(d.to_string()),
                Some(toml::Value::String(s)) => Some(s.clone()),
                Some(_) => return Err(at("`expires` must be a date (2027-01-31)")),
            };
            if let Some(date) = &expires {
                let ok = date.len() == 10
                    && date.bytes().enumerate().all(|(i, b)| match i {
                        4 | 7 => b == b'-',
                        _ => b.is_ascii_digit(),
                    });
                if !ok {
                    return Err(at(&format!(
                        "`expires` `{date}` is not a date (YYYY-MM-DD)"
                    )));
                }
            }
            let pattern =
                glob::Pattern::new(id).map_err(|e| at(&format!("id `{id}`: {}", e.msg)))?;
            self.all.push(Waiver {
                pattern,
                reason: reason.to_string(),
                expires,
                file: file.to_path_buf(),
            });
        }
        Ok(())
    }

    /// The first waiver for `id` that has not expired on `today`, and the expired ones that
    /// would have matched.
    pub fn for_id(&self, id: &str, today: &str) -> (Option<&Waiver>, Vec<&Waiver>) {
        let matching = self.all.iter().filter(|w| w.pattern.matches(id));
        let (live, expired): (Vec<&Waiver>, Vec<&Waiver>) =
            matching.partition(|w| w.expires.as_deref().is_none_or(|d| d >= today));
        (live.first().copied(), expired)
    }

    /// Applies the waiver of `id` to a result that did not pass.
    pub fn apply(&self, id: &str, result: &mut CheckResult, today: &str) -> Vec<String> {
        let (live, expired) = self.for_id(id, today);
        let notes = expired
            .iter()
            .map(|w| {
                format!(
                    "waiver for `{}` in {} expired on {}: `{id}` counts again",
                    w.pattern.as_str(),
                    w.file.display(),
                    w.expires.as_deref().unwrap_or_default()
                )
            })
            .collect();
        if let Some(w) = live
            && result.status != Status::Pass
        {
            let real = result.demoted_from.unwrap_or(result.status);
            result
                .details
                .insert("waived_status".into(), real.as_str().into());
            let until = w
                .expires
                .as_deref()
                .map(|d| format!(" (until {d})"))
                .unwrap_or_default();
            result.message = format!("waived: {}{until}; {}", w.reason, result.message);
            result.status = Status::Skip;
            result.demoted_from = None;
            result.waived = Some(Waived {
                id: w.pattern.as_str().to_string(),
                reason: w.reason.clone(),
                expires: w.expires.clone(),
                file: w.file.display().to_string(),
            });
        }
        notes
    }
}
