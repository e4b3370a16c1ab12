//! What the benchmark binaries share: their settings from the environment
//! and the statistics they print.

/// The count in environment variable `name`, or `default` when it is unset.
pub fn env_or(name: &str, default: usize) -> Result<usize, String> {
    match std::env::var(name) {
        Ok(value) => value
            .trim()
            .parse()
            .map_err(|_| format!("{name}: `{value}` is not a count")),
        Err(_) => Ok(default),
    }
}

/// The `q` quantile (0..=1) of `values`, nearest rank; sorts them.
///
/// # Panics
/// If `values` is empty: a benchmark always has at least one round.
pub fn quantile(values: &mut [f64], q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let index = ((values.len() - 1) as f64 * q).round() as usize;
    values[index]
}
