//! One scenario's results and the table that shows several.

use std::fmt::Write;
use std::time::Duration;

use super::child::Outcome;
use super::ledger::Counts;

/// What one scenario measured.
#[derive(Clone, Debug)]
pub struct Report {
    /// Scenario name, e.g. `kills@1000/s`.
    pub scenario: String,
    /// The MQTT backend of the device processes.
    pub backend: String,
    /// Wall-clock time of the whole scenario.
    pub elapsed: Duration,
    /// Totals over every run.
    pub counts: Counts,
    /// Each device process: its run number, how it ended and its totals.
    pub runs: Vec<(u32, Outcome, Counts)>,
    /// From each broker restart or connection fault to the first
    /// acknowledged publish after it.
    pub recoveries: Vec<Duration>,
    /// Faults after which no publish was acknowledged by the same process
    /// (it aborted or froze first).
    pub unrecovered: usize,
    /// Free-form facts, e.g. how long 1,000 devices took to connect.
    pub notes: Vec<String>,
}

impl Report {
    /// Processes that died by themselves (SIGABRT or another crash).
    pub fn aborts(&self) -> usize {
        self.runs.iter().filter(|(_, o, _)| o.is_abort()).count()
    }

    /// Processes the watchdog killed for making no progress.
    pub fn freezes(&self) -> usize {
        self.runs
            .iter()
            .filter(|(_, o, _)| matches!(o, Outcome::Frozen(_)))
            .count()
    }

    /// Totals of the runs that ended normally: no abort, no freeze.
    pub fn clean_runs(&self) -> Counts {
        let mut total = Counts::default();
        for (_, outcome, counts) in &self.runs {
            if *outcome == Outcome::Done {
                total.add(counts);
            }
        }
        total
    }

    /// Whether the totals add up and equal the sum of the runs.
    pub fn is_consistent(&self) -> bool {
        let mut sum = Counts::default();
        for (_, _, counts) in &self.runs {
            sum.add(counts);
        }
        sum == self.counts && self.counts.adds_up() && self.runs.iter().all(|r| r.2.adds_up())
    }

    /// min / median / max recovery in milliseconds, or `-`.
    fn recovery_text(&self) -> String {
        let mut ms: Vec<u128> = self.recoveries.iter().map(Duration::as_millis).collect();
        ms.sort_unstable();
        match (ms.first(), ms.get(ms.len() / 2), ms.last()) {
            (Some(min), Some(median), Some(max)) => format!("{min}/{median}/{max}"),
            _ => "-".to_owned(),
        }
    }

    /// The row of this report in [`table`].
    fn row(&self) -> String {
        let c = &self.counts;
        format!(
            "| {} | {} | {:.0} s | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} ({} n/a) |",
            self.scenario,
            self.backend,
            self.elapsed.as_secs_f64(),
            c.sent,
            c.acked,
            c.received,
            c.lost_unacked,
            c.lost_after_ack,
            c.duplicated,
            c.reordered,
            self.aborts(),
            self.freezes(),
            self.recovery_text(),
            self.unrecovered,
        )
    }

    /// The runs that did not end normally and the notes, one per line.
    pub fn details(&self) -> String {
        let mut text = String::new();
        for (run, outcome, counts) in &self.runs {
            if *outcome != Outcome::Done {
                let _ = writeln!(
                    text,
                    "  {}: run {run} {outcome:?}; {counts:?}",
                    self.scenario
                );
            }
        }
        for note in &self.notes {
            let _ = writeln!(text, "  {}: {note}", self.scenario);
        }
        text
    }
}

/// A Markdown table of `reports`, then their details.
pub fn table(reports: &[Report]) -> String {
    let mut text = String::from(
        "| scenario | backend | time | sent | acked | received | lost, never acked | lost after PUBACK \
         | duplicated | reordered | aborts | freezes | back → first ack, ms min/med/max |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for report in reports {
        text.push_str(&report.row());
        text.push('\n');
    }
    for report in reports {
        text.push_str(&report.details());
    }
    text
}
