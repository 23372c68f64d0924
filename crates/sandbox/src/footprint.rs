//! What one instance of a component takes from the engine's pool: core module instances, linear
//! memories and tables, counted over every module it instantiates, nested components included,
//! the way wasmtime's pooling allocator counts them. Read from the bytes before anything is
//! compiled, so a component that would hold a tenant's share of the pool is refused at load.
//! Where a count cannot be read from here (a module handed into a nested component and
//! instantiated there), the engine's own per-component caps still refuse the component when it is
//! compiled, with wasmtime's message naming the count.

use std::fmt;

use serde::Serialize;
use wasmparser::{
    ComponentAlias, ComponentExternalKind, ComponentInstance, ComponentOuterAliasKind, ComponentTypeRef, Encoding,
    Instance, Parser, Payload,
};

/// Pool slots one instance of a component holds while it lives (or, added up, what several
/// hold, or what a pool or a share of it holds).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Footprint {
    /// Component instances.
    pub instances: u32,
    /// Core module instances.
    pub core_instances: u32,
    /// Linear memories the instantiated modules define (imported ones are counted where defined).
    pub memories: u32,
    /// Tables the instantiated modules define.
    pub tables: u32,
}

impl Footprint {
    /// What one instance of a core module defining `memories` and `tables` holds.
    fn module(memories: u32, tables: u32) -> Self {
        Self { instances: 0, core_instances: 1, memories, tables }
    }

    /// Adds what `other` holds.
    pub fn add(&mut self, other: Footprint) {
        self.instances = self.instances.saturating_add(other.instances);
        self.core_instances = self.core_instances.saturating_add(other.core_instances);
        self.memories = self.memories.saturating_add(other.memories);
        self.tables = self.tables.saturating_add(other.tables);
    }

    /// Takes away what `other` holds.
    pub fn remove(&mut self, other: Footprint) {
        self.instances = self.instances.saturating_sub(other.instances);
        self.core_instances = self.core_instances.saturating_sub(other.core_instances);
        self.memories = self.memories.saturating_sub(other.memories);
        self.tables = self.tables.saturating_sub(other.tables);
    }

    /// The first count above `cap`'s (the scarcest slots first), named, with both numbers.
    pub fn over(&self, cap: &Footprint) -> Option<(&'static str, u32, u32)> {
        [
            ("linear memories", self.memories, cap.memories),
            ("tables", self.tables, cap.tables),
            ("core module instances", self.core_instances, cap.core_instances),
            ("component instances", self.instances, cap.instances),
        ]
        .into_iter()
        .find(|(_, count, max)| count > max)
    }

    /// Whether every count fits within `room`'s.
    pub fn fits(&self, room: &Footprint) -> bool {
        self.over(room).is_none()
    }
}

impl fmt::Display for Footprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} component instances, {} core instances, {} memories, {} tables",
            self.instances, self.core_instances, self.memories, self.tables
        )
    }
}

/// One module or component being read, with its index spaces as far as they matter here.
enum Frame {
    Module { memories: u32, tables: u32 },
    Component(Spaces),
}

/// A component's module and component index spaces (what one instance of each holds), and what
/// its own instantiations hold so far.
#[derive(Default)]
struct Spaces {
    modules: Vec<Footprint>,
    components: Vec<Footprint>,
    total: Footprint,
}

/// An item of a space that cannot be known from here (imported, or aliased from an instance's
/// exports): a module counts as one core instance; a component as nothing.
const UNKNOWN_MODULE: Footprint = Footprint { instances: 0, core_instances: 1, memories: 0, tables: 0 };

/// What one instance of the component in `bytes` holds from the pool: one component instance,
/// and every core instance, memory and table it creates.
pub fn footprint(bytes: &[u8]) -> Result<Footprint, wasmparser::BinaryReaderError> {
    let mut stack: Vec<Frame> = Vec::new();
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload?;
        if let Payload::Version { encoding, .. } = &payload {
            stack.push(match encoding {
                Encoding::Module => Frame::Module { memories: 0, tables: 0 },
                Encoding::Component => Frame::Component(Spaces::default()),
            });
            continue;
        }
        if let Payload::End(_) = payload {
            let (held, is_module) = match stack.pop().expect("every end follows a version") {
                Frame::Module { memories, tables } => (Footprint::module(memories, tables), true),
                Frame::Component(spaces) => (spaces.total, false),
            };
            match stack.last_mut() {
                Some(Frame::Component(parent)) if is_module => parent.modules.push(held),
                Some(Frame::Component(parent)) => parent.components.push(held),
                Some(Frame::Module { .. }) => {}
                None => return Ok(Footprint { instances: 1, ..held }),
            }
            continue;
        }
        read(&mut stack, payload)?;
    }
    Ok(Footprint::default())
}

/// Counts what one section adds to the frame being read.
fn read(stack: &mut [Frame], payload: Payload<'_>) -> Result<(), wasmparser::BinaryReaderError> {
    let depth = stack.len();
    let (outer, current) = stack.split_at_mut(depth - 1);
    let spaces = match &mut current[0] {
        Frame::Module { memories, tables } => {
            match payload {
                Payload::MemorySection(section) => *memories = memories.saturating_add(section.count()),
                Payload::TableSection(section) => *tables = tables.saturating_add(section.count()),
                _ => {}
            }
            return Ok(());
        }
        Frame::Component(spaces) => spaces,
    };
    match payload {
        Payload::InstanceSection(section) => {
            for instance in section {
                if let Instance::Instantiate { module_index, .. } = instance? {
                    let held = spaces.modules.get(module_index as usize).copied().unwrap_or(UNKNOWN_MODULE);
                    spaces.total.add(held);
                }
            }
        }
        Payload::ComponentInstanceSection(section) => {
            for instance in section {
                if let ComponentInstance::Instantiate { component_index, .. } = instance? {
                    let held = spaces.components.get(component_index as usize).copied().unwrap_or_default();
                    spaces.total.add(held);
                }
            }
        }
        Payload::ComponentImportSection(section) => {
            for import in section {
                match import?.ty {
                    ComponentTypeRef::Module(_) => spaces.modules.push(UNKNOWN_MODULE),
                    ComponentTypeRef::Component(_) => spaces.components.push(Footprint::default()),
                    _ => {}
                }
            }
        }
        Payload::ComponentExportSection(section) => {
            for export in section {
                let export = export?;
                let index = export.index as usize;
                match export.kind {
                    ComponentExternalKind::Module => {
                        spaces.modules.push(spaces.modules.get(index).copied().unwrap_or(UNKNOWN_MODULE))
                    }
                    ComponentExternalKind::Component => {
                        spaces.components.push(spaces.components.get(index).copied().unwrap_or_default())
                    }
                    _ => {}
                }
            }
        }
        Payload::ComponentAliasSection(section) => {
            for alias in section {
                match alias? {
                    ComponentAlias::InstanceExport { kind: ComponentExternalKind::Module, .. } => {
                        spaces.modules.push(UNKNOWN_MODULE)
                    }
                    ComponentAlias::InstanceExport { kind: ComponentExternalKind::Component, .. } => {
                        spaces.components.push(Footprint::default())
                    }
                    ComponentAlias::Outer { kind, count, index } => {
                        let index = index as usize;
                        let from = match count {
                            0 => Some(&*spaces),
                            up => enclosing(outer, up),
                        };
                        match kind {
                            ComponentOuterAliasKind::CoreModule => {
                                let held = from.and_then(|s| s.modules.get(index).copied());
                                spaces.modules.push(held.unwrap_or(UNKNOWN_MODULE));
                            }
                            ComponentOuterAliasKind::Component => {
                                let held = from.and_then(|s| s.components.get(index).copied());
                                spaces.components.push(held.unwrap_or_default());
                            }
                            _ => {}
                        }
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// The component `up` levels out from the one being read (1: its parent), if there is one.
fn enclosing(outer: &[Frame], up: u32) -> Option<&Spaces> {
    match outer.get(outer.len().checked_sub(up as usize)?)? {
        Frame::Component(spaces) => Some(spaces),
        Frame::Module { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(wat: &str) -> Footprint {
        footprint(&wat::parse_str(wat).unwrap()).unwrap()
    }

    #[test]
    fn each_instantiation_counts_what_its_module_defines() {
        let held = of(r#"(component
            (core module $m (memory 0) (table 1 funcref))
            (core module $bare)
            (core instance (instantiate $m))
            (core instance (instantiate $m))
            (core instance (instantiate $bare)))"#);
        assert_eq!(held, Footprint { instances: 1, core_instances: 3, memories: 2, tables: 2 });
    }

    #[test]
    fn a_nested_component_counts_once_per_instantiation_and_outer_aliases_follow_their_module() {
        let held = of(r#"(component
            (core module $m (memory 0))
            (component $inner
                (alias outer 1 $m (core module $outer))
                (core instance (instantiate $outer))
                (core instance (instantiate $outer)))
            (instance (instantiate $inner))
            (instance (instantiate $inner))
            (instance (instantiate $inner)))"#);
        assert_eq!(held, Footprint { instances: 1, core_instances: 6, memories: 6, tables: 0 });
    }

    #[test]
    fn a_module_defined_but_never_instantiated_holds_nothing() {
        assert_eq!(of("(component (core module (memory 1)))"), Footprint { instances: 1, ..Footprint::default() });
    }

    #[test]
    fn the_first_count_over_a_cap_is_named() {
        let cap = Footprint { instances: 1, core_instances: 10, memories: 2, tables: 4 };
        let hoarder = Footprint { instances: 1, core_instances: 3, memories: 300, tables: 0 };
        assert_eq!(hoarder.over(&cap), Some(("linear memories", 300, 2)));
        assert!(cap.fits(&cap));
    }
}
