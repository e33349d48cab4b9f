//! Topic labels from class-based TF-IDF over the members' titles and
//! abstracts.
//!
//! Text is lowercased and split into words; stop words, numbers and single
//! letters are dropped, a plural folds into its singular when the singular
//! also occurs, and two kept words that stood next to each other form a
//! bigram. A term's weight in a topic is coverage × precision:
//! `(members containing it + ½ · members whose title has it) / members`
//! rewards terms shared by the topic's papers, titles counting extra since
//! they name what a paper is about; precision, the share of the papers
//! containing it that are members, punishes terms found across topics. It
//! is measured above chance: a term spread evenly over the library lands
//! in a topic holding a fraction f of the papers with share f, so the
//! precision used is `(share − f) / (1 − f)`, zero for such a term however
//! common it is. (The usual
//! `ln(1 + A / frequency)` factor was tried first: it let words that occur
//! in two papers of the whole library outrank the topic's own subject.)
//! Bigrams weigh [`BIGRAM_BONUS`] times more, being more specific than
//! their words. Terms must occur in at least two members when the topic has
//! two or more. A term is skipped when it shares a word with a higher-ranked
//! term (so not "theorem, theorem proving"), and the label is the first
//! three terms.

use std::collections::{HashMap, HashSet};

use super::stopwords::is_stop_word;

/// Terms joined into a label.
const LABEL_TERMS: usize = 3;

/// Extra weight of a two-word term over a single word.
const BIGRAM_BONUS: f64 = 1.3;

/// Extra coverage a term earns from a member whose title holds it.
const TITLE_BONUS: f64 = 0.5;

/// One word of a text, and whether it directly follows the previous kept
/// word (so the two may form a bigram).
struct Word {
    text: String,
    joined: bool,
}

/// Lowercase content words of `text`, stop words and numbers removed.
fn words(text: &str) -> Vec<Word> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut joined = false;
    let flush = |current: &mut String, joined: &mut bool, out: &mut Vec<Word>| {
        if current.is_empty() {
            return;
        }
        let w = std::mem::take(current);
        let keep =
            w.chars().count() >= 2 && w.chars().any(|c| c.is_alphabetic()) && !is_stop_word(&w);
        if keep {
            out.push(Word {
                text: w,
                joined: *joined,
            });
            *joined = true;
        } else {
            *joined = false;
        }
    };
    for c in text.chars() {
        if c.is_alphanumeric() {
            current.extend(c.to_lowercase());
        } else {
            flush(&mut current, &mut joined, &mut out);
            if !(c.is_whitespace() || c == '-') {
                joined = false;
            }
        }
    }
    flush(&mut current, &mut joined, &mut out);
    out
}

/// Folds plurals onto singulars that occur somewhere in the corpus.
fn singular<'a>(word: &'a str, vocab: &HashSet<String>) -> std::borrow::Cow<'a, str> {
    if let Some(stem) = word.strip_suffix("ies") {
        let y = format!("{stem}y");
        if vocab.contains(&y) {
            return y.into();
        }
    }
    if let Some(stem) = word.strip_suffix('s') {
        if !(word.ends_with("ss") || word.ends_with("us") || word.ends_with("is"))
            && vocab.contains(stem)
        {
            return stem.to_string().into();
        }
    }
    word.into()
}

/// The set of unigram and bigram terms of each text (also the shared
/// terms of a recommendation's reasons).
pub(crate) fn term_sets(texts: &[&str]) -> Vec<HashSet<String>> {
    let vocab = vocabulary(texts.len(), |i| texts[i]);
    let mut terms = Terms::default();
    let mut ids = Vec::new();
    texts
        .iter()
        .map(|text| {
            term_ids(text, &vocab, &mut terms, &mut ids);
            ids.iter()
                .map(|&id| terms.texts[id as usize].clone())
                .collect()
        })
        .collect()
}

/// How many members hold each term (by id).
type Counts = HashMap<u32, u32>;

/// Terms numbered as they are first seen, so that counts hold small ids
/// rather than a copy of each term's text per paper.
#[derive(Default)]
struct Terms {
    ids: HashMap<String, u32>,
    texts: Vec<String>,
}

impl Terms {
    fn id(&mut self, term: &str) -> u32 {
        if let Some(&id) = self.ids.get(term) {
            return id;
        }
        let id = self.texts.len() as u32;
        self.ids.insert(term.to_string(), id);
        self.texts.push(term.to_string());
        id
    }
}

/// Every word of the `count` texts `text` gives, for folding plurals
/// ([`singular`]).
fn vocabulary<S: AsRef<str>>(count: usize, text: impl Fn(usize) -> S) -> HashSet<String> {
    (0..count)
        .flat_map(|i| words(text(i).as_ref()))
        .map(|w| w.text)
        .collect()
}

/// The distinct unigram and bigram terms of `text` as ids, into `out`:
/// its words with plurals folded, and each two kept words that stood next
/// to each other.
fn term_ids(text: &str, vocab: &HashSet<String>, terms: &mut Terms, out: &mut Vec<u32>) {
    out.clear();
    let mut prev: Option<String> = None;
    for w in words(text) {
        let s = singular(&w.text, vocab).into_owned();
        if let (true, Some(p)) = (w.joined, &prev) {
            out.push(terms.id(&format!("{p} {s}")));
        }
        out.push(terms.id(&s));
        prev = Some(s);
    }
    out.sort_unstable();
    out.dedup();
}

/// The topics of one partition that list each paper, as offsets into one
/// array (a paper may be in none, an outlier, or in several).
struct TopicsOfPaper {
    starts: Vec<usize>,
    topics: Vec<u32>,
}

impl TopicsOfPaper {
    fn new(members: &[Vec<usize>], papers: usize) -> Self {
        let mut starts = vec![0usize; papers + 1];
        for &i in members.iter().flatten() {
            starts[i + 1] += 1;
        }
        for i in 0..papers {
            starts[i + 1] += starts[i];
        }
        let mut next = starts.clone();
        let mut topics = vec![0u32; starts[papers]];
        for (t, m) in members.iter().enumerate() {
            for &i in m {
                topics[next[i]] = t as u32;
                next[i] += 1;
            }
        }
        TopicsOfPaper { starts, topics }
    }

    fn of(&self, paper: usize) -> &[u32] {
        &self.topics[self.starts[paper]..self.starts[paper + 1]]
    }
}

/// The top `n_terms` terms of each topic. `titles` and `texts` (title and
/// abstract together) hold one entry per paper; `members` lists each
/// topic's papers (indices into them).
#[cfg(test)]
pub(crate) fn topic_terms(
    titles: &[&str],
    texts: &[&str],
    members: &[Vec<usize>],
    n_terms: usize,
) -> Vec<Vec<String>> {
    topic_terms_by_level(titles, &|i| texts[i], &[members], n_terms)
        .pop()
        .unwrap_or_default()
}

/// [`topic_terms`] for several partitions of the same papers (the broad and
/// the fine topics), with paper `i`'s text (title and abstract) from
/// `text(i)`, tokenising each paper once for all partitions; terms are
/// ranked against the other topics of the same partition. Papers are read
/// one at a time into per-topic counts, so memory grows with the topics'
/// vocabularies rather than with the number of papers or their length.
pub(crate) fn topic_terms_by_level<S: AsRef<str>>(
    titles: &[&str],
    text: &dyn Fn(usize) -> S,
    levels: &[&[Vec<usize>]],
    n_terms: usize,
) -> Vec<Vec<Vec<String>>> {
    let papers = titles.len();
    let text_vocab = vocabulary(papers, text);
    let title_vocab = vocabulary(papers, |i| titles[i]);
    let listed: Vec<TopicsOfPaper> = levels
        .iter()
        .map(|members| TopicsOfPaper::new(members, papers))
        .collect();
    // Per level and topic: members containing each term, and members whose
    // title does.
    let mut counts: Vec<Vec<(Counts, Counts)>> = levels
        .iter()
        .map(|members| vec![(Counts::new(), Counts::new()); members.len()])
        .collect();
    let mut terms = Terms::default();
    let (mut text_terms, mut title_terms) = (Vec::new(), Vec::new());
    for (i, title) in titles.iter().enumerate() {
        if listed.iter().all(|l| l.of(i).is_empty()) {
            continue;
        }
        term_ids(text(i).as_ref(), &text_vocab, &mut terms, &mut text_terms);
        term_ids(title, &title_vocab, &mut terms, &mut title_terms);
        for (level, l) in listed.iter().enumerate() {
            for &t in l.of(i) {
                let (df, in_titles) = &mut counts[level][t as usize];
                for &id in &text_terms {
                    *df.entry(id).or_default() += 1;
                }
                for &id in &title_terms {
                    *in_titles.entry(id).or_default() += 1;
                }
            }
        }
    }
    levels
        .iter()
        .zip(&counts)
        .map(|(members, per_topic)| ranked_terms(per_topic, &terms.texts, members, n_terms))
        .collect()
}

/// The top terms of each topic from its members' term counts.
fn ranked_terms(
    per_topic: &[(Counts, Counts)],
    terms: &[String],
    members: &[Vec<usize>],
    n_terms: usize,
) -> Vec<Vec<String>> {
    let mut total: HashMap<u32, u32> = HashMap::new();
    for (df, _) in per_topic {
        for (&t, &c) in df {
            *total.entry(t).or_default() += c;
        }
    }
    let papers = members.iter().map(Vec::len).sum::<usize>().max(1) as f64;
    members
        .iter()
        .zip(per_topic)
        .map(|(m, (df, in_titles))| {
            let size = m.len().max(1) as f64;
            let chance = m.len() as f64 / papers;
            let min_df = m.len().min(2) as u32;
            let mut scored: Vec<(f64, &str, u32)> = df
                .iter()
                .map(|(&id, &c)| {
                    let t = terms[id as usize].as_str();
                    let titled = in_titles.get(&id).copied().unwrap_or(0);
                    let coverage = (c as f64 + TITLE_BONUS * titled as f64) / size;
                    let share = c as f64 / total[&id] as f64;
                    let precision = if chance < 1.0 {
                        ((share - chance) / (1.0 - chance)).max(0.0)
                    } else {
                        share
                    };
                    let bonus = if t.contains(' ') { BIGRAM_BONUS } else { 1.0 };
                    (coverage * precision * bonus, t, c)
                })
                .collect();
            scored.sort_by(|a, b| {
                b.0.total_cmp(&a.0)
                    .then_with(|| b.1.contains(' ').cmp(&a.1.contains(' ')))
                    .then_with(|| a.1.cmp(b.1))
            });
            // A term no more frequent here than anywhere else says nothing.
            let common = scored.iter().filter(|s| s.2 >= min_df && s.0 > 0.0);
            let rare = scored.iter().filter(|s| s.2 < min_df && s.0 > 0.0);
            let mut chosen: Vec<String> = Vec::new();
            for (_, t, _) in common.chain(rare) {
                if chosen.len() >= n_terms {
                    break;
                }
                let covered = t.split(' ').any(|w| {
                    chosen
                        .iter()
                        .any(|c| c.split(' ').any(|cw| same_word(cw, w)))
                });
                if !covered {
                    chosen.push(t.to_string());
                }
            }
            chosen
        })
        .collect()
}

/// Whether two words are one word in different forms: equal, or sharing
/// their first six letters ("differential" and "differentially",
/// "federated" and "federation").
pub(crate) fn same_word(a: &str, b: &str) -> bool {
    const STEM: usize = 6;
    if a == b {
        return true;
    }
    let (mut x, mut y) = (a.chars(), b.chars());
    let mut shared = 0;
    while let (Some(p), Some(q)) = (x.next(), y.next()) {
        if p != q {
            break;
        }
        shared += 1;
        if shared == STEM {
            return true;
        }
    }
    false
}

/// A readable label from a topic's ranked terms.
pub(crate) fn label(terms: &[String], topic: usize) -> String {
    if terms.is_empty() {
        return format!("topic {topic}");
    }
    terms
        .iter()
        .take(LABEL_TERMS)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_drop_stop_words_and_break_bigrams_at_punctuation() {
        let w = words("We propose Federated-Learning, with 3 clients. Privacy budgets");
        let texts: Vec<(&str, bool)> = w.iter().map(|w| (w.text.as_str(), w.joined)).collect();
        assert_eq!(
            texts,
            vec![
                ("federated", false),
                ("learning", true),
                ("clients", false),
                ("privacy", false),
                ("budgets", true)
            ]
        );
    }

    #[test]
    fn a_word_in_every_paper_names_no_topic() {
        let texts = [
            "synthetic: telescope optics",
            "synthetic: telescope mirrors",
            "synthetic: telescope survey",
            "synthetic: telescope",
            "synthetic: protein folding",
            "synthetic: protein structure",
        ];
        let titles = ["synthetic"; 6];
        let terms = topic_terms(&titles, &texts, &[vec![0, 1, 2, 3], vec![4, 5]], 3);
        assert_eq!(terms[0][0], "telescope", "{:?}", terms[0]);
        assert_eq!(terms[1][0], "protein", "{:?}", terms[1]);
        assert!(
            !terms[0].contains(&"synthetic".to_string()),
            "{:?}",
            terms[0]
        );
    }

    #[test]
    fn word_forms_count_as_one_word() {
        assert!(same_word("differential", "differentially"));
        assert!(same_word("federated", "federation"));
        assert!(same_word("bandit", "bandit"));
        assert!(!same_word("proving", "prover"));
        assert!(
            !same_word("graph", "graphs"),
            "short words must match exactly"
        );
    }

    #[test]
    fn plurals_fold_when_the_singular_occurs() {
        let sets = term_sets(&["proofs and more proofs", "a proof", "studies of bodies"]);
        assert!(sets[0].contains("proof"));
        assert!(!sets[0].contains("proofs"));
        assert!(sets[2].contains("bodies"));
    }

    #[test]
    fn bigram_outranks_its_words_and_shared_words_sink() {
        let texts = [
            "theorem proving in lean with learning",
            "neural theorem proving learning",
            "theorem proving benchmarks learning",
            "differential privacy for learning",
            "differential privacy accounting learning",
            "differential privacy lower bounds learning",
        ];
        let titles = ["", "", "", "", "", ""];
        let terms = topic_terms(&titles, &texts, &[vec![0, 1, 2], vec![3, 4, 5]], 3);
        assert_eq!(terms[0][0], "theorem proving");
        assert_eq!(terms[1][0], "differential privacy");
        assert!(!terms[0].contains(&"theorem".to_string()));
        // "learning" is in every paper of both topics: it ranks below the
        // topic's own term.
        let pos = terms[0].iter().position(|t| t == "learning");
        assert!(pos.is_none_or(|p| p > 0), "{:?}", terms[0]);
        assert_eq!(label(&terms[1], 1), terms[1].join(", "));
        assert_eq!(label(&[], 4), "topic 4");
    }
}
