//! Each tenant's share of the engine's instance pool: the component instances, core instances,
//! memories and tables its live instances (running or warm) hold together, so that no tenant can
//! take the slots every other tenant's events need.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::engine::POOL;
use super::footprint::Footprint;

/// The pool slots each tenant's live instances hold, against each tenant's share.
pub struct PoolShare {
    share: Footprint,
    held: Mutex<HashMap<String, Footprint>>,
}

impl PoolShare {
    /// Shares of `percent` of each of the pool's totals, but never less than one instance of the
    /// largest component provhost loads needs, so that every loadable plugin can run.
    pub fn new(percent: u8) -> Self {
        let part =
            |total: u32, least: u32| (u64::from(total) * u64::from(percent.min(100)) / 100).max(u64::from(least));
        let least = super::engine::PER_COMPONENT;
        let share = Footprint {
            instances: part(POOL.instances, least.instances) as u32,
            core_instances: part(POOL.core_instances, least.core_instances) as u32,
            memories: part(POOL.memories, least.memories) as u32,
            tables: part(POOL.tables, least.tables) as u32,
        };
        Self { share, held: Mutex::new(HashMap::new()) }
    }

    /// What each tenant may hold.
    pub fn share(&self) -> Footprint {
        self.share
    }

    /// Takes `need` for one instance of `tenant`'s, if the tenant's share has room for it;
    /// otherwise what the tenant holds now.
    pub fn take(self: &Arc<Self>, tenant: &str, need: Footprint) -> Result<Slots, Footprint> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let now = held.get(tenant).copied().unwrap_or_default();
        let mut after = now;
        after.add(need);
        if !after.fits(&self.share) {
            return Err(now);
        }
        held.insert(tenant.to_owned(), after);
        Ok(Slots { share: self.clone(), tenant: tenant.to_owned(), held: need })
    }

    fn give_back(&self, tenant: &str, slots: Footprint) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(now) = held.get_mut(tenant) {
            now.remove(slots);
            if *now == Footprint::default() {
                held.remove(tenant);
            }
        }
    }
}

/// The slots one live instance holds of its tenant's share; given back when dropped, with the
/// instance.
pub struct Slots {
    share: Arc<PoolShare>,
    tenant: String,
    held: Footprint,
}

impl Drop for Slots {
    fn drop(&mut self) {
        self.share.give_back(&self.tenant, self.held);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_takes_up_to_its_share_and_gets_it_back_as_its_instances_end() {
        let share = Arc::new(PoolShare::new(1));
        assert_eq!(share.share().instances, 2, "1 % of 256 component instances");
        assert_eq!(share.share().core_instances, 32, "never less than one instance of the largest component needs");
        let one = Footprint { instances: 1, core_instances: 3, memories: 1, tables: 2 };
        let first = share.take("a", one).unwrap();
        let _second = share.take("a", one).unwrap();
        assert_eq!(
            share.take("a", one).err(),
            Some(Footprint { instances: 2, core_instances: 6, memories: 2, tables: 4 })
        );
        let _other = share.take("b", one).expect("another tenant has a share of its own");
        drop(first);
        let _again = share.take("a", one).expect("an ended instance gave its slots back");
    }

    #[test]
    fn memories_count_against_the_share_as_instances_do() {
        let share = Arc::new(PoolShare::new(25));
        let hoarder = Footprint { instances: 1, core_instances: 4, memories: 4, tables: 0 };
        let held: Vec<Slots> = (0..32).map(|_| share.take("a", hoarder).unwrap()).collect();
        assert_eq!(share.take("a", hoarder).err().map(|f| f.memories), Some(128), "25 % of 512 memories");
        drop(held);
        assert!(share.take("a", hoarder).is_ok());
    }
}
