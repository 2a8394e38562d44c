//! Connected components of the candidate-duplicate graph, in rounds of streaming steps over partitioned,
//! sorted edge lists: the large-star / small-star algorithm of Kiveris, Lattanzi, Mirrokni, Rastogi and
//! Vassilvitskii, "Connected Components in MapReduce and Beyond" (SoCC 2014).
//!
//! # Graph layout
//!
//! Nodes are `u64` ids. The graph is partitioned by node (the caller picks the partition function) and
//! stored in both directions: an undirected edge `{a, b}` is the record `[a, b]` in the partition of `a`
//! and `[b, a]` in the partition of `b`. A partition's records, merged in ascending order (e.g. with
//! [`merge`](crate::merge) over [`RunReader`](crate::RunReader)s), give each of its nodes with its whole
//! neighbourhood, neighbours ascending. Duplicate records are skipped; self-loops and records out of
//! order are refused as `InvalidData`. Nodes without edges do not appear: each is a component by itself.
//!
//! # Steps
//!
//! With `N(u)` the neighbours of `u` and `m(u) = min(N(u) ∪ {u})`:
//!
//! - **Large-star** ([`Step::Large`]): for every neighbour `v > u`, emit `{v, m(u)}`. Every larger
//!   neighbour of `u` is re-attached to the smallest node of `u`'s neighbourhood.
//! - **Small-star** ([`Step::Small`]): with `S(u) = {u} ∪ {v ∈ N(u) : v < u}` and `m = min S(u)` (which
//!   is `m(u)`), for every `v ∈ S(u)` other than `m`, emit `{v, m}`. `u` and its smaller neighbours are
//!   re-attached to the smallest of them.
//!
//! An input edge `{u, v}` with `u < v` is handled only at `u` in a large step and only at `v` in a small
//! step, and each handling emits exactly one edge: a step emits as many edges as it reads distinct
//! undirected ones (before any deduplication), so the edge runs never grow from step to step. The output of
//! a step, written in both directions, is the input of the next; the caller alternates Large, Small,
//! Large, … and stops after a large step whose [`StepStats::unsettled`] sums to 0 over all partitions.
//!
//! **Connectivity is preserved.** Every emitted edge joins two nodes of one set `N(u) ∪ {u}`, so no two
//! components merge. No component splits either. Small-star replaces each input edge `{v, u}`, `v < u`,
//! by `{v, m}` and `{u, m}` (one of them is empty when `v = m`), a path from `v` to `u`. Large-star
//! replaces each `{u, v}`, `u < v`, by `{v, m(u)}`, and `u` stays connected to `m(u)` in the output, by
//! induction on `u` in ascending order: trivially when `m(u) = u`; otherwise `w = m(u) < u` has `u` as
//! a larger neighbour, so the output holds `{u, m(w)}`, and `w` is connected to `m(w)` by induction.
//!
//! **It converges.** Kiveris et al. prove that alternating the two steps turns every component into a
//! star centred at its minimum node within `O(log² n)` rounds; the tests record the count on a path of
//! 100 000 nodes in random label order, the worst case for label propagation.
//!
//! **The convergence test is exact.** Call a node *settled* in a large step when all its neighbours are
//! larger than it, or it has exactly one neighbour and that one is smaller. If every node is settled,
//! an edge `{a, b}` with `a < b` makes `b` a node with a smaller neighbour, hence one with exactly one
//! neighbour, `a`; and `a`, having the larger neighbour `b`, has only larger neighbours. So every edge
//! joins a node `c` whose neighbours are all larger to a leaf of degree 1: every component is a star
//! centred at its minimum `c`. Conversely every node of such a star is settled. On a star forest the
//! large step emits `{v, c}` for each leaf `v` from the centre and nothing from the leaves: its output is
//! its input. So "no unsettled node in a large step" holds exactly when the graph has converged, and the
//! converged graph is that step's input (equally, its output), which [`centres`] reads.

use std::io;

/// Which of the two star operations a [`star_step`] applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// Large-star: attach each node's larger neighbours to the minimum of its neighbourhood.
    Large,
    /// Small-star: attach each node and its smaller neighbours to the minimum of those.
    Small,
}

/// What one [`star_step`] saw and did in one partition; sums over partitions describe the whole step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StepStats {
    /// Nodes in the partition (nodes with at least one edge).
    pub nodes: u64,
    /// Distinct edge records read.
    pub edges_in: u64,
    /// Undirected edges emitted (before any deduplication by the caller).
    pub edges_out: u64,
    /// In a large step, nodes that are not settled (see the module documentation); always 0 in a small
    /// step. The graph has converged when this sums to 0 over all partitions of a large step.
    pub unsettled: u64,
}

impl StepStats {
    /// Adds another partition's counts to these.
    pub fn add(&mut self, other: &StepStats) {
        self.nodes += other.nodes;
        self.edges_in += other.edges_in;
        self.edges_out += other.edges_out;
        self.unsettled += other.unsettled;
    }
}

/// Applies one large-star or small-star step to one partition's edge records, sorted ascending.
///
/// Calls `emit(a, b)` once per output undirected edge, always with `a > b` (the node and the smaller node
/// it is re-attached to); the caller writes `[a, b]` to the partition of `a` and `[b, a]` to that of `b`
/// for the next step. Different nodes may emit the same edge: duplicates are harmless, and
/// [`EqualRecords::DropWithinRun`](crate::EqualRecords) removes most of them. Memory is O(1): each
/// node's smallest neighbour is the first of its group.
///
/// Errors: the first error of `edges` or `emit`, and `InvalidData` for a record smaller than the one
/// before it or a self-loop.
pub fn star_step<E, F>(step: Step, edges: E, mut emit: F) -> io::Result<StepStats>
where
    E: IntoIterator<Item = io::Result<[u64; 2]>>,
    F: FnMut(u64, u64) -> io::Result<()>,
{
    let mut stats = StepStats::default();
    let mut current: Option<Group> = None;
    for edge in DistinctEdges::new(edges.into_iter()) {
        let [node, neighbour] = edge?;
        stats.edges_in += 1;
        let mut group = match current {
            Some(group) if group.node == node => group,
            previous => {
                if let Some(previous) = previous {
                    stats.unsettled += previous.unsettled(step);
                }
                stats.nodes += 1;
                Group {
                    node,
                    min: neighbour.min(node),
                    degree: 0,
                }
            }
        };
        group.degree += 1;
        match step {
            Step::Large if neighbour > node => {
                emit(neighbour, group.min)?;
                stats.edges_out += 1;
            }
            // The first smaller neighbour is the minimum `m`: emit {u, m}; later ones emit {v, m}.
            Step::Small if neighbour < node => {
                if group.degree == 1 {
                    emit(node, neighbour)?;
                } else {
                    emit(neighbour, group.min)?;
                }
                stats.edges_out += 1;
            }
            Step::Large | Step::Small => {}
        }
        current = Some(group);
    }
    if let Some(last) = current {
        stats.unsettled += last.unsettled(step);
    }
    Ok(stats)
}

/// The neighbourhood of one node, as far as a sorted stream has shown it.
#[derive(Debug, Clone, Copy)]
struct Group {
    node: u64,
    /// `min(N(u) ∪ {u})`, known from the first neighbour.
    min: u64,
    degree: u64,
}

impl Group {
    fn unsettled(&self, step: Step) -> u64 {
        let settled = self.min == self.node || self.degree == 1;
        u64::from(step == Step::Large && !settled)
    }
}

/// Yields `(node, centre)` for every node of one partition of a converged graph (see the module
/// documentation), in node order, with `(centre, centre)` for the centres themselves. Memory is O(1).
///
/// A node with a smaller neighbour and any other neighbour means the graph is not a star forest, which
/// is reported as an `InvalidData` error, as are records out of order and self-loops. The first error
/// ends the stream.
pub fn centres<E>(edges: E) -> Centres<E::IntoIter>
where
    E: IntoIterator<Item = io::Result<[u64; 2]>>,
{
    Centres {
        edges: DistinctEdges::new(edges.into_iter()),
        pending: None,
        done: false,
    }
}

/// The stream of `(node, centre)` pairs made by [`centres`].
#[derive(Debug)]
pub struct Centres<I> {
    edges: DistinctEdges<I>,
    /// First record of the next node, read while looking for the end of the previous one.
    pending: Option<[u64; 2]>,
    done: bool,
}

impl<I: Iterator<Item = io::Result<[u64; 2]>>> Centres<I> {
    fn next_centre(&mut self) -> io::Result<Option<(u64, u64)>> {
        let first = match self.pending.take() {
            Some(edge) => edge,
            None => match self.edges.next() {
                Some(edge) => edge?,
                None => return Ok(None),
            },
        };
        let [node, smallest] = first;
        for edge in self.edges.by_ref() {
            let edge = edge?;
            if edge[0] != node {
                self.pending = Some(edge);
                break;
            }
            if smallest < node {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "node {node} has neighbours {smallest} and {}: the graph is not a star \
                         forest, components have not converged",
                        edge[1]
                    ),
                ));
            }
        }
        Ok(Some((node, smallest.min(node))))
    }
}

impl<I: Iterator<Item = io::Result<[u64; 2]>>> Iterator for Centres<I> {
    type Item = io::Result<(u64, u64)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = self.next_centre().transpose();
        if !matches!(item, Some(Ok(_))) {
            self.done = true;
        }
        item
    }
}

/// Checks that edge records ascend, skips repeated records and refuses self-loops; ends after an error.
#[derive(Debug)]
struct DistinctEdges<I> {
    edges: I,
    previous: Option<[u64; 2]>,
    done: bool,
}

impl<I> DistinctEdges<I> {
    fn new(edges: I) -> Self {
        Self {
            edges,
            previous: None,
            done: false,
        }
    }
}

impl<I: Iterator<Item = io::Result<[u64; 2]>>> DistinctEdges<I> {
    fn next_distinct(&mut self) -> io::Result<Option<[u64; 2]>> {
        for edge in self.edges.by_ref() {
            let edge = edge?;
            if edge[0] == edge[1] {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("edge list holds the self-loop {edge:?}"),
                ));
            }
            match self.previous {
                Some(previous) if edge == previous => continue,
                Some(previous) if edge < previous => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("edge {edge:?} follows {previous:?}: the partition is not sorted"),
                    ));
                }
                _ => {}
            }
            self.previous = Some(edge);
            return Ok(Some(edge));
        }
        Ok(None)
    }
}

impl<I: Iterator<Item = io::Result<[u64; 2]>>> Iterator for DistinctEdges<I> {
    type Item = io::Result<[u64; 2]>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = self.next_distinct().transpose();
        if !matches!(item, Some(Ok(_))) {
            self.done = true;
        }
        item
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

    use super::*;

    /// Counter-based pseudo-random numbers: the `i`-th draw of stream `seed`.
    fn draw(seed: u64, i: u64) -> u64 {
        xxh3_64_with_seed(&i.to_le_bytes(), seed)
    }

    fn partition_of(node: u64, partitions: usize) -> usize {
        (xxh3_64(&node.to_le_bytes()) % partitions as u64) as usize
    }

    /// Writes `{a, b}` in both directions, as the pipeline does between steps.
    fn route(graph: &mut [Vec<[u64; 2]>], a: u64, b: u64) {
        let partitions = graph.len();
        graph[partition_of(a, partitions)].push([a, b]);
        graph[partition_of(b, partitions)].push([b, a]);
    }

    /// Runs steps Large, Small, Large, ... over `partitions` in-memory partitions until a large step
    /// finds no unsettled node. Returns the converged graph, each partition sorted, and the step count.
    fn converge(edges: &[[u64; 2]], partitions: usize) -> (Vec<Vec<[u64; 2]>>, usize) {
        let mut graph = vec![Vec::new(); partitions];
        for &[a, b] in edges {
            route(&mut graph, a, b);
        }
        let mut step = Step::Large;
        for steps in 1..=500 {
            let mut next = vec![Vec::new(); partitions];
            let mut total = StepStats::default();
            for partition in &mut graph {
                partition.sort_unstable();
                let stats = star_step(step, partition.iter().map(|&edge| Ok(edge)), |a, b| {
                    assert!(a > b, "emitted ({a}, {b})");
                    route(&mut next, a, b);
                    Ok(())
                })
                .unwrap();
                total.add(&stats);
            }
            assert_eq!(total.edges_out * 2, total.edges_in, "{step:?}");
            if step == Step::Small {
                assert_eq!(total.unsettled, 0);
            }
            if step == Step::Large && total.unsettled == 0 {
                // On a converged graph the large step gives back exactly its input.
                for (input, output) in graph.iter().zip(&mut next) {
                    output.sort_unstable();
                    assert_eq!(
                        input.iter().collect::<BTreeSet<_>>(),
                        output.iter().collect()
                    );
                }
                return (graph, steps);
            }
            graph = next;
            step = match step {
                Step::Large => Step::Small,
                Step::Small => Step::Large,
            };
        }
        panic!("no convergence in 500 steps");
    }

    /// Minimum node of each node's component, by union-find.
    fn reference_minima(edges: &[[u64; 2]]) -> BTreeMap<u64, u64> {
        let mut parent: BTreeMap<u64, u64> = BTreeMap::new();
        fn root(parent: &mut BTreeMap<u64, u64>, node: u64) -> u64 {
            let mut root = node;
            while let Some(&up) = parent.get(&root).filter(|&&up| up != root) {
                root = up;
            }
            let mut walk = node;
            while walk != root {
                let up = parent[&walk];
                parent.insert(walk, root);
                walk = up;
            }
            root
        }
        for &[a, b] in edges {
            parent.entry(a).or_insert(a);
            parent.entry(b).or_insert(b);
            let (ra, rb) = (root(&mut parent, a), root(&mut parent, b));
            // Keeping the smaller node as the root makes each root its component's minimum.
            parent.insert(ra.max(rb), ra.min(rb));
        }
        let nodes: Vec<u64> = parent.keys().copied().collect();
        nodes
            .into_iter()
            .map(|node| (node, root(&mut parent, node)))
            .collect()
    }

    /// Converges `edges` with 1, 3 and 8 partitions, checks every node's centre against union-find, and
    /// returns the step count (the same for every partitioning).
    fn check_components(edges: &[[u64; 2]]) -> usize {
        let expected = reference_minima(edges);
        let mut step_counts = Vec::new();
        for partitions in [1, 3, 8] {
            let (graph, steps) = converge(edges, partitions);
            let mut found = BTreeMap::new();
            for partition in &graph {
                let pairs = centres(partition.iter().map(|&edge| Ok(edge)));
                for pair in pairs {
                    let (node, centre) = pair.unwrap();
                    assert!(
                        found.insert(node, centre).is_none(),
                        "node {node} yielded twice"
                    );
                }
            }
            assert_eq!(found, expected, "{partitions} partitions");
            step_counts.push(steps);
        }
        assert!(
            step_counts.iter().all(|&steps| steps == step_counts[0]),
            "{step_counts:?}"
        );
        step_counts[0]
    }

    /// `edge_count` random edges between `nodes` nodes with random 64-bit labels.
    fn random_graph(seed: u64, nodes: u64, edge_count: u64) -> Vec<[u64; 2]> {
        let label = |i: u64| draw(seed ^ 0x5eed, i);
        (0..edge_count)
            .map(|i| {
                [
                    label(draw(seed, 2 * i) % nodes),
                    label(draw(seed, 2 * i + 1) % nodes),
                ]
            })
            .filter(|[a, b]| a != b)
            .collect()
    }

    /// A permutation of `0..n` by Fisher-Yates.
    fn shuffled(n: u64, seed: u64) -> Vec<u64> {
        let mut labels: Vec<u64> = (0..n).collect();
        for i in (1..labels.len()).rev() {
            labels.swap(i, (draw(seed, i as u64) % (i as u64 + 1)) as usize);
        }
        labels
    }

    #[test]
    fn random_graphs_match_union_find() {
        for seed in 1..=4 {
            check_components(&random_graph(seed, 1_000, 700));
        }
        // Sparse: many small trees. Dense: one giant component.
        check_components(&random_graph(10, 50_000, 30_000));
        check_components(&random_graph(11, 50_000, 100_000));
    }

    #[test]
    fn long_path_in_random_order_converges_in_few_steps() {
        let labels = shuffled(100_000, 3);
        let path: Vec<[u64; 2]> = labels.windows(2).map(|w| [w[0], w[1]]).collect();
        let steps = check_components(&path);
        println!("path of 100000 nodes in random label order: {steps} steps");
        // log2(100 000)² ≈ 276; measured: 27.
        assert!(steps <= 60, "{steps} steps");
    }

    #[test]
    fn stars_pairs_cliques_and_small_graphs_match_union_find() {
        let star_around_middle: Vec<[u64; 2]> =
            (0..1_000).filter(|&v| v != 500).map(|v| [500, v]).collect();
        let star_around_minimum: Vec<[u64; 2]> = (1..1_000).map(|v| [v, 0]).collect();
        let pairs: Vec<[u64; 2]> = (0..10_000).map(|i| [draw(4, i), draw(5, i)]).collect();
        let mut cliques = Vec::new();
        for clique in 0..20u64 {
            let members: Vec<u64> = (0..30).map(|i| draw(6, clique * 30 + i)).collect();
            for (i, &a) in members.iter().enumerate() {
                cliques.extend(members[i + 1..].iter().map(|&b| [a, b]));
            }
        }
        assert_eq!(check_components(&star_around_minimum), 1);
        check_components(&star_around_middle);
        assert_eq!(check_components(&pairs), 1);
        check_components(&cliques);
        assert_eq!(check_components(&[[7, 3]]), 1);
        assert_eq!(check_components(&[]), 1);
    }

    fn step_edges(step: Step, edges: &[[u64; 2]]) -> (BTreeSet<[u64; 2]>, StepStats) {
        let mut records: Vec<[u64; 2]> =
            edges.iter().flat_map(|&[a, b]| [[a, b], [b, a]]).collect();
        records.sort_unstable();
        let mut out = BTreeSet::new();
        let stats = star_step(step, records.into_iter().map(Ok), |a, b| {
            out.insert([a, b]);
            Ok(())
        })
        .unwrap();
        (out, stats)
    }

    #[test]
    fn one_step_by_hand() {
        // 3 is joined to 1, 2, 4 and 5; the record [3, 4] comes twice.
        let edges = [[1, 3], [2, 3], [3, 4], [3, 5], [3, 4]];
        let (large, stats) = step_edges(Step::Large, &edges);
        assert_eq!(large, BTreeSet::from([[3, 1], [3, 2], [4, 1], [5, 1]]));
        // Only 3 is unsettled: 1 and 2 have larger neighbours only, 4 and 5 one smaller one.
        assert_eq!(
            stats,
            StepStats {
                nodes: 5,
                edges_in: 8,
                edges_out: 4,
                unsettled: 1
            }
        );
        let (small, stats) = step_edges(Step::Small, &edges);
        assert_eq!(small, BTreeSet::from([[3, 1], [2, 1], [4, 3], [5, 3]]));
        assert_eq!(
            stats,
            StepStats {
                nodes: 5,
                edges_in: 8,
                edges_out: 4,
                unsettled: 0
            }
        );
    }

    #[test]
    fn unsorted_input_and_self_loops_are_invalid_data() {
        let unsorted = [[1u64, 2], [1, 5], [1, 3]];
        for step in [Step::Large, Step::Small] {
            let error = star_step(step, unsorted.map(Ok), |_, _| Ok(())).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidData);
            assert!(error.to_string().contains("not sorted"), "{error}");
        }
        let self_loop = [[1u64, 2], [2, 2]];
        let error = star_step(Step::Large, self_loop.map(Ok), |_, _| Ok(())).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        let out: Vec<_> = centres(unsorted.map(Ok)).collect();
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0].as_ref().unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
    }

    #[test]
    fn errors_from_input_and_emit_are_passed_on() {
        let input = vec![Ok([1u64, 2]), Err(io::Error::other("read failed"))];
        let error = star_step(Step::Large, input, |_, _| Ok(())).unwrap_err();
        assert_eq!(error.to_string(), "read failed");
        let error = star_step(Step::Large, [Ok([1u64, 2])], |_, _| {
            Err(io::Error::other("full"))
        })
        .unwrap_err();
        assert_eq!(error.to_string(), "full");
    }

    #[test]
    fn centres_of_a_converged_partition() {
        // Stars centred at 1 (leaves 4, 9) and 2 (leaf 3), seen from one partition holding all nodes.
        let records = [[1u64, 4], [1, 9], [2, 3], [3, 2], [4, 1], [9, 1]];
        let pairs: Vec<(u64, u64)> = centres(records.map(Ok)).map(Result::unwrap).collect();
        assert_eq!(pairs, vec![(1, 1), (2, 2), (3, 2), (4, 1), (9, 1)]);
    }

    #[test]
    fn centres_refuses_a_graph_that_is_not_a_star_forest() {
        // The path 1 - 2 - 3: node 2 has a smaller and a larger neighbour.
        let path = [[1u64, 2], [2, 1], [2, 3], [3, 2]];
        let out: Vec<_> = centres(path.map(Ok)).collect();
        assert_eq!(out.len(), 2);
        assert_eq!(*out[0].as_ref().unwrap(), (1, 1));
        let error = out[1].as_ref().unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert!(error.to_string().contains("not a star forest"), "{error}");
        // A leaf with two smaller neighbours.
        let leaf = [[5u64, 1], [5, 2]];
        assert!(centres(leaf.map(Ok)).next().unwrap().is_err());
    }
}
