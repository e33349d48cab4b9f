//! Stable paper identifiers.
//!
//! A paper keeps the identifier its source gives it: the arXiv id for the
//! arXiv snapshot, the DOI (else the citation key) for BibTeX, the `id` field
//! (else the `doi` field) for JSON lines and CSV. A paper without one gets an
//! id derived from its title: `title:` followed by the first 16 hex digits of
//! the SHA-256 of the title's letters and digits, lowercased, with everything
//! else (spaces, punctuation, case) dropped. The same title therefore always
//! gets the same id, whatever its spacing, case or punctuation, and the
//! prefix keeps these ids apart from arXiv ids and DOIs.

use sha2::{Digest, Sha256};

/// Prefix of ids derived from titles.
pub const TITLE_ID_PREFIX: &str = "title:";

/// The id derived from a title, for papers whose source gives none:
/// `title:` followed by the first 16 hex digits of the SHA-256 of the
/// title's letters and digits, lowercased. Spacing, case and punctuation do
/// not change it.
///
/// ```
/// use relate::corpus::title_id;
/// assert_eq!(title_id("Attention Is All You Need"), title_id(" attention is  all you need!"));
/// assert!(title_id("Attention Is All You Need").starts_with("title:"));
/// ```
pub fn title_id(title: &str) -> String {
    let key: String = title
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    let digest = Sha256::digest(key.as_bytes());
    let mut id = String::with_capacity(TITLE_ID_PREFIX.len() + 16);
    id.push_str(TITLE_ID_PREFIX);
    for byte in &digest[..8] {
        id.push_str(&format!("{byte:02x}"));
    }
    id
}

/// Normalises a DOI so the same DOI written differently gives the same id:
/// a `https://doi.org/`, `http://dx.doi.org/` or `doi:` prefix is removed,
/// whitespace is trimmed and the DOI is lowercased (DOIs are
/// case-insensitive). Returns `None` when nothing is left.
///
/// ```
/// use relate::corpus::normalize_doi;
/// assert_eq!(normalize_doi(" https://doi.org/10.1000/ABC "), Some("10.1000/abc".to_string()));
/// assert_eq!(normalize_doi("doi:"), None);
/// ```
pub fn normalize_doi(doi: &str) -> Option<String> {
    let mut rest = doi.trim();
    let lower = rest.to_ascii_lowercase();
    for prefix in [
        "https://doi.org/",
        "http://doi.org/",
        "https://dx.doi.org/",
        "http://dx.doi.org/",
        "doi:",
    ] {
        if lower.starts_with(prefix) {
            rest = rest[prefix.len()..].trim();
            break;
        }
    }
    if rest.is_empty() {
        None
    } else {
        Some(rest.to_lowercase())
    }
}

/// Other spellings of a paper id a user may type, to try when the id as
/// typed is not in the library: a DOI without its `https://doi.org/` or
/// `doi:` prefix (as typed and lowercased, as BibTeX and `doi` fields store
/// it), and an arXiv id without an `arXiv:` prefix or its abs/pdf address,
/// with and without its version (`2301.00001v2`).
pub fn id_spellings(input: &str) -> Vec<String> {
    let input = input.trim();
    let mut spellings: Vec<String> = Vec::new();
    let mut add = |s: &str| {
        if !s.is_empty() && s != input && !spellings.iter().any(|t| t == s) {
            spellings.push(s.to_string());
        }
    };
    if let Some(doi) = normalize_doi(input).filter(|doi| doi.starts_with("10.")) {
        // The DOI as typed, its prefix removed.
        if let Some(typed) = input
            .get(input.len().saturating_sub(doi.len())..)
            .filter(|typed| typed.to_lowercase() == doi)
        {
            add(typed);
        }
        add(&doi);
    }
    let arxiv = without_arxiv_address(input);
    add(arxiv);
    if let Some(head) = without_version(arxiv) {
        add(head);
    }
    add(&canonical_id(input));
    spellings
}

/// The DOI prefix arXiv gives its papers (`10.48550/arXiv.2301.00001`),
/// lowercased.
const ARXIV_DOI_PREFIX: &str = "10.48550/arxiv.";

/// One spelling for every spelling of an id, so that ids from different
/// sources can be compared: an arXiv id without its
/// `arXiv:` prefix, abs/pdf address or version (`2301.00001`, as the arXiv
/// snapshot has it; also for arXiv's DOIs, `10.48550/arXiv.2301.00001`),
/// a DOI without its address or `doi:` prefix and lowercased (as
/// [`normalize_doi`]). Any other id is kept as given
/// (trimmed).
///
/// ```
/// use relate::corpus::canonical_id;
/// assert_eq!(canonical_id("https://arxiv.org/abs/2301.00001v3"), "2301.00001");
/// assert_eq!(canonical_id("arXiv:hep-th/9901001"), "hep-th/9901001");
/// assert_eq!(canonical_id("https://doi.org/10.1000/ABC"), "10.1000/abc");
/// assert_eq!(canonical_id("smith2020"), "smith2020");
/// ```
pub fn canonical_id(id: &str) -> String {
    let id = id.trim();
    if let Some(doi) = normalize_doi(id).filter(|doi| is_doi(doi)) {
        // arXiv's own DOIs name the arXiv paper.
        return match doi.strip_prefix(ARXIV_DOI_PREFIX) {
            Some(arxiv) if is_arxiv_id(arxiv) => arxiv.to_string(),
            _ => doi,
        };
    }
    let arxiv = without_arxiv_address(id);
    let bare = without_version(arxiv).unwrap_or(arxiv);
    if is_arxiv_id(bare) {
        bare.to_string()
    } else {
        id.to_string()
    }
}

/// The canonical form of `id` (see [`canonical_id`]) when it names an
/// arXiv paper or a DOI, in any of their spellings.
///
/// ```
/// use relate::corpus::source_id;
/// assert_eq!(source_id("arXiv:2301.00001v2").as_deref(), Some("2301.00001"));
/// assert_eq!(source_id("smith2020"), None);
/// ```
pub fn source_id(id: &str) -> Option<String> {
    let canonical = canonical_id(id);
    (is_arxiv_id(&canonical) || is_doi(&canonical)).then_some(canonical)
}

/// A DOI: `10.`, a registrant code of digits and dots, `/` and a suffix.
fn is_doi(text: &str) -> bool {
    text.strip_prefix("10.")
        .and_then(|rest| rest.split_once('/'))
        .is_some_and(|(registrant, suffix)| {
            !registrant.is_empty()
                && registrant.bytes().all(|b| b.is_ascii_digit() || b == b'.')
                && !suffix.trim().is_empty()
        })
}

/// An arXiv id without version: `YYMM.NNNN(N)` since 2007, or an archive
/// (with an optional subject class) and seven digits before
/// (`hep-th/9901001`, `math.AG/0601001`).
fn is_arxiv_id(text: &str) -> bool {
    let digits = |s: &str, n: std::ops::RangeInclusive<usize>| {
        n.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
    };
    if let Some((month, number)) = text.split_once('.') {
        if digits(month, 4..=4) && digits(number, 4..=5) {
            return true;
        }
    }
    let Some((archive, number)) = text.split_once('/') else {
        return false;
    };
    let (name, class) = archive.split_once('.').unwrap_or((archive, "AA"));
    digits(number, 7..=7)
        && !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
        && class.len() == 2
        && class.bytes().all(|b| b.is_ascii_uppercase())
}

/// `input` without an arXiv address or prefix (`https://arxiv.org/abs/`,
/// `…/pdf/`, `arXiv:`) and a trailing `/` or `.pdf`.
fn without_arxiv_address(input: &str) -> &str {
    let lower = input.to_ascii_lowercase();
    let mut arxiv = input;
    for prefix in [
        "https://arxiv.org/abs/",
        "http://arxiv.org/abs/",
        "https://arxiv.org/pdf/",
        "http://arxiv.org/pdf/",
        "https://export.arxiv.org/abs/",
        "http://export.arxiv.org/abs/",
        "arxiv.org/abs/",
        "arxiv.org/pdf/",
        "arxiv:",
    ] {
        if lower.starts_with(prefix) {
            arxiv = &input[prefix.len()..];
            break;
        }
    }
    let arxiv = arxiv.trim_end_matches('/');
    arxiv.strip_suffix(".pdf").unwrap_or(arxiv)
}

/// `id` without a version suffix (`v2`) after a digit, if it has one.
fn without_version(id: &str) -> Option<&str> {
    let at = id.rfind('v')?;
    let (head, version) = (&id[..at], &id[at + 1..]);
    (!version.is_empty()
        && version.bytes().all(|b| b.is_ascii_digit())
        && head.ends_with(|c: char| c.is_ascii_digit()))
    .then_some(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_id_ignores_spacing_case_and_punctuation() {
        let a = title_id("Faster Rates of Convergence: A Study");
        assert_eq!(a, title_id("faster  rates of\nconvergence -- a study"));
        assert_eq!(a, title_id("FASTER RATES OF CONVERGENCE A STUDY."));
        assert_ne!(a, title_id("Faster Rates of Convergence: A Survey"));
        assert_eq!(a.len(), TITLE_ID_PREFIX.len() + 16);
        assert!(a[TITLE_ID_PREFIX.len()..]
            .chars()
            .all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn title_id_keeps_non_ascii_letters() {
        assert_ne!(title_id("Schrödinger"), title_id("Schrdinger"));
        assert_eq!(title_id("SCHRÖDINGER"), title_id("schrödinger"));
    }

    #[test]
    fn id_spellings_cover_doi_and_arxiv_forms() {
        assert_eq!(
            id_spellings("https://doi.org/10.18653/v1/N19-1423"),
            ["10.18653/v1/N19-1423", "10.18653/v1/n19-1423"]
        );
        assert_eq!(id_spellings("10.1000/GHI"), ["10.1000/ghi"]);
        assert_eq!(
            id_spellings("arXiv:2301.00001v2"),
            ["2301.00001v2", "2301.00001"]
        );
        assert_eq!(
            id_spellings("https://arxiv.org/abs/math/0406594"),
            ["math/0406594"]
        );
        assert_eq!(
            id_spellings("https://arxiv.org/pdf/0704.0001v1.pdf"),
            ["0704.0001v1", "0704.0001"]
        );
        assert_eq!(
            id_spellings("https://doi.org/10.48550/arXiv.2301.00001"),
            [
                "10.48550/arXiv.2301.00001",
                "10.48550/arxiv.2301.00001",
                "2301.00001"
            ]
        );
        assert!(id_spellings("title:abc").is_empty());
        assert!(id_spellings("dev").is_empty());
    }

    #[test]
    fn canonical_ids_are_bare_arxiv_ids_and_plain_dois() {
        for given in [
            "2301.00001",
            "2301.00001v2",
            "arXiv:2301.00001",
            " ARXIV:2301.00001v12 ",
            "https://arxiv.org/abs/2301.00001v1",
            "http://arxiv.org/pdf/2301.00001v1.pdf",
            "arxiv.org/abs/2301.00001/",
            "https://export.arxiv.org/abs/2301.00001",
        ] {
            assert_eq!(canonical_id(given), "2301.00001", "{given}");
        }
        assert_eq!(canonical_id("0704.0001"), "0704.0001");
        assert_eq!(canonical_id("arXiv:math.AG/0601001v1"), "math.AG/0601001");
        assert_eq!(canonical_id("hep-th/9901001v2"), "hep-th/9901001");
        assert_eq!(canonical_id("doi:10.1000/ABC"), "10.1000/abc");
        assert_eq!(canonical_id("10.48550/ARXIV.2301.00001"), "2301.00001");
        assert_eq!(
            canonical_id("https://doi.org/10.48550/arXiv.hep-th/9901001"),
            "hep-th/9901001"
        );
        assert_eq!(
            canonical_id("10.48550/arXiv.notanid"),
            "10.48550/arxiv.notanid"
        );
        assert_eq!(canonical_id("10.18653/v1/N19-1423"), "10.18653/v1/n19-1423");
        // Anything else is kept as given.
        for kept in [
            "smith2020deep",
            "title:0123456789abcdef",
            "paper-v2",
            "2301.001",
            "W2301.00001",
            "Hep-th/9901001",
            "10./x",
            "https://example.org/abs/2301.00001",
        ] {
            assert_eq!(canonical_id(kept), kept, "{kept}");
        }
    }

    #[test]
    fn doi_prefixes_and_case_are_removed() {
        assert_eq!(normalize_doi("DOI:10.1/X").as_deref(), Some("10.1/x"));
        assert_eq!(
            normalize_doi("http://dx.doi.org/10.1/X").as_deref(),
            Some("10.1/x")
        );
        assert_eq!(normalize_doi("  "), None);
    }
}
