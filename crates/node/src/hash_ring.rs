//! The consistent-hash ring of `optlayer-cache`.

use napi::bindgen_prelude::*;
use napi_derive::napi;
use optlayer_cache::HashRing;

use crate::errors::Failure;

/// A consistent-hash ring of weighted nodes (XXH64, so every process places keys alike):
/// adding or removing a node moves only the keys it gains or loses.
#[napi]
pub struct NativeHashRing {
    ring: HashRing,
}

#[napi]
impl NativeHashRing {
    /// An empty ring with `vnodes` points per unit of weight.
    #[napi(constructor, catch_unwind)]
    pub fn new(env: Env, vnodes: u32) -> Result<Self> {
        let ring = HashRing::new(vnodes).map_err(|e| Failure::from(e).into_napi(&env))?;
        Ok(NativeHashRing { ring })
    }

    /// Adds `node` (or changes its weight).
    #[napi(catch_unwind)]
    pub fn add(&mut self, env: Env, node: String, weight: u32) -> Result<()> {
        self.ring
            .add(&node, weight)
            .map_err(|e| Failure::from(e).into_napi(&env))
    }

    /// Removes `node`; returns whether it was there.
    #[napi(catch_unwind)]
    pub fn remove(&mut self, node: String) -> bool {
        self.ring.remove(&node)
    }

    /// The node owning `key`, or null on an empty ring.
    #[napi(catch_unwind)]
    pub fn node_for(&self, key: String) -> Option<String> {
        self.ring.node_for(key.as_bytes()).map(str::to_owned)
    }

    /// Up to `count` distinct nodes for `key`, owner first: where replicas go.
    #[napi(catch_unwind)]
    pub fn nodes_for(&self, key: String, count: u32) -> Vec<String> {
        self.ring
            .nodes_for(key.as_bytes())
            .take(count as usize)
            .map(str::to_owned)
            .collect()
    }

    /// Nodes on the ring.
    #[napi(getter, catch_unwind)]
    pub fn size(&self) -> u32 {
        self.ring.len() as u32
    }
}
