//! Repair of a freshly built HNSW graph: every link gains its reverse, and
//! each node's list is re-chosen by HNSW's diversity heuristic.
//!
//! hnsw_rs adds a new node to its neighbours' lists and, when a list
//! overflows, drops the farthest entry. On clustered data that evicts
//! exactly the long links the heuristic chose to bridge clusters and leaves
//! nodes that no list points to, so searches stall inside one cluster (on
//! 100,000 clustered vectors a stored vector found itself only 82% of the
//! time). Re-selecting each list from its own links and the links pointing
//! at it, keeping a candidate only when it is closer to the node than to
//! every candidate already kept, restores both the bridges and the way back.

use rayon::prelude::*;

use super::dot;
use super::graph::{beam_search, LayerLists, VisitedSet};
use crate::simd::prefetch;

/// Re-chooses every list of `layer` from its links and their reverses, up
/// to `cap` links each: first the candidates the diversity heuristic keeps,
/// nearest first, then the nearest of those it pruned until the list is
/// full. `vectors` holds the unit vectors of every slot.
pub(crate) fn symmetrise(layer: &mut LayerLists, vectors: &[f32], dim: usize, cap: usize) {
    let position = |slot: u32| -> Option<usize> {
        if layer.members.len() == layer.links.len() && layer.members.first() == Some(&0) {
            // Fast path for layer 0, where members are every slot in order.
            if layer.members.get(slot as usize) == Some(&slot) {
                return Some(slot as usize);
            }
        }
        layer.members.binary_search(&slot).ok()
    };
    let mut incoming: Vec<Vec<u32>> = vec![Vec::new(); layer.members.len()];
    for (i, links) in layer.links.iter().enumerate() {
        for &to in links {
            if let Some(j) = position(to) {
                incoming[j].push(layer.members[i]);
            }
        }
    }
    let vector = |slot: u32| &vectors[slot as usize * dim..(slot as usize + 1) * dim];
    let members = &layer.members;
    let chosen: Vec<Vec<u32>> = layer
        .links
        .par_iter()
        .zip(incoming.par_iter())
        .zip(members.par_iter())
        .map(|((out, inn), &me)| {
            let own = vector(me);
            let mut candidates: Vec<(f32, u32)> = out
                .iter()
                .chain(inn)
                .filter(|&&s| s != me)
                .map(|&s| (dot(own, vector(s)), s))
                .collect();
            // Best (highest similarity) first; duplicates adjacent.
            candidates.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            candidates.dedup_by_key(|c| c.1);
            select_diverse(&candidates, cap, true, vector)
        })
        .collect();
    layer.links = chosen;
}

/// Makes sure each node is linked from at least one of its [`LOCAL`] most
/// similar neighbours: a search that reaches a node's neighbourhood then
/// reaches the node. Lists are in [`symmetrise`]'s order (most similar
/// first); a node no near neighbour links to is added to its nearest one's
/// list (which may grow past its cap). Returns how many links were added.
///
/// This matters where a node's near neighbours are hubs (heavily linked
/// nodes whose lists the heuristic fills with others): without it such a
/// node is linked only from far away.
pub(crate) fn link_back_from_nearest(layer: &mut LayerLists) -> usize {
    let mut added = 0;
    for i in 0..layer.links.len() {
        let me = layer.members[i];
        let near: Vec<u32> = layer.links[i].iter().take(LOCAL).copied().collect();
        let positions: Vec<usize> = near
            .iter()
            .filter_map(|&s| layer.members.binary_search(&s).ok())
            .collect();
        if positions.iter().any(|&p| layer.links[p].contains(&me)) {
            continue;
        }
        if let Some(&p) = positions.first() {
            layer.links[p].push(me);
            added += 1;
        }
    }
    added
}

/// How many of a node's most similar neighbours [`link_back_from_nearest`]
/// checks for a link back.
const LOCAL: usize = 3;

/// Links every node of the bottom layer that cannot be reached from
/// `entry` to the graph: a beam search of width `ef` from `entry` finds the
/// reachable nodes nearest to it, and the best [`BRIDGES`] of them gain a
/// link to it (lists may grow one past their cap this way). Returns how
/// many nodes needed a bridge.
pub(crate) fn connect_unreachable(
    layer: &mut LayerLists,
    vectors: &[f32],
    dim: usize,
    entry: u32,
    ef: usize,
) -> usize {
    let n = layer.links.len();
    let vector = |slot: u32| &vectors[slot as usize * dim..(slot as usize + 1) * dim];
    let mut reached = vec![false; n];
    mark_reachable(layer, entry, &mut reached);
    let mut bridged = 0;
    for node in 0..n as u32 {
        if reached[node as usize] {
            continue;
        }
        let own = vector(node);
        let links = &layer.links;
        let Ok(mut found) = beam_search(
            &mut VisitedSet::new(n),
            &[entry],
            ef,
            |s| dot(own, vector(s)),
            |s| prefetch(vector(s)),
            |s, expand| {
                expand(&links[s as usize]);
                Ok(())
            },
            &|s| s == node,
        ) else {
            continue;
        };
        found.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
        for &(_, from) in found.iter().take(BRIDGES) {
            layer.links[from as usize].push(node);
            if !layer.links[node as usize].contains(&from) {
                layer.links[node as usize].push(from);
            }
        }
        bridged += 1;
        mark_reachable(layer, node, &mut reached);
    }
    bridged
}

/// Links added to reach a node nothing reached.
const BRIDGES: usize = 3;

/// Marks every node reachable from `start` (breadth first).
fn mark_reachable(layer: &LayerLists, start: u32, reached: &mut [bool]) {
    if reached[start as usize] {
        return;
    }
    reached[start as usize] = true;
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(node) = queue.pop_front() {
        for &next in &layer.links[node as usize] {
            if !reached[next as usize] {
                reached[next as usize] = true;
                queue.push_back(next);
            }
        }
    }
}

/// HNSW's neighbour-selection heuristic over `candidates` (similarity to
/// the node, slot), best first: keep a candidate unless some kept one is
/// more similar to it than the node is; then, with `fill`, fill up to `cap`
/// with the best of the rest.
pub(crate) fn select_diverse<'v>(
    candidates: &[(f32, u32)],
    cap: usize,
    fill: bool,
    vector: impl Fn(u32) -> &'v [f32],
) -> Vec<u32> {
    let mut kept: Vec<u32> = Vec::with_capacity(cap);
    let mut pruned: Vec<u32> = Vec::new();
    for &(similarity, slot) in candidates {
        if kept.len() >= cap {
            break;
        }
        let v = vector(slot);
        if kept.iter().all(|&k| dot(v, vector(k)) < similarity) {
            kept.push(slot);
        } else {
            pruned.push(slot);
        }
    }
    if fill {
        let room = cap - kept.len();
        kept.extend(pruned.into_iter().take(room));
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_only_linked_from_afar_gains_a_link_from_its_nearest() {
        // 0 links to 1 and 2 (its nearest); neither links back, only 3
        // does. 3 links to 0, which does not link back either.
        let mut layer = LayerLists {
            members: vec![0, 1, 2, 3],
            links: vec![vec![1, 2], vec![2], vec![1], vec![0]],
        };
        assert_eq!(link_back_from_nearest(&mut layer), 2);
        assert_eq!(layer.links[1], vec![2, 0]);
        assert_eq!(layer.links[0], vec![1, 2, 3]);
        // Once linked back, nothing more is added.
        assert_eq!(link_back_from_nearest(&mut layer), 0);
    }

    #[test]
    fn unreachable_nodes_gain_a_link_from_their_nearest_reachable_ones() {
        // Six points on a circle; 4 and 5 link only to each other and to
        // 3, and nothing links to them.
        let at = |a: f32| [a.cos(), a.sin()];
        let vectors: Vec<f32> = (0..6).flat_map(|i| at(i as f32 * 0.4)).collect();
        let mut layer = LayerLists {
            members: (0..6).collect(),
            links: vec![
                vec![1],
                vec![0, 2],
                vec![1, 3],
                vec![2],
                vec![3, 5],
                vec![4],
            ],
        };
        let bridged = connect_unreachable(&mut layer, &vectors, 2, 0, 10);
        assert_eq!(bridged, 1, "one bridge reaches both 4 and 5");
        let mut reached = vec![false; 6];
        mark_reachable(&layer, 0, &mut reached);
        assert!(reached.iter().all(|&r| r), "{:?}", layer.links);
        // The bridge comes from 4's nearest reachable node, 3.
        assert!(layer.links[3].contains(&4), "{:?}", layer.links);
    }

    #[test]
    fn reverse_links_reach_nodes_nothing_pointed_at() {
        // Four points on a line (as unit vectors on a quarter circle); node
        // 3 links to 2, but no list links to 3.
        let angle = |i: usize| i as f32 * 0.3;
        let vectors: Vec<f32> = (0..4)
            .flat_map(|i| [angle(i).cos(), angle(i).sin()])
            .collect();
        let mut layer = LayerLists {
            members: vec![0, 1, 2, 3],
            links: vec![vec![1], vec![0, 2], vec![1], vec![2]],
        };
        symmetrise(&mut layer, &vectors, 2, 4);
        assert!(layer.links[2].contains(&3), "{:?}", layer.links);
        // Every list is free of self-links and duplicates.
        for (i, links) in layer.links.iter().enumerate() {
            assert!(!links.contains(&(i as u32)));
            let mut sorted = links.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), links.len());
        }
    }

    #[test]
    fn heuristic_keeps_a_far_bridge_over_a_closer_redundant_link() {
        // Node 0 at angle 0; 1 and 2 close together at 0.2 and 0.25; 3 on
        // the other side at -0.5. With room for two links the heuristic
        // keeps 1 (nearest) and 3 (a new direction), not 2 (behind 1).
        let at = |a: f32| [a.cos(), a.sin()];
        let vectors: Vec<f32> = [0.0, 0.2, 0.25, -0.5].iter().flat_map(|&a| at(a)).collect();
        let mut layer = LayerLists {
            members: vec![0, 1, 2, 3],
            links: vec![vec![1, 2, 3], vec![0], vec![0], vec![0]],
        };
        symmetrise(&mut layer, &vectors, 2, 2);
        assert_eq!(layer.links[0], vec![1, 3]);
    }
}
