//! Turns the LaTeX found in BibTeX field values into plain readable text:
//! accents (`{\"o}`, `\'e`, `\v{s}`, `{\ss}`), escaped specials (`\&`,
//! `\%`, `\_`), ties (`~`), dashes and quotes, text-formatting commands
//! (`\emph{…}`, `\textbf{…}`) and grouping braces. Math (`$…$`) and commands
//! it does not know (`\varepsilon`, `\mathcal{O}`) are kept as written, so
//! they stay readable instead of being mangled. The result is
//! whitespace-normalised.

use super::normalize::normalize_text;

/// Accent command, the letters it applies to, and the accented letters, in
/// the same order.
const ACCENTS: &[(&str, &str, &str)] = &[
    ("`", "aeinouwyAEINOUWY", "àèìǹòùẁỳÀÈÌǸÒÙẀỲ"),
    (
        "'",
        "acegiklmnoprsuwyzACEGIKLMNOPRSUWYZ",
        "áćéǵíḱĺḿńóṕŕśúẃýźÁĆÉǴÍḰĹḾŃÓṔŔŚÚẂÝŹ",
    ),
    (
        "^",
        "aceghijosuwyzACEGHIJOSUWYZ",
        "âĉêĝĥîĵôŝûŵŷẑÂĈÊĜĤÎĴÔŜÛŴŶẐ",
    ),
    ("~", "aeinouvyAEINOUVY", "ãẽĩñõũṽỹÃẼĨÑÕŨṼỸ"),
    ("=", "aegiouyAEGIOUY", "āēḡīōūȳĀĒḠĪŌŪȲ"),
    ("u", "aegiouAEGIOU", "ăĕğĭŏŭĂĔĞĬŎŬ"),
    (
        ".",
        "abcdefghmnoprstwxyzABCDEFGHIMNOPRSTWXYZ",
        "ȧḃċḋėḟġḣṁṅȯṗṙṡṫẇẋẏżȦḂĊḊĖḞĠḢİṀṄȮṖṘṠṪẆẊẎŻ",
    ),
    ("\"", "aehiotuwxyAEHIOUWXY", "äëḧïöẗüẅẍÿÄËḦÏÖÜẄẌŸ"),
    ("r", "auwyAU", "åůẘẙÅŮ"),
    ("H", "ouOU", "őűŐŰ"),
    (
        "v",
        "acdeghijklnorstuzACDEGHIKLNORSTUZ",
        "ǎčďěǧȟǐǰǩľňǒřšťǔžǍČĎĚǦȞǏǨĽŇǑŘŠŤǓŽ",
    ),
    ("c", "cdeghklnrstCDEGHKLNRST", "çḑȩģḩķļņŗşţÇḐȨĢḨĶĻŅŖŞŢ"),
    ("k", "aeiouAEIOU", "ąęįǫųĄĘĮǪŲ"),
    (
        "d",
        "abdehiklmnorstuvwyzABDEHIKLMNORSTUVWYZ",
        "ạḅḍẹḥịḳḷṃṇọṛṣṭụṿẉỵẓẠḄḌẸḤỊḲḶṂṆỌṚṢṬỤṾẈỴẒ",
    ),
];

/// Control words that stand for one character.
const SYMBOLS: &[(&str, &str)] = &[
    ("ss", "ß"),
    ("SS", "SS"),
    ("o", "ø"),
    ("O", "Ø"),
    ("ae", "æ"),
    ("AE", "Æ"),
    ("oe", "œ"),
    ("OE", "Œ"),
    ("aa", "å"),
    ("AA", "Å"),
    ("l", "ł"),
    ("L", "Ł"),
    ("i", "ı"),
    ("j", "ȷ"),
    ("dh", "ð"),
    ("DH", "Ð"),
    ("th", "þ"),
    ("TH", "Þ"),
    ("ng", "ŋ"),
    ("NG", "Ŋ"),
    ("textendash", "–"),
    ("textemdash", "—"),
    ("ldots", "…"),
    ("dots", "…"),
    ("textellipsis", "…"),
    ("textquoteleft", "‘"),
    ("textquoteright", "’"),
    ("textquotedblleft", "“"),
    ("textquotedblright", "”"),
    ("textasciitilde", "~"),
    ("textbackslash", "\\"),
    ("textunderscore", "_"),
    ("textless", "<"),
    ("textgreater", ">"),
    ("textbar", "|"),
    ("textdegree", "°"),
    ("copyright", "©"),
    ("textregistered", "®"),
    ("texttrademark", "™"),
    ("S", "§"),
    ("P", "¶"),
    ("LaTeX", "LaTeX"),
    ("TeX", "TeX"),
    ("BibTeX", "BibTeX"),
    ("space", " "),
    ("quad", " "),
    ("qquad", " "),
    ("newline", " "),
    ("par", " "),
];

/// Commands whose argument is kept and the command itself dropped.
const FORMATTING: &[&str] = &[
    "emph",
    "textit",
    "textbf",
    "textsc",
    "texttt",
    "textrm",
    "textsf",
    "textsl",
    "textup",
    "textmd",
    "textnormal",
    "uppercase",
    "lowercase",
    "mbox",
    "hbox",
    "url",
    "em",
    "it",
    "bf",
    "sc",
    "tt",
    "rm",
    "sf",
    "sl",
    "normalfont",
    "relax",
    "protect",
    "noopsort",
];

/// Converts a BibTeX field value to plain text (see the module docs).
///
/// ```
/// use relate::corpus::latex_to_text;
/// assert_eq!(latex_to_text(r#"G{\"o}del, Escher {\&} {B}ach -- \emph{an} $\varepsilon$"#),
///            "Gödel, Escher & Bach – an $\\varepsilon$");
/// ```
pub fn latex_to_text(input: &str) -> String {
    convert(input, true)
}

/// [`latex_to_text`] for text that is LaTeX only in part, as the titles
/// and abstracts of the arXiv metadata snapshot: a `~` stays as written,
/// since there it more often means "about" (`~10 GeV`) than a tie.
pub(crate) fn latex_to_text_keeping_tildes(input: &str) -> String {
    convert(input, false)
}

fn convert(input: &str, tie_as_space: bool) -> String {
    let chars: Vec<char> = input.chars().collect();
    let mut out = String::with_capacity(input.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '$' => i = copy_math(&chars, i, &mut out),
            '\\' => i = command(&chars, i, &mut out),
            '{' | '}' => i += 1,
            '~' => {
                out.push(if tie_as_space { ' ' } else { '~' });
                i += 1;
            }
            '-' if chars.get(i + 1) == Some(&'-') => {
                if chars.get(i + 2) == Some(&'-') {
                    out.push('—');
                    i += 3;
                } else {
                    out.push('–');
                    i += 2;
                }
            }
            '`' if chars.get(i + 1) == Some(&'`') => {
                out.push('“');
                i += 2;
            }
            '\'' if chars.get(i + 1) == Some(&'\'') => {
                out.push('”');
                i += 2;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    normalize_text(&out)
}

/// Copies `$…$` or `$$…$$` verbatim; returns the index after it. An
/// unclosed `$` is copied as a plain character.
fn copy_math(chars: &[char], start: usize, out: &mut String) -> usize {
    let fence = if chars.get(start + 1) == Some(&'$') {
        2
    } else {
        1
    };
    let mut i = start + fence;
    while i < chars.len() {
        if chars[i] == '\\' {
            i += 2;
            continue;
        }
        if chars[i] == '$' && (fence == 1 || chars.get(i + 1) == Some(&'$')) {
            let end = (i + fence).min(chars.len());
            out.extend(&chars[start..end]);
            return end;
        }
        i += 1;
    }
    out.push('$');
    start + 1
}

/// Handles a command starting at the backslash `chars[start]`; returns the
/// index after what it consumed.
fn command(chars: &[char], start: usize, out: &mut String) -> usize {
    let Some(&first) = chars.get(start + 1) else {
        out.push('\\');
        return start + 1;
    };
    if !first.is_ascii_alphabetic() {
        // A control symbol: one non-letter character.
        let after = start + 2;
        match first {
            '&' | '%' | '$' | '#' | '_' | '{' | '}' => out.push(first),
            ' ' | '\\' | ',' | ';' | ':' | '!' | '\n' | '\t' => out.push(' '),
            '-' | '/' | '@' => {}
            '`' | '\'' | '^' | '~' | '=' | '.' | '"' => return accent(chars, first, after, out),
            _ => {
                out.push('\\');
                out.push(first);
            }
        }
        return after;
    }
    let mut end = start + 1;
    while end < chars.len() && chars[end].is_ascii_alphabetic() {
        end += 1;
    }
    let name: String = chars[start + 1..end].iter().collect();
    let mut after = end;
    // TeX drops the spaces after a control word.
    while after < chars.len() && chars[after] == ' ' {
        after += 1;
    }
    if name.len() == 1
        && matches!(
            name.as_str(),
            "u" | "r" | "H" | "v" | "c" | "k" | "d" | "b" | "t"
        )
    {
        return accent(chars, first, after, out);
    }
    if let Some((_, text)) = SYMBOLS.iter().find(|(n, _)| *n == name) {
        out.push_str(text);
        return skip_empty_group(chars, after);
    }
    if FORMATTING.contains(&name.as_str()) {
        return after;
    }
    // Unknown: keep the command and its braced arguments as written.
    out.push('\\');
    out.push_str(&name);
    let mut i = end;
    while chars.get(i) == Some(&'{') {
        let close = matching_brace(chars, i);
        out.extend(&chars[i..close]);
        i = close;
    }
    if i == end && after > end {
        out.push(' ');
    }
    i.max(after)
}

/// Applies accent `mark` to the letter at `chars[at]` (or in a group there,
/// `{o}`, `{\i}`); returns the index after it.
fn accent(chars: &[char], mark: char, at: usize, out: &mut String) -> usize {
    let mut i = at;
    while chars.get(i) == Some(&' ') {
        i += 1;
    }
    let braced = chars.get(i) == Some(&'{');
    if braced {
        i += 1;
    }
    // `\i` and `\j` are the dotless letters used under accents.
    let (base, mut next) = match (chars.get(i), chars.get(i + 1)) {
        (Some('\\'), Some(&l)) if l == 'i' || l == 'j' => (Some(l), i + 2),
        (Some(&l), _) if l != '}' => (Some(l), i + 1),
        _ => (None, i),
    };
    if braced {
        while next < chars.len() && chars[next] == ' ' {
            next += 1;
        }
        if chars.get(next) == Some(&'}') {
            next += 1;
        }
    }
    match base {
        Some(base) => out.push_str(&compose(mark, base)),
        None => out.push(mark),
    }
    next
}

/// The accented letter, or the letter followed by the combining mark when
/// there is no single character for it.
fn compose(mark: char, base: char) -> String {
    let mut buf = [0u8; 4];
    let mark_str: &str = mark.encode_utf8(&mut buf);
    if let Some((_, letters, accented)) = ACCENTS.iter().find(|(m, _, _)| *m == mark_str) {
        if let Some(pos) = letters.chars().position(|l| l == base) {
            if let Some(c) = accented.chars().nth(pos) {
                return c.to_string();
            }
        }
    }
    let combining = match mark {
        '`' => '\u{300}',
        '\'' => '\u{301}',
        '^' => '\u{302}',
        '~' => '\u{303}',
        '=' => '\u{304}',
        'u' => '\u{306}',
        '.' => '\u{307}',
        '"' => '\u{308}',
        'r' => '\u{30a}',
        'H' => '\u{30b}',
        'v' => '\u{30c}',
        'c' => '\u{327}',
        'k' => '\u{328}',
        'd' => '\u{323}',
        'b' => '\u{331}',
        _ => '\u{361}',
    };
    [base, combining].iter().collect()
}

/// Skips an empty `{}` that ends a control word (`\ss{}`).
fn skip_empty_group(chars: &[char], at: usize) -> usize {
    if chars.get(at) == Some(&'{') && chars.get(at + 1) == Some(&'}') {
        at + 2
    } else {
        at
    }
}

/// Index after the brace closing the one at `open` (or the end of input).
fn matching_brace(chars: &[char], open: usize) -> usize {
    let mut depth = 0usize;
    for (i, &c) in chars.iter().enumerate().skip(open) {
        match c {
            '{' => depth += 1,
            '}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
    }
    chars.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accents_in_every_spelling() {
        assert_eq!(latex_to_text(r#"{\"o} \"o \"{o} {\" o}"#), "ö ö ö ö");
        assert_eq!(
            latex_to_text(r"Erd{\H{o}}s, Dvo\v{r}\'ak, {\'\i}, Ca\~{n}on"),
            "Erdős, Dvořák, í, Cañon"
        );
        assert_eq!(
            latex_to_text(r"Stra{\ss}e, Stra\ss e, \ss{}x"),
            "Straße, Straße, ßx"
        );
        assert_eq!(
            latex_to_text(r#"{\L}ukasz {\AA}ngstr{\"o}m \c{c}a \k{a}"#),
            "Łukasz Ångström ça ą"
        );
        assert_eq!(latex_to_text(r"\^{\j}"), "ĵ");
        assert_eq!(latex_to_text(r#"\v{q} \" u"#), "q\u{30c} ü");
    }

    #[test]
    fn specials_ties_braces_and_formatting() {
        assert_eq!(
            latex_to_text(r"R\&D~50\% of a\_b \{x\}"),
            "R&D 50% of a_b {x}"
        );
        assert_eq!(
            latex_to_text(r"{{BERT}}: \textbf{Pre-training} of {\em deep} nets"),
            "BERT: Pre-training of deep nets"
        );
        assert_eq!(
            latex_to_text("pages 1--10 --- ``quoted''"),
            "pages 1–10 — “quoted”"
        );
    }

    #[test]
    fn math_and_unknown_commands_stay_readable() {
        assert_eq!(
            latex_to_text(r"an $O(\sqrt{n})$ bound"),
            r"an $O(\sqrt{n})$ bound"
        );
        assert_eq!(
            latex_to_text(r"(\varepsilon, \delta)-DP"),
            r"(\varepsilon, \delta)-DP"
        );
        assert_eq!(
            latex_to_text(r"\mathcal{O}(n) and varepsilon"),
            r"\mathcal{O}(n) and varepsilon"
        );
        assert_eq!(
            latex_to_text(r"costs 5\$ or $ alone"),
            "costs 5$ or $ alone"
        );
        assert_eq!(latex_to_text("trailing \\"), "trailing \\");
    }

    #[test]
    fn tildes_can_be_kept() {
        assert_eq!(
            latex_to_text_keeping_tildes(r"Erd\H{o}s at ~10 GeV, see Fig.~2"),
            "Erdős at ~10 GeV, see Fig.~2"
        );
        assert_eq!(latex_to_text(r"see Fig.~2"), "see Fig. 2");
    }
}
