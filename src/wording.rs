//! Counted nouns in what `relate` tells its user: "1 paper", "2 papers",
//! so that a summary reads right whatever the count.

/// `n` followed by `noun`, in the plural unless `n` is 1: `count(1,
/// "paper")` is "1 paper", `count(0, "topic")` "0 topics", `count(3,
/// "query")` "3 queries". For nouns whose plural is regular (an "s", or
/// "ies" after a consonant and "y"); the last word of `noun` takes it.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        return format!("{n} {noun}");
    }
    let mut chars = noun.chars().rev();
    match (chars.next(), chars.next()) {
        (Some('y'), Some(before)) if !"aeiou".contains(before) => {
            format!("{n} {}ies", &noun[..noun.len() - 1])
        }
        _ => format!("{n} {noun}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn one_is_singular_and_every_other_count_plural() {
        assert_eq!(count(1, "paper"), "1 paper");
        assert_eq!(count(0, "paper"), "0 papers");
        assert_eq!(count(2, "outlier"), "2 outliers");
        assert_eq!(count(1_000_000, "vector"), "1000000 vectors");
        assert_eq!(
            count(5, "added or changed paper"),
            "5 added or changed papers"
        );
    }

    #[test]
    fn a_consonant_and_y_become_ies() {
        assert_eq!(count(3, "query"), "3 queries");
        assert_eq!(count(1, "query"), "1 query");
        assert_eq!(count(2, "key"), "2 keys");
    }
}
