//! How a chain's configuration changes from one epoch to the next (a node removed, a node
//! joining behind the tail, the joining node made the tail), and how the configuration manager
//! stores it: a configuration is kept as one string value of the manager's key-value store, the
//! JSON form of [`ChainConfig`].
//!
//! The wire type lives in `troupe_messages::chain`; the transitions are the supervisor's rules
//! and live here, as the [`Transitions`] extension trait.

use troupe_messages::chain::{ChainConfig, Epoch};
use troupe_messages::NodeId;

/// The key under which the configuration manager keeps chain `chain`'s configuration.
pub fn manager_key(chain: u32) -> String {
    format!("chain/{chain}")
}

/// The membership transitions of a [`ChainConfig`]: each makes the next epoch's configuration.
pub trait Transitions {
    /// The chain without `gone` (which may be the joining node).
    fn without(&self, gone: NodeId) -> ChainConfig;
    /// The chain with `node` joining after the tail. `node` is recorded as having begun to
    /// join in the new epoch, so a node that was in the chain before drops what it held.
    fn with_joining(&self, node: NodeId) -> ChainConfig;
    /// The chain in which the joining node has become the tail (unchanged members if none is
    /// joining).
    fn promoted(&self) -> ChainConfig;
}

impl Transitions for ChainConfig {
    fn without(&self, gone: NodeId) -> ChainConfig {
        ChainConfig {
            epoch: self.epoch + 1,
            nodes: self.nodes.iter().copied().filter(|&n| n != gone).collect(),
            joining: self.joining.filter(|&n| n != gone),
            since: self
                .since
                .iter()
                .copied()
                .filter(|&(n, _)| n != gone)
                .collect(),
        }
    }

    fn with_joining(&self, node: NodeId) -> ChainConfig {
        let epoch = self.epoch + 1;
        let mut since: Vec<(NodeId, Epoch)> = self
            .since
            .iter()
            .copied()
            .filter(|&(n, _)| n != node)
            .collect();
        since.push((node, epoch));
        ChainConfig {
            epoch,
            nodes: self.nodes.clone(),
            joining: Some(node),
            since,
        }
    }

    fn promoted(&self) -> ChainConfig {
        let mut nodes = self.nodes.clone();
        nodes.extend(self.joining);
        ChainConfig {
            epoch: self.epoch + 1,
            nodes,
            joining: None,
            since: self.since.clone(),
        }
    }
}

/// Why a value read from the configuration manager is not a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The key holds nothing (the manager answers "" for a missing key): no configuration was
    /// ever stored.
    #[error("no chain configuration is stored")]
    Missing,
    /// The key holds something that is not a configuration's JSON form.
    #[error("the stored value is not a chain configuration: {0}")]
    Malformed(#[from] serde_json::Error),
}

/// The configuration as the manager stores it.
pub fn encode(config: &ChainConfig) -> String {
    // Serialising a struct of integers and sequences of integers cannot fail: no map with
    // non-string keys, no custom `Serialize`.
    serde_json::to_string(config).expect("a chain configuration serialises to JSON")
}

/// The configuration stored as `text` by [`encode`].
pub fn decode(text: &str) -> Result<ChainConfig, ConfigError> {
    if text.is_empty() {
        return Err(ConfigError::Missing);
    }
    Ok(serde_json::from_str(text)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(i: u32) -> NodeId {
        NodeId(i)
    }

    #[test]
    fn removing_a_node_keeps_the_order_and_forgets_when_it_joined() {
        let config = ChainConfig::new(1, vec![n(4), n(5), n(6)]).with_joining(n(7));
        let without_middle = config.without(n(5));
        assert_eq!(without_middle.epoch, 3);
        assert_eq!(without_middle.nodes, vec![n(4), n(6)]);
        assert_eq!(without_middle.joining, Some(n(7)));
        let without_joiner = config.without(n(7));
        assert_eq!(without_joiner.joining, None);
        assert_eq!(without_joiner.since(n(7)), 0);
        assert_eq!(without_joiner.nodes, config.nodes);
    }

    #[test]
    fn a_node_joins_behind_the_tail_and_is_promoted_to_tail() {
        let first = ChainConfig::new(1, vec![n(4), n(5), n(6)]);
        let joining = first.without(n(5)).with_joining(n(5));
        assert_eq!(joining.epoch, 3);
        assert_eq!(joining.nodes, vec![n(4), n(6)]);
        assert_eq!(joining.joining, Some(n(5)));
        assert_eq!(joining.since(n(5)), 3, "it began joining in epoch 3");
        let promoted = joining.promoted();
        assert_eq!(promoted.epoch, 4);
        assert_eq!(promoted.nodes, vec![n(4), n(6), n(5)]);
        assert_eq!(promoted.tail(), Some(n(5)));
        assert_eq!(promoted.joining, None);
        assert_eq!(promoted.since(n(5)), 3);
        assert_eq!(promoted.since(n(4)), 0, "a founding member");
    }

    #[test]
    fn a_node_that_joins_again_is_recorded_once_with_its_new_epoch() {
        let config = ChainConfig::new(1, vec![n(4), n(5)])
            .with_joining(n(6))
            .promoted()
            .without(n(6))
            .with_joining(n(6));
        assert_eq!(config.since, vec![(n(6), 5)]);
    }

    #[test]
    fn a_configuration_survives_the_managers_form() {
        let first = ChainConfig::new(1, vec![n(4), n(5), n(6)]);
        let joining = first.without(n(5)).with_joining(n(5));
        for config in [
            first,
            joining.clone(),
            joining.promoted(),
            ChainConfig::new(7, Vec::new()),
        ] {
            let text = encode(&config);
            assert_eq!(decode(&text).ok(), Some(config), "{text}");
        }
        assert_eq!(
            encode(&joining),
            r#"{"epoch":3,"nodes":[4,6],"joining":5,"since":[[5,3]]}"#
        );
    }

    #[test]
    fn a_missing_or_foreign_value_is_not_a_configuration() {
        assert!(matches!(decode(""), Err(ConfigError::Missing)));
        for text in ["4:n4,n6,n5@3", "{}", r#"{"epoch":1,"nodes":["x"]}"#, "null"] {
            assert!(
                matches!(decode(text), Err(ConfigError::Malformed(_))),
                "{text}"
            );
        }
        let minimal = decode(r#"{"epoch":2,"nodes":[1]}"#).ok();
        assert_eq!(minimal, Some(ChainConfig::new(2, vec![n(1)])));
    }
}
