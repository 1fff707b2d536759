//! Thread-local tables of native objects addressed by integer handles: the data the raw
//! callbacks of `raw_call.rs` are bound to.
//!
//! Why handles instead of pointers: a raw function carries its data as a bare number with
//! no finalizer, so it must never own or point at the object. A handle names a slot and
//! its generation; once the object is closed (explicitly or by its class's finalizer) the
//! slot's generation moves on, and a function still holding the old handle finds nothing
//! and throws `ERR_OPTLAYER_CLOSED` instead of reaching whatever reuses the slot.
//!
//! Why a 32-bit generation and retirement: a generation that wraps makes a stale handle
//! valid again (with 12 bits, after 4,096 reuses of one slot a closed limiter decided
//! against a live one). 32 bits above the 20-bit slot index keep a handle within 52 bits,
//! so it still fits a JavaScript number and the data pointer of a raw function; and a slot
//! whose generation has reached the end is retired instead of reused, so no handle ever
//! comes back, however many objects a thread opens and closes.

use crate::errors::{Code, Failure};

/// A slot index in the low [`SLOT_BITS`] bits, the slot's generation above them.
pub type Handle = u64;

/// Slot index in the low bits of a handle, the slot's generation above them.
const SLOT_BITS: u32 = 20;
const SLOT_MASK: u64 = (1 << SLOT_BITS) - 1;

/// The last generation of a slot: closing its entry retires the slot.
const LAST_GENERATION: u32 = u32::MAX;

// Raw functions carry a handle in their data pointer.
#[cfg(not(target_pointer_width = "64"))]
compile_error!("handles need 52 bits: a raw function's data pointer must be 64 bits wide");

/// Most objects one table holds at once.
pub const MAX_OPEN: u32 = 1 << SLOT_BITS;

/// Objects addressed by handle; each table lives in a `thread_local!`, so a handle is only
/// meaningful on the JavaScript thread that created it.
pub struct HandleTable<T> {
    slots: Vec<(u32, Option<T>)>,
    free: Vec<u32>,
}

impl<T> Default for HandleTable<T> {
    fn default() -> Self {
        HandleTable {
            slots: Vec::new(),
            free: Vec::new(),
        }
    }
}

fn split(handle: Handle) -> (usize, u64) {
    ((handle & SLOT_MASK) as usize, handle >> SLOT_BITS)
}

impl<T> HandleTable<T> {
    /// Stores `entry` and returns its handle, or `None` when [`MAX_OPEN`] slots are taken
    /// (open, or retired).
    pub fn insert(&mut self, entry: T) -> Option<Handle> {
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                let index = u32::try_from(self.slots.len())
                    .ok()
                    .filter(|i| *i < MAX_OPEN)?;
                self.slots.push((0, None));
                index
            }
        };
        let slot = &mut self.slots[index as usize];
        slot.1 = Some(entry);
        Some(Handle::from(slot.0) << SLOT_BITS | Handle::from(index))
    }

    /// The entry of `handle`, unless it was removed.
    #[inline]
    pub fn get(&self, handle: Handle) -> Option<&T> {
        let (index, generation) = split(handle);
        match self.slots.get(index) {
            Some((current, Some(entry))) if u64::from(*current) == generation => Some(entry),
            _ => None,
        }
    }

    /// The entry of `handle` to change, unless it was removed.
    pub fn get_mut(&mut self, handle: Handle) -> Option<&mut T> {
        let (index, generation) = split(handle);
        match self.slots.get_mut(index) {
            Some((current, Some(entry))) if u64::from(*current) == generation => Some(entry),
            _ => None,
        }
    }

    /// Takes the entry of `handle` out; later calls with the handle find nothing.
    pub fn remove(&mut self, handle: Handle) -> Option<T> {
        let (index, generation) = split(handle);
        let slot = self.slots.get_mut(index)?;
        if u64::from(slot.0) != generation {
            return None;
        }
        let entry = slot.1.take()?;
        if slot.0 == LAST_GENERATION {
            // Retired: reusing it would wrap the generation and revive old handles.
            return Some(entry);
        }
        slot.0 += 1;
        self.free.push(index as u32);
        Some(entry)
    }
}

/// The error for a table that is full: `what` names the objects ("rate limiters").
pub fn too_many(what: &str) -> Failure {
    Failure::invalid_argument(format_args!(
        "too many {what} open on this thread (at most {MAX_OPEN})"
    ))
}

/// The error for a handle whose object was closed: `what` names it ("the rate limiter").
pub fn closed(what: &str) -> Failure {
    Failure::new(Code::Closed, format_args!("{what} is closed"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_handle_never_reaches_the_slots_next_entry() {
        let mut table = HandleTable::default();
        let first = table.insert("first").expect("room");
        assert_eq!(table.get(first), Some(&"first"));
        assert_eq!(table.remove(first), Some("first"));
        assert_eq!(table.remove(first), None, "removing twice is a no-op");
        let second = table.insert("second").expect("room");
        assert_eq!(first & SLOT_MASK, second & SLOT_MASK, "the slot is reused");
        assert_eq!(table.get(first), None, "the old handle is stale");
        assert_eq!(table.get(second), Some(&"second"));
        assert_eq!(table.get(u64::MAX), None);
        assert_eq!(table.get(u64::from(u32::MAX)), None);
    }

    /// A 12-bit generation came back to the first handle's after 4,096 reuses.
    #[test]
    fn a_stale_handle_stays_stale_after_many_reuses_of_its_slot() {
        let mut table = HandleTable::default();
        let first = table.insert(0u32).expect("room");
        table.remove(first);
        for n in 1..=10_000u32 {
            let handle = table.insert(n).expect("room");
            assert_eq!(handle & SLOT_MASK, first & SLOT_MASK, "one slot, reused");
            assert_ne!(handle, first);
            assert_eq!(table.get(first), None, "stale after {n} reuses");
            assert_eq!(table.get_mut(first), None);
            assert_eq!(table.remove(first), None);
            assert_eq!(table.get(handle), Some(&n), "the live entry is untouched");
            table.remove(handle);
        }
        let live = table.insert(u32::MAX).expect("room");
        assert_eq!(table.remove(first), None);
        assert_eq!(table.get(live), Some(&u32::MAX));
    }

    #[test]
    fn a_slot_at_its_last_generation_is_retired_instead_of_wrapping() {
        let mut table = HandleTable::default();
        let first = table.insert("first").expect("room");
        table.remove(first);
        // Jump to the end of the slot's generations rather than loop 2^32 times.
        table.slots[0].0 = LAST_GENERATION;
        let last = table.insert("last").expect("room");
        assert_eq!(last >> SLOT_BITS, u64::from(LAST_GENERATION));
        assert!(last < 1 << 53, "a handle fits a JavaScript number exactly");
        assert_eq!(table.remove(last), Some("last"));
        let next = table.insert("next").expect("room");
        assert_ne!(
            next & SLOT_MASK,
            last & SLOT_MASK,
            "the retired slot is not reused"
        );
        assert_eq!(table.get(last), None);
        assert_eq!(table.get(first), None);
        assert_eq!(table.get(next), Some(&"next"));
    }
}
