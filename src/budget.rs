//! The wall-clock budget of the script running on this thread.
//!
//! Rhai scripts run synchronously on one thread, so the runner stores the deadline of the check
//! (or script load) in a thread-local before it calls into the engine. The engine's progress hook
//! reads it to stop runaway loops, and every host primitive reads it to cap its own timeouts, so a
//! hung command or socket can never outlive the check that started it.

use std::cell::Cell;
use std::time::{Duration, Instant};

thread_local! {
    static DEADLINE: Cell<Option<(Instant, Duration)>> = const { Cell::new(None) };
}

/// Sets the deadline for the current thread until the guard is dropped.
pub(crate) struct BudgetGuard {
    previous: Option<(Instant, Duration)>,
}

impl Drop for BudgetGuard {
    fn drop(&mut self) {
        DEADLINE.with(|d| d.set(self.previous));
    }
}

/// Starts a budget of `total` on this thread, measured from now.
pub(crate) fn start(total: Duration) -> BudgetGuard {
    let previous = DEADLINE.with(|d| d.replace(Some((Instant::now() + total, total))));
    BudgetGuard { previous }
}

/// The time left, or `None` when no budget is set (code running outside a check).
pub(crate) fn remaining() -> Option<Duration> {
    DEADLINE
        .with(|d| d.get())
        .map(|(end, _)| end.saturating_duration_since(Instant::now()))
}

/// True once the budget of this thread has run out.
pub(crate) fn expired() -> bool {
    DEADLINE
        .with(|d| d.get())
        .is_some_and(|(end, _)| Instant::now() >= end)
}

/// The whole budget, for messages such as "timed out after 10 s".
pub(crate) fn total() -> Option<Duration> {
    DEADLINE.with(|d| d.get()).map(|(_, total)| total)
}

/// Caps a primitive's own timeout by what is left of the budget.
///
/// Returns `Err` with a message when the budget is already spent, so that a primitive never
/// starts work it cannot finish.
pub(crate) fn cap(requested: Option<Duration>) -> Result<Duration, String> {
    const UNBOUNDED_DEFAULT: Duration = Duration::from_secs(30);
    match (requested, remaining()) {
        (_, Some(left)) if left.is_zero() => Err(timed_out_message()),
        (Some(want), Some(left)) => Ok(want.min(left)),
        (None, Some(left)) => Ok(left),
        (Some(want), None) => Ok(want),
        (None, None) => Ok(UNBOUNDED_DEFAULT),
    }
}

/// "timed out after 10 s", naming the whole budget of this thread.
pub(crate) fn timed_out_message() -> String {
    match total() {
        Some(total) => format!("timed out after {}", human_duration(total)),
        None => "timed out".to_string(),
    }
}

pub(crate) use crate::text::human_duration;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_uses_the_smaller_of_request_and_budget() {
        let _g = start(Duration::from_secs(5));
        let capped = cap(Some(Duration::from_secs(60))).expect("budget left");
        assert!(capped <= Duration::from_secs(5));
        assert_eq!(
            cap(Some(Duration::from_millis(10))),
            Ok(Duration::from_millis(10))
        );
    }

    #[test]
    fn cap_refuses_when_the_budget_is_spent() {
        let _g = start(Duration::ZERO);
        assert_eq!(cap(None), Err("timed out after 0 ms".to_string()));
    }

    #[test]
    fn guard_restores_the_outer_budget() {
        assert!(remaining().is_none());
        {
            let _g = start(Duration::from_secs(1));
            assert!(remaining().is_some());
        }
        assert!(remaining().is_none());
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(Duration::from_secs(10)), "10 s");
        assert_eq!(human_duration(Duration::from_millis(1500)), "1.5 s");
        assert_eq!(human_duration(Duration::from_millis(250)), "250 ms");
    }
}
