//! Measures the two recommendation scorers on labelled groups: the 61
//! sample papers (reference vectors from `tests/fixtures`, groups from the
//! hand grouping in `data/sample-topics.tsv`) and a planted synthetic
//! grouping. Each draw takes a few papers of a group (or of two groups) as
//! positives, hides the rest of the group, ranks every other paper and
//! counts how many hidden members reach the top 10 (recall@10, out of at
//! most 10). No model is run.
//!
//! Usage: `cargo run --example recommend_eval -- [DRAWS] [SEED]` (defaults:
//! 2000 draws per case, seed 7).

use std::collections::{HashMap, HashSet};

use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use relate::recommend::{ProfileVectors, Scorer};

const K: usize = 10;
const SCORERS: [Scorer; 2] = [Scorer::Centroid, Scorer::Multi];

/// Vectors (flat) and a group number per paper.
struct Labelled {
    name: &'static str,
    vectors: Vec<f32>,
    dim: usize,
    groups: Vec<usize>,
}

impl Labelled {
    fn members(&self) -> HashMap<usize, Vec<usize>> {
        let mut out: HashMap<usize, Vec<usize>> = HashMap::new();
        for (i, &g) in self.groups.iter().enumerate() {
            out.entry(g).or_default().push(i);
        }
        out
    }

    /// The top `K` papers for the profile, leaving out the examples.
    fn top(&self, scorer: Scorer, positives: &[usize], negatives: &[usize]) -> Vec<usize> {
        let mut profile = ProfileVectors::new(self.dim);
        let v = |i: usize| &self.vectors[i * self.dim..(i + 1) * self.dim];
        for &p in positives {
            profile.add_positive(v(p), 1.0).expect("valid positive");
        }
        for &n in negatives {
            profile.add_negative(v(n), 1.0).expect("valid negative");
        }
        let allowed: Vec<bool> = (0..self.vectors.len() / self.dim)
            .map(|i| !positives.contains(&i) && !negatives.contains(&i))
            .collect();
        let scores = profile
            .rank_scores(scorer, &self.vectors, Some(&allowed), K)
            .expect("vectors fit");
        let mut order: Vec<usize> = (0..scores.len()).filter(|&i| allowed[i]).collect();
        order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
        order.truncate(K);
        order
    }
}

/// Share of `hidden` found in `top`, out of at most `K`.
fn recall(top: &[usize], hidden: &[usize]) -> f64 {
    if hidden.is_empty() {
        return 1.0;
    }
    let hidden: HashSet<usize> = hidden.iter().copied().collect();
    let found = top.iter().filter(|i| hidden.contains(i)).count();
    found as f64 / hidden.len().min(K) as f64
}

/// Splits a random choice of `n` members of `group` off as examples.
fn draw(rng: &mut StdRng, group: &[usize], n: usize) -> (Vec<usize>, Vec<usize>) {
    let mut members = group.to_vec();
    members.shuffle(rng);
    let hidden = members.split_off(n);
    (members, hidden)
}

/// Mean recall@10 per scorer over `draws` draws of one case.
fn run_case(
    data: &Labelled,
    draws: usize,
    seed: u64,
    case: &dyn Fn(&mut StdRng, &Labelled, Scorer) -> f64,
) -> Vec<f64> {
    SCORERS
        .iter()
        .map(|&scorer| {
            // The same draws for both scorers.
            let mut rng = StdRng::seed_from_u64(seed);
            (0..draws)
                .map(|_| case(&mut rng, data, scorer))
                .sum::<f64>()
                / draws as f64
        })
        .collect()
}

fn eligible(data: &Labelled, min_size: usize) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = data
        .members()
        .into_values()
        .filter(|m| m.len() >= min_size)
        .collect();
    groups.sort();
    groups
}

fn report(data: &Labelled, draws: usize, seed: u64) {
    println!(
        "{}: {} papers, {} groups; recall@{K} over {draws} draws, seed {seed}",
        data.name,
        data.groups.len(),
        data.members().len()
    );
    println!("{:<52} {:>9} {:>9}", "case", "centroid", "multi");
    let line = |name: &str, figures: Vec<f64>| {
        println!("{name:<52} {:>9.3} {:>9.3}", figures[0], figures[1]);
    };

    let groups4 = eligible(data, 4);
    line(
        "2 positives from one group",
        run_case(data, draws, seed, &|rng, d, s| {
            let g = groups4.choose(rng).expect("a group of 4 or more");
            let (pos, hidden) = draw(rng, g, 2);
            recall(&d.top(s, &pos, &[]), &hidden)
        }),
    );
    line(
        "2 positives from each of two groups",
        run_case(data, draws, seed, &|rng, d, s| {
            let pair: Vec<&Vec<usize>> = groups4.choose_multiple(rng, 2).collect();
            let (mut pos, mut hidden) = draw(rng, pair[0], 2);
            let (pos_b, hidden_b) = draw(rng, pair[1], 2);
            pos.extend(pos_b);
            hidden.extend(hidden_b);
            recall(&d.top(s, &pos, &[]), &hidden)
        }),
    );
    let groups5 = eligible(data, 5);
    let groups3 = eligible(data, 3);
    let minor = |rng: &mut StdRng, major: &Vec<usize>| -> Vec<usize> {
        loop {
            let g = groups3.choose(rng).expect("a group of 3 or more");
            if g != major {
                return g.clone();
            }
        }
    };
    let unbalanced = |rng: &mut StdRng, d: &Labelled, s: Scorer| {
        let a = groups5.choose(rng).expect("a group of 5 or more");
        let b = minor(rng, a);
        let (mut pos, hidden_a) = draw(rng, a, 3);
        let (pos_b, hidden_b) = draw(rng, &b, 1);
        pos.extend(pos_b);
        let top = d.top(s, &pos, &[]);
        (recall(&top, &hidden_a), recall(&top, &hidden_b))
    };
    line(
        "3 from one group + 1 from another: major recall",
        run_case(data, draws, seed, &|rng, d, s| unbalanced(rng, d, s).0),
    );
    line(
        "3 from one group + 1 from another: minor recall",
        run_case(data, draws, seed, &|rng, d, s| unbalanced(rng, d, s).1),
    );
    // Negatives: positives of one group, negatives of another; how much of
    // the unliked group is left in the top 10, with and without them.
    let with_negatives = |rng: &mut StdRng, d: &Labelled, s: Scorer, use_neg: bool| {
        let pair: Vec<&Vec<usize>> = groups4.choose_multiple(rng, 2).collect();
        let (pos, hidden) = draw(rng, pair[0], 2);
        let (neg, unliked) = draw(rng, pair[1], 2);
        // Without negatives the unliked examples are still left out, so
        // both rankings cover the same papers.
        let top = if use_neg {
            d.top(s, &pos, &neg)
        } else {
            d.top_without(s, &pos, &neg)
        };
        let leaked = top.iter().filter(|i| unliked.contains(i)).count() as f64 / K as f64;
        (recall(&top, &hidden), leaked)
    };
    line(
        "2 liked: recall, no negatives",
        run_case(data, draws, seed, &|rng, d, s| {
            with_negatives(rng, d, s, false).0
        }),
    );
    line(
        "2 liked + 2 unliked: recall",
        run_case(data, draws, seed, &|rng, d, s| {
            with_negatives(rng, d, s, true).0
        }),
    );
    line(
        "2 liked: share of top 10 from the unliked group",
        run_case(data, draws, seed, &|rng, d, s| {
            with_negatives(rng, d, s, false).1
        }),
    );
    line(
        "2 liked + 2 unliked: share from the unliked group",
        run_case(data, draws, seed, &|rng, d, s| {
            with_negatives(rng, d, s, true).1
        }),
    );
    println!();
}

impl Labelled {
    /// The top papers for positives only, leaving out `also_out` too.
    fn top_without(&self, scorer: Scorer, positives: &[usize], also_out: &[usize]) -> Vec<usize> {
        let mut out_list = positives.to_vec();
        out_list.extend(also_out);
        let mut profile = ProfileVectors::new(self.dim);
        for &p in positives {
            profile
                .add_positive(&self.vectors[p * self.dim..(p + 1) * self.dim], 1.0)
                .expect("valid positive");
        }
        let allowed: Vec<bool> = (0..self.vectors.len() / self.dim)
            .map(|i| !out_list.contains(&i))
            .collect();
        let scores = profile
            .rank_scores(scorer, &self.vectors, Some(&allowed), K)
            .expect("vectors fit");
        let mut order: Vec<usize> = (0..scores.len()).filter(|&i| allowed[i]).collect();
        order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
        order.truncate(K);
        order
    }
}

fn root(path: &str) -> String {
    format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))
}

fn sample() -> Labelled {
    let fixture = std::fs::read_to_string(root("tests/fixtures/all-MiniLM-L6-v2.abstracts.jsonl"))
        .expect("reference vectors are readable");
    let mut vectors = Vec::new();
    let mut n = 0;
    for line in fixture.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).expect("reference line is JSON");
        vectors.extend(
            v["embedding"]
                .as_array()
                .expect("embedding array")
                .iter()
                .map(|x| x.as_f64().expect("number") as f32),
        );
        n += 1;
    }
    let tsv = std::fs::read_to_string(root("data/sample-topics.tsv")).expect("grouping readable");
    let mut names: Vec<String> = Vec::new();
    let mut groups = Vec::new();
    for line in tsv.lines().skip(1) {
        let (_, name) = line.split_once('\t').expect("index<TAB>group");
        let g = names.iter().position(|x| x == name).unwrap_or_else(|| {
            names.push(name.to_string());
            names.len() - 1
        });
        groups.push(g);
    }
    assert_eq!(groups.len(), n, "one group per sample paper");
    Labelled {
        name: "sample papers (hand grouping)",
        dim: vectors.len() / n,
        vectors,
        groups,
    }
}

/// Groups of unit vectors around random centres, with a shared offset so
/// that every pair of papers is somewhat alike (as sentence embeddings of
/// one field are).
fn planted(groups: usize, per: usize, dim: usize, noise: f32, seed: u64) -> Labelled {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut gaussian = move || -> f32 {
        let u: f32 = rng.random_range(f32::EPSILON..1.0);
        let v: f32 = rng.random();
        (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
    };
    let shared: Vec<f32> = (0..dim).map(|_| gaussian()).collect();
    let mut vectors = Vec::new();
    let mut labels = Vec::new();
    for g in 0..groups {
        let centre: Vec<f32> = shared.iter().map(|s| 0.7 * s + gaussian()).collect();
        for _ in 0..per {
            let mut v: Vec<f32> = centre.iter().map(|c| c + noise * gaussian()).collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.iter_mut().for_each(|x| *x /= norm);
            vectors.extend(v);
            labels.push(g);
        }
    }
    Labelled {
        name: "planted synthetic groups (20 x 25, dim 64)",
        vectors,
        dim,
        groups: labels,
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let draws: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2000);
    let seed: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(7);
    report(&sample(), draws, seed);
    report(&planted(20, 25, 64, 1.2, seed), draws, seed);
}
