//! How failed logins are throttled: a pure policy over the failures counted per login name and per client address (`storage::logins`), so a password cannot be guessed without a limit on any replica.
//!
//! A login name may fail [`USER_FREE`] times in a row; each failure after that refuses the name's logins for a minute, doubling up to a quarter of an hour, and [`USER_LOCKOUT`] failures in a row lock it out for a day unless an admin lifts the lock first (`AdminService.LiftLoginLockout`). A success forgets the name's failures. One client address may fail [`ADDRESS_LIMIT`] times in a quarter of an hour before its logins are refused for a quarter of an hour, whatever names it tries; the limit is high because a district office or a carrier's NAT puts many phones behind one address.
//! Counts of names and addresses that are not locked and have not failed for a day are forgotten every hour (`Authenticator::keep_throttles_pruned`).
//! The lock is checked before the password is hashed, so a refused attempt costs no hashing, and it is the same for names that exist and names that do not.

use std::net::IpAddr;
use std::time::Duration;

/// Failures in a row a login name may have before its logins are refused for a while.
pub const USER_FREE: u32 = 5;
/// Failures in a row after which a login name is locked out until an admin lifts it, or a day passes.
pub const USER_LOCKOUT: u32 = 20;
/// Failures one client address may have in [`ADDRESS_WINDOW`].
pub const ADDRESS_LIMIT: u32 = 100;
/// The window an address's failures are counted in, and how long it is refused after.
pub const ADDRESS_WINDOW: Duration = Duration::from_secs(15 * 60);
/// How often quiet failure counts are forgotten.
pub const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// How long a name's or an address's failures are kept after its last, once it is not locked.
pub const FORGET_AFTER: Duration = Duration::from_secs(24 * 3600);
const FIRST_WAIT: Duration = Duration::from_secs(60);
const LONGEST_WAIT: Duration = Duration::from_secs(15 * 60);
const LOCKOUT: Duration = Duration::from_secs(24 * 3600);

/// The longest login name a key keeps: longer names than any user's are cut, so made-up names cannot make keys of megabytes.
const KEY_NAME: usize = 64;

/// The key a login name's failures are counted under.
pub fn user_key(username: &str) -> String {
    let name: String = username.chars().take(KEY_NAME).collect();
    format!("user:{}", name.to_lowercase())
}

/// The key a client address's failures are counted under.
pub fn address_key(address: IpAddr) -> String {
    format!("addr:{address}")
}

/// How long a login name's logins are refused after its `failures`-th failure in a row, if at all.
pub fn user_wait(failures: u32) -> Option<Duration> {
    if failures >= USER_LOCKOUT {
        return Some(LOCKOUT);
    }
    let over = failures.checked_sub(USER_FREE)?;
    let doubled = FIRST_WAIT.saturating_mul(1 << over.min(10));
    Some(doubled.min(LONGEST_WAIT))
}

/// How long an address's logins are refused after `failures` in its window, if at all.
pub fn address_wait(failures: u32) -> Option<Duration> {
    (failures >= ADDRESS_LIMIT).then_some(ADDRESS_WINDOW)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_gets_five_tries_then_waits_double_each_time_and_is_locked_out_at_twenty() {
        let waits: Vec<_> = (1..=21)
            .map(|n| user_wait(n).map(|w| w.as_secs() / 60))
            .collect();
        assert_eq!(
            waits,
            [
                None,
                None,
                None,
                None,
                Some(1),
                Some(2),
                Some(4),
                Some(8),
                Some(15),
                Some(15),
                Some(15),
                Some(15),
                Some(15),
                Some(15),
                Some(15),
                Some(15),
                Some(15),
                Some(15),
                Some(15),
                Some(24 * 60),
                Some(24 * 60)
            ]
        );
    }

    #[test]
    fn an_address_is_refused_only_past_its_high_limit() {
        assert_eq!(address_wait(ADDRESS_LIMIT - 1), None);
        assert_eq!(address_wait(ADDRESS_LIMIT), Some(ADDRESS_WINDOW));
        assert_eq!(user_key("Duty.Police-01"), "user:duty.police-01");
        assert_eq!(user_key(&"x".repeat(1_000_000)).len(), 5 + 64);
    }
}
