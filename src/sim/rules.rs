//! The pass rules of every `troupe sim` key-value run, in one place: a run passes only if its
//! history is linearizable, it kept working, few of its operations were left in doubt, every
//! final read after healing succeeded and lost nothing, and no data was lost.
//!
//! Each rule that fails adds a reason to the report's `failures`; `passed` is true only when
//! the list is empty. The rules are strict on purpose: a check that a broken system can pass is
//! no check (the planted bugs, `troupe sim ... --plant`, show that each rule can fail).

use serde::Serialize;

/// The thresholds of the rules.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct PassRules {
    /// At least this many successful operations per virtual second, per client.
    pub min_ok_per_client_sec: f64,
    /// At most this fraction of the recorded operations may have an unknown outcome.
    pub max_unknown_fraction: f64,
    /// What a run whose model check failed broke, as its failure says.
    pub model_broken: &'static str,
    /// The model check's name in the verdict.
    pub model_name: &'static str,
    /// What the model check's "yes" means, for the verdict.
    pub model_means: &'static str,
    /// What "progress after healing" checked, for the verdict.
    pub final_means: &'static str,
}

impl Default for PassRules {
    fn default() -> Self {
        PassRules {
            min_ok_per_client_sec: 2.0,
            max_unknown_fraction: 0.05,
            model_broken: "the history is not linearizable",
            model_name: "linearizable",
            model_means: "one order of all the operations, each placed between its call and \
                          its return, explains every answer",
            final_means: "once the faults stopped, a fresh client wrote and read every key, and \
                          no acknowledged write was missing",
        }
    }
}

/// What a run established, for [`PassRules::judge`].
#[derive(Debug, Clone, Default)]
pub struct RunFacts {
    /// Clients of the workload.
    pub clients: u32,
    /// Virtual seconds the run took.
    pub virtual_secs: f64,
    /// Operations that took effect.
    pub ops_ok: u64,
    /// Operations whose outcome is unknown.
    pub ops_unknown: u64,
    /// The checker's verdict: `None` when it could not decide within its budget.
    pub linearizable: Option<bool>,
    /// Whether the final write after healing succeeded.
    pub final_write: bool,
    /// What the final reads after healing found wrong (failed reads, lost appends).
    pub final_problems: Vec<String>,
    /// What the system's own end-of-run checks found wrong (a chain that lost every complete
    /// copy, say), one sentence each.
    pub system_problems: Vec<String>,
}

impl PassRules {
    /// Every rule `facts` breaks, as a sentence; empty when the run passes.
    pub fn judge(&self, facts: &RunFacts) -> Vec<String> {
        let mut failures = Vec::new();
        match facts.linearizable {
            Some(true) => {}
            Some(false) => failures.push(self.model_broken.to_string()),
            None => failures
                .push("the checker could not decide within its budget (inconclusive)".to_string()),
        }
        let floor = self.min_ok_per_client_sec * f64::from(facts.clients) * facts.virtual_secs;
        if (facts.ops_ok as f64) < floor {
            failures.push(format!(
                "too little progress: {} operations succeeded, the floor is {floor:.0} ({} per \
                 client per virtual second)",
                facts.ops_ok, self.min_ok_per_client_sec
            ));
        }
        let recorded = facts.ops_ok + facts.ops_unknown;
        if recorded > 0 {
            let unknown = facts.ops_unknown as f64 / recorded as f64;
            if unknown > self.max_unknown_fraction {
                failures.push(format!(
                    "{:.1}% of the operations have an unknown outcome (at most {:.1}%)",
                    unknown * 100.0,
                    self.max_unknown_fraction * 100.0
                ));
            }
        }
        if !facts.final_write {
            failures.push("the final write after healing did not succeed".to_string());
        }
        failures.extend(facts.final_problems.iter().cloned());
        failures.extend(facts.system_problems.iter().cloned());
        failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn healthy() -> RunFacts {
        RunFacts {
            clients: 2,
            virtual_secs: 10.0,
            ops_ok: 1000,
            ops_unknown: 10,
            linearizable: Some(true),
            final_write: true,
            final_problems: Vec::new(),
            system_problems: Vec::new(),
        }
    }

    #[test]
    fn a_healthy_run_passes_and_each_broken_rule_fails_it() {
        let rules = PassRules::default();
        assert!(rules.judge(&healthy()).is_empty());
        let broken: Vec<(&str, RunFacts)> = vec![
            (
                "not linearizable",
                RunFacts {
                    linearizable: Some(false),
                    ..healthy()
                },
            ),
            (
                "inconclusive",
                RunFacts {
                    linearizable: None,
                    ..healthy()
                },
            ),
            (
                "progress",
                RunFacts {
                    ops_ok: 39,
                    ops_unknown: 0,
                    ..healthy()
                },
            ),
            (
                "unknown",
                RunFacts {
                    ops_unknown: 60,
                    ..healthy()
                },
            ),
            (
                "final write",
                RunFacts {
                    final_write: false,
                    ..healthy()
                },
            ),
            (
                "lost",
                RunFacts {
                    final_problems: vec!["lost".into()],
                    ..healthy()
                },
            ),
            (
                "system",
                RunFacts {
                    system_problems: vec!["a chain lost every complete copy".into()],
                    ..healthy()
                },
            ),
        ];
        for (what, facts) in broken {
            assert_eq!(
                rules.judge(&facts).len(),
                1,
                "{what}: {:?}",
                rules.judge(&facts)
            );
        }
    }
}
