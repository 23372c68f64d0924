//! Waiting between tries: exponential backoff with jitter, and the server's `Retry-After`. Shared
//! by webhook deliveries and the platform clients.

use std::time::{Duration, SystemTime};

/// The wait before try `attempt + 1` (`attempt` ≥ 1): `base` doubled per try, capped at `max`,
/// with jitter (50–100 %) so clients that failed together do not retry together.
pub fn backoff(base: Duration, attempt: u32, max: Duration) -> Duration {
    let full = base.saturating_mul(1u32 << attempt.clamp(1, 21).saturating_sub(1)).min(max);
    let mut byte = [0u8; 1];
    let jitter = match getrandom::fill(&mut byte) {
        Ok(()) => 0.5 + f64::from(byte[0]) / 510.0,
        Err(_) => 0.75,
    };
    full.mul_f64(jitter)
}

/// The wait a `Retry-After` value asks for (RFC 9110: delay in seconds, or an HTTP date), measured
/// from `now`; `None` when it is neither.
pub fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let base = Duration::from_millis(100);
        let max = Duration::from_secs(300);
        for attempt in 1..6u32 {
            let full = base * (1 << (attempt - 1));
            let wait = backoff(base, attempt, max);
            assert!(wait >= full / 2 && wait <= full, "try {attempt}: {wait:?} not within [{:?}, {full:?}]", full / 2);
        }
        assert!(backoff(Duration::from_secs(60), 30, max) <= max);
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(retry_after("7", now), Some(Duration::from_secs(7)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(120));
        assert_eq!(retry_after(&later, now), Some(Duration::from_secs(120)));
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(5));
        assert_eq!(retry_after(&earlier, now), Some(Duration::ZERO));
        assert_eq!(retry_after("soon", now), None);
    }
}
