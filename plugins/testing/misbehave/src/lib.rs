//! A plugin that misbehaves on purpose, chosen by the `mode` setting, so that tests can show the
//! host contains it and commits nothing:
//! `loop` spins forever, `grow` allocates without end, `panic` panics, `storm` calls the host
//! without end, `plan-then-err` plans updates and then returns an error, `chatter` prints far
//! more than the output cap and then plans an update, `slow` sleeps 1.5 s and then plans updates,
//! `plan-and-log` plans updates of every account of the person (and a retry of the action its
//! `retry` setting names), logs that it did and returns, for tests that need to know a plan is
//! made; `remember` counts the events its instance has seen, in a global, and prints the count (1 on
//! every event unless the tenant opted into reusing instances).
//! Without a mode it does nothing.

use provhost_sdk::{
    ActionId, AttributeChanged, Outcome, PersonId, Plugin, actions, log, queries, register_plugin, settings,
};

struct Misbehave;

impl Plugin for Misbehave {
    fn on_attribute_changed(event: &AttributeChanged) -> Result<Outcome, String> {
        let person = PersonId::from(event.person.as_str());
        match settings::get("mode").as_deref() {
            Some("loop") => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            Some("grow") => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            Some("panic") => {
                actions::update_all_accounts(&person, "before the panic").map_err(|e| format!("{e:?}"))?;
                panic!("deliberate panic after planning");
            }
            Some("storm") => loop {
                let _ = queries::get_person(&person);
            },
            Some("plan-then-err") => {
                let planned =
                    actions::update_all_accounts(&person, "planned, then abandoned").map_err(|e| format!("{e:?}"))?;
                Err(format!("changed my mind after planning {} updates", planned.len()))
            }
            Some("slow") => {
                std::thread::sleep(std::time::Duration::from_millis(1500));
                let planned =
                    actions::update_all_accounts(&person, "after a long think").map_err(|e| format!("{e:?}"))?;
                Ok(Outcome::new(format!("slept, then planned {}", planned.len())))
            }
            Some("chatter") => {
                for i in 0..100_000 {
                    println!("line {i} of far too much output");
                }
                let planned = actions::update_all_accounts(&person, "after chatter").map_err(|e| format!("{e:?}"))?;
                Ok(Outcome::new(format!("chattered, then planned {}", planned.len())))
            }
            Some("plan-and-log") => {
                let mut planned =
                    actions::update_all_accounts(&person, "racing another").map_err(|e| format!("{e:?}"))?.len();
                if let Some(failed) = settings::get("retry") {
                    actions::retry_action(&ActionId::from(failed.as_str()), "racing another")
                        .map_err(|e| format!("{e:?}"))?;
                    planned += 1;
                }
                log::write(log::Level::Info, &format!("planned {planned}; returning"));
                Ok(Outcome::new(format!("planned {planned}")))
            }
            Some("remember") => {
                static SEEN: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
                let mut seen = SEEN.lock().unwrap_or_else(|p| p.into_inner());
                seen.push(event.person.clone());
                println!("event {} of this instance", seen.len());
                Ok(Outcome::new(format!("events seen by this instance: {}", seen.len())))
            }
            Some(other) => Err(format!("unknown mode '{other}'")),
            None => Ok(Outcome::new("no mode set; did nothing")),
        }
    }
}

register_plugin!(Misbehave);
