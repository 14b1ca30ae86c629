//! Where things are, one rule for every command (`run`, `list`, `lint`, `serve`, `remediate`,
//! `run --fix`): a path given is used; with none, the installed layout (what the Debian package
//! puts where): the shipped suite in `/usr/share/hostscript`, then the site's own checks in
//! `/etc/hostscript/checks.d`, with `/etc/hostscript/vars.toml` over the suite's defaults. A
//! checks directory and a remediations directory side by side (a checkout's `checks/` and
//! `remediations/`) belong together: each finds the other beside it. There is deliberately no
//! fallback to the working directory: a root timer or an Ansible task must not run whatever
//! `./checks` happens to be where it started.

use std::path::{Path, PathBuf};

use crate::cli::SelectionArgs;
use crate::error::{Error, Result};

/// The shipped suite: `checks/`, `remediations/` (read-only, owned by the package).
pub const SUITE: &str = "/usr/share/hostscript";
/// The site's part: `vars.toml` (a conffile) and `checks.d/`.
pub const SITE: &str = "/etc/hostscript";

/// The shipped checks, then `checks.d` when it exists; an error naming what to pass when no
/// suite is installed.
pub fn checks(what: &'static str) -> Result<Vec<PathBuf>> {
    let suite = Path::new(SUITE).join("checks");
    if !suite.is_dir() {
        return Err(Error::Flag {
            flag: what,
            message: format!(
                "not given, and no suite is installed at {}: pass a checks directory, e.g. `hostscript run checks/`",
                suite.display()
            ),
        });
    }
    let site = Path::new(SITE).join("checks.d");
    Ok(if site.is_dir() {
        vec![suite, site]
    } else {
        vec![suite]
    })
}

/// The shipped remediations; an error naming the flag when none are installed.
pub fn remediations(flag: &'static str) -> Result<Vec<PathBuf>> {
    let suite = Path::new(SUITE).join("remediations");
    if !suite.is_dir() {
        return Err(Error::Flag {
            flag,
            message: format!(
                "not given, and no suite is installed at {}: pass {flag} DIR",
                suite.display()
            ),
        });
    }
    Ok(vec![suite])
}

/// `/etc/hostscript/vars.toml` when it exists: the site's values, which apply over every
/// directory's `vars.toml` and under explicit `--vars` files and `--var` flags.
pub fn site_vars() -> Option<PathBuf> {
    let file = Path::new(SITE).join("vars.toml");
    file.is_file().then_some(file)
}

/// The installed layout remembers runs (`crate::state`) in /var/lib/hostscript when run as
/// root and no `--state`/`--no-state` says otherwise (a user cannot write there).
pub fn default_state(state: &mut crate::cli::StateArgs) {
    if state.state.is_none() && !state.no_state && crate::host::sys::uid() == 0 {
        state.state = Some(PathBuf::from(crate::state::INSTALLED_PATH));
    }
}

/// Fills a selection that names no path with the installed checks and the site's vars.
pub fn default_selection(selection: &mut SelectionArgs) -> Result<()> {
    if !selection.paths.is_empty() {
        return Ok(());
    }
    selection.paths = checks("PATH")?;
    if let Some(vars) = site_vars() {
        selection.vars.files.insert(0, vars);
    }
    Ok(())
}

/// The directory named `name` beside `dir` (`checks/` → `remediations/`), if there is one.
pub fn beside(dir: &Path, name: &str) -> Option<PathBuf> {
    let other = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.join(name),
        // `checks` given as is: its sibling as the user would type it.
        _ => PathBuf::from(name),
    };
    (other.is_dir() && other != dir).then_some(other)
}

/// How a `fix:` hint says to run a remediation so that it works as printed from where the run
/// started: bare for the installed suite; with `--remediations` and `--checks` for a checkout.
pub fn fix_command(check_paths: &[PathBuf]) -> String {
    let installed = Path::new(SUITE).join("checks");
    let Some(first) = check_paths.iter().find(|p| p.is_dir()) else {
        return "hostscript remediate".into();
    };
    if *first == installed {
        return "hostscript remediate".into();
    }
    match beside(first, "remediations") {
        Some(remediations) => format!(
            "hostscript remediate --remediations {} --checks {}",
            quote(&remediations),
            quote(first)
        ),
        None => "hostscript remediate".into(),
    }
}

fn quote(path: &Path) -> String {
    let text = path.display().to_string();
    shlex::try_quote(&text).map_or(text.clone(), |q| q.into_owned())
}
