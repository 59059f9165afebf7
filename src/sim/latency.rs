//! `--latency MIN..MAX`: the one-way delay of every healthy simulated link, in whole
//! milliseconds (the simulated clock's timers tick in milliseconds; a bound with a fraction of
//! a millisecond is refused rather than rounded).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;
use troupe_runtime::sim::{LinkFaults, DEFAULT_LATENCY};

/// A latency range, e.g. `1ms..5ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latency {
    /// The shortest delay.
    pub min: Duration,
    /// The longest delay.
    pub max: Duration,
}

impl Latency {
    /// Healthy links with this latency.
    pub fn links(&self) -> LinkFaults {
        LinkFaults::reliable().with_delay(self.min, self.max)
    }
}

impl Default for Latency {
    fn default() -> Self {
        Latency {
            min: DEFAULT_LATENCY.0,
            max: DEFAULT_LATENCY.1,
        }
    }
}

impl FromStr for Latency {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (min, max) = s
            .split_once("..")
            .ok_or_else(|| format!("`{s}` is not a range MIN..MAX, e.g. 1ms..5ms"))?;
        let parse = |text: &str| {
            humantime::parse_duration(text.trim()).map_err(|e| format!("`{text}`: {e}"))
        };
        let (min, max) = (parse(min)?, parse(max)?);
        if min > max {
            return Err(format!("the range {s} runs backwards"));
        }
        // Refuse what the simulated clock cannot honour, with the network's own words.
        LinkFaults::reliable()
            .try_with_delay(min, max)
            .map_err(|e| e.to_string())?;
        Ok(Latency { min, max })
    }
}

impl fmt::Display for Latency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}..{}",
            humantime::format_duration(self.min),
            humantime::format_duration(self.max)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ranges_and_refuses_what_would_be_rounded() {
        let ms = Duration::from_millis;
        assert_eq!(
            "1ms..5ms".parse(),
            Ok(Latency {
                min: ms(1),
                max: ms(5)
            })
        );
        assert_eq!("0ms..0ms".parse::<Latency>().map(|l| l.max), Ok(ms(0)));
        assert_eq!(Latency::default().to_string(), "1ms..5ms");
        let sub_ms = "500us..5ms".parse::<Latency>().unwrap_err();
        assert!(sub_ms.contains("whole number of milliseconds"), "{sub_ms}");
        assert!("5ms..1ms".parse::<Latency>().is_err());
        assert!("5ms".parse::<Latency>().is_err());
    }
}
