//! Value parsers for the command line's flags: each refuses a value that would not mean what
//! it says, with a one-line reason clap prints after the flag's name.

use std::time::Duration;

/// A duration such as `10s`, `500ms` or `2m`, more than zero (a zero timeout, run or budget
/// would end before it began).
pub fn positive_duration(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if duration.is_zero() {
        return Err("must be more than zero".into());
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_positive_duration_is_more_than_zero() {
        assert_eq!(positive_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(positive_duration("1ms"), Ok(Duration::from_millis(1)));
        assert!(positive_duration("0s").is_err());
        assert!(positive_duration("0ms").is_err());
        assert!(positive_duration("10").is_err(), "a unit is needed");
        assert!(positive_duration("-1s").is_err());
    }
}
