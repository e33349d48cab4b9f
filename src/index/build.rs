//! relate's own HNSW construction: every vector is inserted in parallel as
//! in the HNSW paper (a greedy descent through the upper layers, a beam of
//! `ef_construction` candidates on each of the node's layers, the diversity
//! heuristic to choose its links, and the same heuristic to re-choose a
//! neighbour's list when the new link overflows it), over lists that each
//! sit behind their node's own lock.
//!
//! Levels are drawn up front from a fixed seed, and the node with the
//! highest level is inserted first, so the entry point never changes while
//! the others go in and no insertion waits on a global lock.

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Mutex;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

use super::dot;
use super::graph::{beam_search, LayerLists, VisitedSet};
use super::repair::select_diverse;
use crate::simd::prefetch;

/// Seed of the level draw: the same vectors always get the same levels.
const LEVEL_SEED: u64 = 42;

/// How many insertions pass between two calls of the progress callback.
const PROGRESS_EVERY: usize = 10_000;

/// Builds the layers of an HNSW graph over `vectors` (unit vectors of
/// dimension `dim`, at least one) with `max_connections` (M) links per node
/// on the upper layers and twice that on the bottom one, choosing links
/// from `ef_construction` candidates. `progress(done, total)` is called
/// every few thousand insertions. Returns the layers (layer 0 with every
/// slot) and the entry slot.
pub(crate) fn build_layers(
    vectors: &[f32],
    dim: usize,
    max_connections: usize,
    ef_construction: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> (Vec<LayerLists>, u32) {
    let n = vectors.len() / dim;
    // Inserting reads vectors all over the set; backed by huge pages, those
    // reads miss the address translation caches far less often.
    let copy = huge_page_copy(vectors);
    let vectors: &[f32] = copy
        .as_ref()
        .and_then(|map| bytemuck::try_cast_slice(&map[..]).ok())
        .unwrap_or(vectors);
    let levels = draw_levels(n, max_connections, LEVEL_SEED);
    // The first slot among those of the highest level.
    let entry = (0..n)
        .max_by_key(|&s| (levels[s], std::cmp::Reverse(s)))
        .unwrap_or(0);
    let top = levels[entry] as usize;
    let builder = Builder {
        vectors,
        dim,
        bottom: BottomLists::new(n, 2 * max_connections),
        upper: levels
            .iter()
            .map(|&l| Mutex::new(vec![Vec::new(); l as usize]))
            .collect(),
        entry: entry as u32,
        top,
        ef: ef_construction.max(1),
        max_connections,
    };
    let slots: Vec<u32> = (0..n as u32).filter(|&s| s as usize != entry).collect();
    builder.insert_all(&slots, &levels, progress);
    (builder.into_layers(), entry as u32)
}

/// Brings the layers of a graph built over the first
/// `layers[0].members.len()` of `vectors` up to date with all of them: the
/// slots past that end are inserted (their levels drawn as in
/// [`build_layers`], but never above the graph's top layer, so the entry
/// point stays), and the slots in `changed`, whose vectors were replaced,
/// are inserted again: their links are chosen anew from a search, while
/// the links other nodes hold to them stay. `progress(inserted, total)`
/// counts the insertions. `graph` is the layers and entry slot of a graph
/// built with `max_connections`, as [`build_layers`] returns them.
pub(crate) fn extend_layers(
    vectors: &[f32],
    dim: usize,
    max_connections: usize,
    ef_construction: usize,
    graph: (Vec<LayerLists>, u32),
    changed: &[u32],
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Vec<LayerLists> {
    let (layers, entry) = graph;
    let n = vectors.len() / dim;
    let old = layers.first().map_or(0, |l| l.members.len()).min(n);
    let top = layers.len().saturating_sub(1);
    // Levels of the nodes already there, from their layers; new ones drawn
    // from a seed of their own, so that a library grown in several steps
    // does not repeat the levels of the first slots.
    let mut levels = draw_levels(n - old, max_connections, LEVEL_SEED ^ old as u64);
    levels.iter_mut().for_each(|l| *l = (*l).min(top as u8));
    let mut levels: Vec<u8> = std::iter::repeat_n(0, old).chain(levels).collect();
    let mut upper: Vec<Vec<Vec<u32>>> = levels
        .iter()
        .map(|&l| vec![Vec::new(); l as usize])
        .collect();
    let mut layers = layers.into_iter();
    let bottom = layers.next().unwrap_or_default();
    for (l, layer) in layers.enumerate() {
        for (&member, links) in layer.members.iter().zip(layer.links) {
            let Some(lists) = upper
                .get_mut(member as usize)
                .filter(|_| (member as usize) < old)
            else {
                continue;
            };
            levels[member as usize] = l as u8 + 1;
            lists.resize(l + 1, Vec::new());
            lists[l] = links;
        }
    }
    // Lists built by hnsw_rs, or bridged by the repair, may be longer
    // than the cap; the blocks hold them whole.
    let longest = bottom.links.iter().map(Vec::len).max().unwrap_or(0);
    let builder = Builder {
        vectors,
        dim,
        bottom: BottomLists::new(n, longest.max(2 * max_connections)),
        upper: upper.into_iter().map(Mutex::new).collect(),
        entry,
        top,
        ef: ef_construction.max(1),
        max_connections,
    };
    for (slot, links) in bottom.links.into_iter().enumerate().take(old) {
        builder.bottom.update(slot as u32, |list| *list = links);
    }
    let mut slots: Vec<u32> = changed
        .iter()
        .copied()
        .filter(|&s| (s as usize) < old && s != entry)
        .chain(old as u32..n as u32)
        .collect();
    slots.sort_unstable();
    slots.dedup();
    builder.insert_all(&slots, &levels, progress);
    builder.into_layers()
}

/// Size from which the vectors are copied into huge pages for the build.
const HUGE_PAGE_COPY_FROM: usize = 64 << 20;

/// A copy of `vectors` in anonymous memory the kernel is asked to back with
/// huge pages, when they are large enough to gain and the system allows it.
fn huge_page_copy(vectors: &[f32]) -> Option<memmap2::MmapMut> {
    let bytes: &[u8] = bytemuck::cast_slice(vectors);
    if bytes.len() < HUGE_PAGE_COPY_FROM || !cfg!(target_os = "linux") {
        return None;
    }
    let mut map = memmap2::MmapMut::map_anon(bytes.len()).ok()?;
    #[cfg(target_os = "linux")]
    map.advise(memmap2::Advice::HugePage).ok()?;
    map.copy_from_slice(bytes);
    Some(map)
}

/// Each node's level: `floor(-ln(u) / ln(M))` for uniform `u`, so a level
/// holds about 1/M of the nodes of the one below.
fn draw_levels(n: usize, max_connections: usize, seed: u64) -> Vec<u8> {
    let scale = 1.0 / (max_connections.max(2) as f64).ln();
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let u: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
            (-u.ln() * scale).floor().min(u8::MAX as f64 - 1.0) as u8
        })
        .collect()
}

/// The graph while it is built. Bottom-layer lists lie in one flat array
/// of atomic words, a block per node (its count, then its links), so that
/// reading a list is one or two cache lines and no pointer chase; writers
/// take the node's lock bit in the count word, readers take no lock (they
/// may see a list half rewritten, which only changes which valid nodes the
/// search tries). Upper-layer lists, on about one node in M, sit behind a
/// lock per node.
struct Builder<'v> {
    vectors: &'v [f32],
    dim: usize,
    bottom: BottomLists,
    upper: Vec<Mutex<Vec<Vec<u32>>>>,
    entry: u32,
    top: usize,
    ef: usize,
    /// Most links an upper-layer list keeps (twice as many on layer 0).
    max_connections: usize,
}

impl Builder<'_> {
    fn vector(&self, slot: u32) -> &[f32] {
        let at = slot as usize * self.dim;
        &self.vectors[at..at + self.dim]
    }

    /// Copies `slot`'s links on `layer` into `out`.
    fn read_links(&self, slot: u32, layer: usize, out: &mut Vec<u32>) {
        out.clear();
        if layer == 0 {
            self.bottom.read(slot, out);
        } else {
            let lists = self.upper[slot as usize]
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if let Some(list) = lists.get(layer - 1) {
                out.extend_from_slice(list);
            }
        }
    }

    /// Replaces `slot`'s links on `layer` by what `update` makes of them
    /// (given the current ones), under the node's lock.
    fn update_links(&self, slot: u32, layer: usize, update: impl FnOnce(&mut Vec<u32>)) {
        if layer == 0 {
            self.bottom.update(slot, update);
        } else {
            let mut lists = self.upper[slot as usize]
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if let Some(list) = lists.get_mut(layer - 1) {
                update(list);
            }
        }
    }

    fn cap(&self, layer: usize) -> usize {
        if layer == 0 {
            2 * self.max_connections
        } else {
            self.max_connections
        }
    }

    /// Inserts `slots` in parallel (`levels[s]` is the level of slot `s`),
    /// calling `progress` every [`PROGRESS_EVERY`] insertions and at the end.
    fn insert_all(&self, slots: &[u32], levels: &[u8], progress: &(dyn Fn(usize, usize) + Sync)) {
        let n = self.vectors.len() / self.dim;
        let done = AtomicUsize::new(0);
        slots.par_iter().for_each_init(
            || VisitedSet::new(n),
            |visited, &slot| {
                self.insert(slot, levels[slot as usize] as usize, visited);
                let count = done.fetch_add(1, Ordering::Relaxed) + 1;
                if count.is_multiple_of(PROGRESS_EVERY) {
                    progress(count, slots.len());
                }
            },
        );
        progress(slots.len(), slots.len());
    }

    /// The layers once every insertion is over (layer 0 with every slot).
    fn into_layers(self) -> Vec<LayerLists> {
        let n = self.upper.len();
        let mut layers: Vec<LayerLists> = (0..=self.top).map(|_| LayerLists::default()).collect();
        layers[0] = LayerLists {
            members: (0..n as u32).collect(),
            links: self.bottom.into_lists(),
        };
        for (slot, node) in self.upper.into_iter().enumerate() {
            let node = node.into_inner().unwrap_or_else(|e| e.into_inner());
            for (l, links) in node.into_iter().enumerate() {
                layers[l + 1].members.push(slot as u32);
                layers[l + 1].links.push(links);
            }
        }
        layers
    }

    /// Inserts `slot`, whose level is `level`.
    fn insert(&self, slot: u32, level: usize, visited: &mut VisitedSet) {
        let own = self.vector(slot);
        let score = |s: u32| dot(own, self.vector(s));
        let fetch = |s: u32| prefetch(self.vector(s));
        let mut buffer = Vec::with_capacity(self.cap(0));
        // Greedy descent through the layers above the node's own.
        let mut entry = self.entry;
        let mut entry_score = score(entry);
        for layer in (level + 1..=self.top).rev() {
            loop {
                let mut best = (entry_score, entry);
                self.read_links(entry, layer, &mut buffer);
                for &next in &buffer {
                    let s = score(next);
                    if s > best.0 {
                        best = (s, next);
                    }
                }
                if best.1 == entry {
                    break;
                }
                (entry_score, entry) = best;
            }
        }
        let mut entries = vec![entry];
        for layer in (0..=level.min(self.top)).rev() {
            visited.clear();
            let Ok(mut found) = beam_search(
                visited,
                &entries,
                self.ef,
                score,
                fetch,
                |s, expand| {
                    self.read_links(s, layer, &mut buffer);
                    expand(&buffer);
                    Ok(())
                },
                &|s| s == slot,
            ) else {
                // The build's lists never fail to lend; keep the node
                // linked to where the descent reached.
                continue;
            };
            found.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            let chosen = select_diverse(&found, self.max_connections, false, |s| self.vector(s));
            self.update_links(slot, layer, |list| list.clone_from(&chosen));
            for &neighbour in &chosen {
                self.link(neighbour, slot, layer);
            }
            entries = found.into_iter().map(|(_, s)| s).collect();
        }
    }

    /// Adds `slot` to `neighbour`'s list on `layer`; a full list is
    /// re-chosen by the diversity heuristic from its links and `slot`.
    fn link(&self, neighbour: u32, slot: u32, layer: usize) {
        let cap = self.cap(layer);
        self.update_links(neighbour, layer, |list| {
            if list.contains(&slot) {
                return;
            }
            if list.len() < cap {
                list.push(slot);
                return;
            }
            let own = self.vector(neighbour);
            let mut candidates: Vec<(f32, u32)> = list
                .iter()
                .chain(std::iter::once(&slot))
                .map(|&s| (dot(own, self.vector(s)), s))
                .collect();
            candidates.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            *list = select_diverse(&candidates, cap, false, |s| self.vector(s));
        });
    }
}

/// Bottom-layer lists, a block of `1 + cap` words per node: the count (its
/// top bit the writers' lock), then the links.
struct BottomLists {
    words: Vec<AtomicU32>,
    cap: usize,
}

const LOCKED: u32 = 1 << 31;

impl BottomLists {
    fn new(nodes: usize, cap: usize) -> Self {
        BottomLists {
            words: (0..nodes * (cap + 1)).map(|_| AtomicU32::new(0)).collect(),
            cap,
        }
    }

    fn block(&self, slot: u32) -> &[AtomicU32] {
        let at = slot as usize * (self.cap + 1);
        &self.words[at..at + self.cap + 1]
    }

    /// Appends the node's links to `out`, without waiting for a writer.
    fn read(&self, slot: u32, out: &mut Vec<u32>) {
        let block = self.block(slot);
        let count = ((block[0].load(Ordering::Acquire) & !LOCKED) as usize).min(self.cap);
        out.extend(block[1..=count].iter().map(|w| w.load(Ordering::Relaxed)));
    }

    /// Runs `update` on a copy of the node's links under its lock, then
    /// stores the result (at most `cap` links are kept).
    fn update(&self, slot: u32, update: impl FnOnce(&mut Vec<u32>)) {
        let block = self.block(slot);
        let mut count = block[0].load(Ordering::Relaxed);
        loop {
            if count & LOCKED != 0 {
                std::hint::spin_loop();
                count = block[0].load(Ordering::Relaxed);
                continue;
            }
            match block[0].compare_exchange_weak(
                count,
                count | LOCKED,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => count = now,
            }
        }
        let mut list: Vec<u32> = block[1..=count as usize]
            .iter()
            .map(|w| w.load(Ordering::Relaxed))
            .collect();
        update(&mut list);
        list.truncate(self.cap);
        for (word, &link) in block[1..].iter().zip(&list) {
            word.store(link, Ordering::Relaxed);
        }
        block[0].store(list.len() as u32, Ordering::Release);
    }

    /// The node's links once building is over.
    fn into_lists(self) -> Vec<Vec<u32>> {
        let stride = self.cap + 1;
        self.words
            .chunks_exact(stride)
            .map(|block| {
                let count = (block[0].load(Ordering::Relaxed) & !LOCKED) as usize;
                block[1..=count.min(self.cap)]
                    .iter()
                    .map(|w| w.load(Ordering::Relaxed))
                    .collect()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::clustered_unit_vectors;

    #[test]
    fn levels_thin_out_by_about_m() {
        let levels = draw_levels(100_000, 16, LEVEL_SEED);
        let above = |l: u8| levels.iter().filter(|&&x| x >= l).count() as f64;
        let ratio = above(0) / above(1);
        assert!((12.0..20.0).contains(&ratio), "ratio {ratio}");
        assert_eq!(levels, draw_levels(100_000, 16, LEVEL_SEED));
    }

    #[test]
    fn every_list_is_within_its_cap_and_free_of_self_links() {
        let dim = 16;
        let vectors = clustered_unit_vectors(3000, dim, 10, 0.5, 7);
        let (layers, entry) = build_layers(&vectors, dim, 6, 40, &|_, _| {});
        assert_eq!(layers[0].members.len(), 3000);
        assert!(layers.last().unwrap().members.contains(&entry));
        for (l, layer) in layers.iter().enumerate() {
            let cap = if l == 0 { 12 } else { 6 };
            for (i, links) in layer.links.iter().enumerate() {
                assert!(links.len() <= cap, "layer {l} node {i}: {}", links.len());
                assert!(!links.contains(&layer.members[i]));
                // Upper-layer links stay on the layer.
                for s in links {
                    assert!(layer.members.binary_search(s).is_ok());
                }
            }
            if l > 0 {
                assert!(layer.members.len() < layers[l - 1].members.len());
            }
        }
        // Every node but the first got links of its own.
        let empty = layers[0].links.iter().filter(|l| l.is_empty()).count();
        assert_eq!(empty, 0);
    }
}
