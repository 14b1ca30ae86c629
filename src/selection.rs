//! Which declared checks a run executes: those matching `--only` globs and `--tag`s, plus
//! everything they transitively `need`, so a selected check is never skipped merely because
//! its dependency was filtered out. Order stays the declaration order.

use std::collections::{HashMap, HashSet};

use crate::error::{Error, Result};
use crate::script::CheckDef;

pub struct Selector {
    only: Vec<glob::Pattern>,
    tags: Vec<String>,
    skip: Vec<glob::Pattern>,
}

impl Selector {
    pub fn new(only: &[String], tags: &[String]) -> Result<Self> {
        Self::with_skip(only, tags, &[])
    }

    pub fn with_skip(only: &[String], tags: &[String], skip: &[String]) -> Result<Self> {
        let globs = |patterns: &[String]| -> Result<Vec<glob::Pattern>> {
            patterns
                .iter()
                .map(|p| {
                    glob::Pattern::new(p).map_err(|e| Error::BadGlob {
                        pattern: p.clone(),
                        message: e.msg.to_string(),
                    })
                })
                .collect()
        };
        Ok(Selector {
            only: globs(only)?,
            tags: tags.to_vec(),
            skip: globs(skip)?,
        })
    }

    /// The `--skip` glob that leaves out check `id`, if any: the check stays in the run (so
    /// the checks that need it can say why they skip) but does not execute.
    pub fn skipped_by(&self, id: &str) -> Option<String> {
        self.skip
            .iter()
            .find(|p| p.matches(id))
            .map(|p| p.as_str().to_string())
    }

    pub fn is_everything(&self) -> bool {
        self.only.is_empty() && self.tags.is_empty()
    }

    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = self
            .only
            .iter()
            .map(|p| format!("--only '{}'", p.as_str()))
            .collect();
        parts.extend(self.tags.iter().map(|t| format!("--tag {t}")));
        parts.join(" ")
    }

    fn matches(&self, check: &CheckDef) -> bool {
        let id_ok = self.only.is_empty() || self.only.iter().any(|p| p.matches(&check.id));
        let tag_ok = self.tags.is_empty() || self.tags.iter().any(|t| check.tags.contains(t));
        id_ok && tag_ok
    }

    /// Keeps the matching checks and their dependencies, in declaration order.
    pub fn apply(&self, checks: Vec<CheckDef>) -> Vec<CheckDef> {
        if self.is_everything() {
            return checks;
        }
        let by_id: HashMap<&str, usize> = checks
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id.as_str(), i))
            .collect();
        let mut keep: HashSet<usize> = HashSet::new();
        let mut stack: Vec<usize> = (0..checks.len())
            .filter(|&i| self.matches(&checks[i]))
            .collect();
        while let Some(i) = stack.pop() {
            if keep.insert(i) {
                stack.extend(
                    checks[i]
                        .needs
                        .iter()
                        .filter_map(|n| by_id.get(n.as_str()).copied()),
                );
            }
        }
        checks
            .into_iter()
            .enumerate()
            .filter(|(i, _)| keep.contains(i))
            .map(|(_, c)| c)
            .collect()
    }
}
