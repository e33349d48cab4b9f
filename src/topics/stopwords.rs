//! The stop list for topic labels: common English function words, the
//! stock vocabulary of abstracts ("we propose a novel approach ... results
//! show"), and markup left over from LaTeX formulas. None of these can name
//! a topic.

const ENGLISH: &str = "a about above after again against all almost along also although always am
among an and another any are aren around as at be became because been before being below
between both but by can cannot could did didn do does doesn doing don done down during each
either else enough etc even ever every few for from further had has have having he her here
hers herself him himself his how however i if in into is isn it its itself just least less
let like many may me might more most much must my myself neither no nor not now of off often
on once one only onto or other others otherwise our ours ourselves out over own per perhaps
rather same several she should since so some such than that the their theirs them themselves
then there therefore these they this those though through thus to too toward towards under
until up upon us very via was we were what whatever when where whereas whether which while
who whom whose why will with within without would yet you your yours yourself yourselves
first second third two three four five six seven eight nine ten hundred thousand million
e g eg ie i.e e.g al et";

const ACADEMIC: &str = "paper papers work works propose proposes proposed proposing present
presents presented introduce introduces introduced study studies studied investigate
investigates investigated show shows showed shown demonstrate demonstrates demonstrated
result results method methods approach approaches technique techniques framework based use
uses used using novel new existing prior previous recent recently state art significant
significantly substantial substantially problem problems task tasks provide provides provided
achieve achieves achieved achieving improve improves improved improving improvement
improvements experiment experiments experimental empirical empirically evaluation evaluate
evaluated performance effective effectively efficient efficiently various different several
address addresses addressing key important challenge challenges challenging furthermore
moreover specifically particular particularly general generally well better best make makes
made given give gives obtain obtains obtained consider considers considered find finds found
develop develops developed enable enables enabling lead leads leading remain remains
remaining main able wide widely widespread across highly often typically including include
includes extensive extensively outperform outperforms conduct conducted conducting aim aims
argue analysis analyze analyse term terms way ways thereby still toward respect standard
area areas contribution contributions available vast goal goals comprehensive perspective
interest interesting discovered central
cases case number numbers set sets high low known large-scale potential possible take takes
need needs needed allows allow allowed directly due terms overall yet whose instead
derive derives derived identify identifies identified related relate relates consistent
consistently specific specifically real simple simpler limited limitation limitations current
currently trained update updates baseline baselines time times light classic classical
element elements question questions setting settings unknown face faces contrast exact
certain suitable relevant corresponding respectively additionally finally thus hence
already whole easy easier hard harder fast faster slow lead led yield yields yielding
ensure ensures ensuring require requires required requiring explore explores explored
exploring focus focuses focused aspect aspects regarding compared compare comparing
beyond despite lack lacks";

const FORMULA: &str = "varepsilon epsilon delta alpha beta gamma lambda sigma theta omega tilde
sqrt frac mathcal mathfrak mathbb mathrm leq geq le ge log big bigg left right cdot dots
ldots infty sum prod rightarrow leftarrow obig";

/// True when `word` (lowercase) is on the stop list.
pub(crate) fn is_stop_word(word: &str) -> bool {
    use std::collections::HashSet;
    use std::sync::OnceLock;
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| {
        ENGLISH
            .split_whitespace()
            .chain(ACADEMIC.split_whitespace())
            .chain(FORMULA.split_whitespace())
            .collect()
    })
    .contains(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_function_words_and_academic_filler() {
        for w in [
            "the", "we", "paper", "propose", "results", "method", "approach", "show",
        ] {
            assert!(is_stop_word(w), "{w}");
        }
        for w in [
            "privacy",
            "bandit",
            "theorem",
            "federated",
            "large",
            "language",
        ] {
            assert!(!is_stop_word(w), "{w}");
        }
    }
}
