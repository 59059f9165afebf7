//! MapReduce applications, registered by name. Each is a map function, which turns one input
//! file into key/value pairs, and a reduce function, which turns one key and all its values
//! into one output value. The output of a job is a line `key value` per key.
//!
//! The test applications of 6.824's test-mr.sh (`mtiming`, `rtiming`, `jobcount`,
//! `early_exit`, `crash`, `nocrash`) are in [`super::test_apps`].
//!
//! A word, for both applications here, is a maximal run of letters (6.824's definition).

use super::test_apps::{Crash, EarlyExit, JobCount, MapTiming, ReduceTiming};
use rustc_hash::FxHashMap;
use std::collections::BTreeSet;

/// One intermediate pair.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct KeyValue {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
}

/// A MapReduce application.
pub trait App: Send + Sync {
    /// The pairs of one input file (`name` is its path, `contents` its text).
    fn map(&self, name: &str, contents: &str) -> Vec<KeyValue>;
    /// The output value of `key`, from all its values.
    fn reduce(&self, key: &str, values: &[String]) -> String;
    /// The paper's combiner (§4.3): the map output of one input file already reduced, one pair
    /// per key, so that far less crosses to the reduce tasks. Only an application whose
    /// reduce can take its own output as a value (word count's sum of counts) has one; the
    /// default, None, means the plain [`App::map`] output is used.
    fn map_combined(&self, _name: &str, _contents: &str) -> Option<Vec<KeyValue>> {
        None
    }
}

/// The names of the applications [`app`] knows.
pub const APPS: &[&str] = &[
    "wc",
    "indexer",
    "mtiming",
    "rtiming",
    "jobcount",
    "early_exit",
    "crash",
    "nocrash",
];

/// The application called `name`.
pub fn app(name: &str) -> Option<Box<dyn App>> {
    match name {
        "wc" => Some(Box::new(WordCount)),
        "indexer" => Some(Box::new(Indexer)),
        "mtiming" => Some(Box::new(MapTiming)),
        "rtiming" => Some(Box::new(ReduceTiming)),
        "jobcount" => Some(Box::new(JobCount)),
        "early_exit" => Some(Box::new(EarlyExit)),
        "crash" => Some(Box::new(Crash { faults: true })),
        "nocrash" => Some(Box::new(Crash { faults: false })),
        _ => None,
    }
}

/// The words of `text`: maximal runs of letters.
pub fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphabetic())
        .filter(|w| !w.is_empty())
}

/// Word count: `word count` for every word of the input.
pub struct WordCount;

impl App for WordCount {
    fn map(&self, _: &str, contents: &str) -> Vec<KeyValue> {
        words(contents)
            .map(|w| KeyValue {
                key: w.to_string(),
                value: "1".to_string(),
            })
            .collect()
    }

    /// The sum of the counts (each plain map value is a 1; a combined one is a file's count).
    fn reduce(&self, _: &str, values: &[String]) -> String {
        let sum: u64 = values.iter().filter_map(|v| v.parse::<u64>().ok()).sum();
        sum.to_string()
    }

    fn map_combined(&self, _: &str, contents: &str) -> Option<Vec<KeyValue>> {
        Some(
            count_words(contents)
                .into_iter()
                .map(|(word, n)| KeyValue {
                    key: word.to_string(),
                    value: n.to_string(),
                })
                .collect(),
        )
    }
}

/// How often each word occurs in `text` (in a map with a fast, non-cryptographic hash: the
/// words are the job's own input, not an adversary's).
pub fn count_words(text: &str) -> FxHashMap<&str, u64> {
    let mut counts: FxHashMap<&str, u64> = FxHashMap::default();
    for word in words(text) {
        *counts.entry(word).or_default() += 1;
    }
    counts
}

/// An inverted index: `word n doc1,doc2,...`, the documents that contain the word, sorted.
pub struct Indexer;

impl App for Indexer {
    fn map(&self, name: &str, contents: &str) -> Vec<KeyValue> {
        let distinct: BTreeSet<&str> = words(contents).collect();
        distinct
            .into_iter()
            .map(|w| KeyValue {
                key: w.to_string(),
                value: name.to_string(),
            })
            .collect()
    }

    fn reduce(&self, _: &str, values: &[String]) -> String {
        let docs: BTreeSet<&str> = values.iter().map(String::as_str).collect();
        let docs: Vec<&str> = docs.into_iter().collect();
        format!("{} {}", docs.len(), docs.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_word_is_a_maximal_run_of_letters() {
        let found: Vec<&str> = words("It's 2 o'clock--time, Café!").collect();
        assert_eq!(found, ["It", "s", "o", "clock", "time", "Café"]);
    }

    #[test]
    fn word_count_counts_each_occurrence() {
        let wc = app("wc").expect("wc is registered");
        let pairs = wc.map("f", "a b a");
        assert_eq!(pairs.len(), 3);
        let ones: Vec<String> = pairs.into_iter().map(|kv| kv.value).collect();
        assert_eq!(wc.reduce("a", &ones[..2]), "2");
    }

    #[test]
    fn combined_word_counts_reduce_to_the_same_counts() {
        let wc = app("wc").expect("wc is registered");
        let mut combined = wc.map_combined("f", "a b a").expect("wc has a combiner");
        combined.sort();
        let values: Vec<String> = combined.iter().map(|kv| kv.value.clone()).collect();
        assert_eq!(values, ["2", "1"]);
        // A file's count and another's single occurrence.
        assert_eq!(wc.reduce("a", &["2".into(), "1".into()]), "3");
        assert!(app("indexer")
            .expect("indexer")
            .map_combined("f", "a")
            .is_none());
    }

    #[test]
    fn the_indexer_lists_each_document_once_and_sorted() {
        let ix = app("indexer").expect("indexer is registered");
        assert_eq!(
            ix.map("d2", "x y x").len(),
            2,
            "each word once per document"
        );
        let docs = ["d2", "d1", "d2"].map(String::from);
        assert_eq!(ix.reduce("x", &docs), "2 d1,d2");
    }

    #[test]
    fn unknown_names_are_not_applications() {
        assert!(app("grep").is_none());
        assert!(APPS.iter().all(|name| app(name).is_some()));
    }
}
