//! Packing texts into batches by length: texts are sorted so that each batch
//! holds texts of similar length, and a batch is closed when its padded size
//! (texts × longest text) would pass a token budget. Nothing is padded to the
//! model's maximum length.

/// Splits text indices into batches. `lengths[i]` is text i's token count.
///
/// Each batch lists indices of texts of similar length, longest first, and
/// satisfies `batch.len() * longest <= max_batch_tokens` and
/// `batch.len() <= max_batch_size`, except that a single text longer than the
/// budget forms a batch of its own. Every index appears exactly once.
pub fn plan_batches(
    lengths: &[usize],
    max_batch_tokens: usize,
    max_batch_size: usize,
) -> Vec<Vec<usize>> {
    let max_batch_size = max_batch_size.max(1);
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.sort_by(|&a, &b| lengths[b].cmp(&lengths[a]).then(a.cmp(&b)));

    let mut batches = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut longest = 0;
    for index in order {
        let len = lengths[index].max(1);
        let widest = longest.max(len);
        let fits =
            (current.len() + 1) * widest <= max_batch_tokens && current.len() < max_batch_size;
        if !current.is_empty() && !fits {
            batches.push(std::mem::take(&mut current));
            longest = 0;
        }
        longest = longest.max(len);
        current.push(index);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_index_once_and_within_budget() {
        let lengths: Vec<usize> = (0..500).map(|i| (i * 37) % 256 + 2).collect();
        let batches = plan_batches(&lengths, 2048, 64);
        let mut seen: Vec<usize> = batches.iter().flatten().copied().collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..500).collect::<Vec<_>>());
        for batch in &batches {
            let longest = batch.iter().map(|&i| lengths[i]).max().unwrap();
            assert!(batch.len() * longest <= 2048, "batch over budget");
            assert!(batch.len() <= 64);
        }
    }

    #[test]
    fn oversized_text_gets_its_own_batch() {
        let batches = plan_batches(&[10, 5000, 10], 100, 8);
        assert_eq!(batches[0], vec![1]);
        assert_eq!(batches[1], vec![0, 2]);
    }

    #[test]
    fn empty_input_gives_no_batches() {
        assert!(plan_batches(&[], 100, 8).is_empty());
    }
}
