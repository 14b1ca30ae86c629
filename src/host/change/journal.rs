//! The steps of the remediation running on this thread. A remediation runs on one thread, so
//! its primitives append here and the remediation runner takes the list when the body ends,
//! whether it finished or stopped at a failure: what was done before a failure stays visible.

use std::cell::RefCell;

use super::Step;

thread_local! {
    static STEPS: RefCell<Vec<Step>> = const { RefCell::new(Vec::new()) };
}

pub fn record(step: Step) {
    STEPS.with(|s| s.borrow_mut().push(step));
}

/// Empties the journal of this thread and returns what it held.
pub fn take() -> Vec<Step> {
    STEPS.with(|s| std::mem::take(&mut *s.borrow_mut()))
}
