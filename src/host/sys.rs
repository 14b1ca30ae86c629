//! Who and where we are: host name, effective uid and kernel release.

pub fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "unknown".to_string())
}

pub fn uid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

pub fn kernel_release() -> Result<String, String> {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .map_err(|e| format!("uname: {e}"))
}
