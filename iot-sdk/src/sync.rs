//! Locking shared state that a panicking holder cannot leave half-written.

use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, ignoring poison: for data that every holder changes in
/// one step (insert, remove, replace), so a panic elsewhere leaves it valid.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
