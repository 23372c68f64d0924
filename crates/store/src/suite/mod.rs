//! The store's behaviour, written against the [`Store`] interface alone, so that every
//! implementation runs the same cases: `store_suite!(expression making a fresh store)` in an
//! implementation's tests instantiates each case as a `#[test]`.

pub mod actions;
pub mod approvals;
pub mod audit;
pub mod claims;
pub mod deliveries;
pub mod demo;
pub mod events;
pub mod keys;
pub mod sessions;

use crate::Store;

/// Makes a fresh, empty store of the implementation under test.
pub type Make<'a> = &'a dyn Fn() -> Box<dyn Store>;

/// Instantiates every case of the suite as a test, each given `$make` to make fresh stores with:
/// `provhost_store::store_suite!(MyStore::fresh());` in an implementation's tests. With
/// `optional:`, `$make` gives an `Option`: `None` (said loudly by `$make`) skips the case, for a
/// store that needs a server the environment may not name.
#[macro_export]
macro_rules! store_suite {
    (optional: $make:expr) => {
        $crate::store_suite!(@list (optional) $make);
    };
    ($make:expr) => {
        $crate::store_suite!(@list () $make);
    };
    (@list ($($optional:ident)?) $make:expr) => {
        $crate::store_suite!(@cases ($($optional)?) $make;
            actions::filters_select_the_same_actions_with_or_without_the_others,
            actions::actions_are_filtered_by_plugin_kind_and_time,
            approvals::an_approval_cannot_push_a_window_past_its_maximum_and_a_refusal_is_recorded,
            approvals::a_window_used_up_by_approvals_of_old_blocked_actions_refuses_the_next_commit,
            approvals::blocked_actions_are_counted_by_system_and_kind_with_the_latest_threshold,
            approvals::under_four_eyes_the_key_that_caused_the_block_cannot_approve_it_and_another_can,
            audit::an_archive_imported_from_a_later_record_starts_there,
            audit::an_invocation_record_is_found_by_its_invocation_in_its_tenant_only,
            audit::a_plugins_outcomes_are_counted_by_hour_in_its_tenant_only,
            audit::a_checkpoint_is_one_record_in_its_chain_and_the_last_one_is_found,
            audit::a_checkpoint_the_chain_does_not_hold_is_not_recorded,
            audit::headlines_are_a_range_of_the_chain_without_details,
            claims::a_claim_is_held_until_its_lease_passes_and_then_taken_up_again_with_the_attempt_recorded,
            claims::a_stale_claim_of_the_same_owner_cannot_end_or_renew_the_action,
            claims::a_waiting_action_is_followed_up_when_due_without_a_record_until_it_ends,
            claims::a_tenant_is_due_while_an_action_is_pending_or_its_lease_or_follow_up_passed,
            deliveries::two_senders_never_claim_the_same_delivery,
            deliveries::an_expired_delivery_claim_is_taken_up_again_and_its_late_try_is_refused,
            demo::demo_tenant_has_persons_with_accounts_entitlements_and_a_failed_action,
            events::an_event_is_kept_in_its_invocations_commit_or_not_at_all,
            events::kept_events_hold_their_bounds_dropping_the_oldest_first,
            events::kept_events_are_read_per_tenant_and_plugin_in_pages_and_ranges,
            events::old_kept_events_are_purged_and_a_replay_is_one_audit_record,
            events::paging_after_the_last_seq_reads_each_kept_event_once_while_the_oldest_go,
            keys::a_created_key_verifies_and_lists_without_its_secret,
            keys::revoked_and_expired_keys_are_refused,
            keys::keys_need_an_existing_tenant,
            sessions::a_session_names_its_key_until_it_is_closed,
            sessions::an_expired_session_is_not_found_and_is_forgotten_when_another_opens,
        );
    };
    (@cases () $make:expr; $($module:ident :: $case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                $crate::suite::$module::$case(&|| -> Box<dyn $crate::Store> { Box::new($make) });
            }
        )*
    };
    (@cases (optional) $make:expr; $($module:ident :: $case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                let Some(first) = $make else { return };
                let first = std::cell::Cell::new(Some(first));
                $crate::suite::$module::$case(&|| -> Box<dyn $crate::Store> {
                    Box::new(first.take().unwrap_or_else(|| $make.expect("the store made once is made again")))
                });
            }
        )*
    };
}
