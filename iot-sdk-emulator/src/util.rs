//! Two helpers every layer uses: locking shared state and writing hex.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks a mutex of the platform. No platform lock is held across a call
/// that could panic halfway through an update, so a poisoned lock still
/// holds consistent data.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
