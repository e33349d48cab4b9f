//! Which papers a date range and category prefixes keep: the
//! [`PartialDate`] that `--since`/`--until` take (and the lenient reading of
//! a paper's own `date` field), and [`RecordFilter`], the record-level
//! filter that `relate ingest` applies before storing and `relate
//! recommend` applies to its candidates.
//!
//! A paper is kept when its date overlaps the range (a paper dated `2024`
//! is kept by `since 2024-06`) and when one of its categories starts with
//! one of the prefixes, ignoring case (`cs.` keeps all of computer science,
//! `hep` every high-energy physics archive). A paper's date may be written
//! `2024-03-14` (or shorter, or with `/`) or in words (`14 March 2024`); a
//! paper without a date (or whose date has no four-digit year) is dropped
//! as soon as a bound is given; one without categories as soon as a prefix
//! is given.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

use crate::corpus::Paper;

/// A date as a filter takes it: `YYYY`, `YYYY-MM` or `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartialDate {
    year: u16,
    month: Option<u8>,
    day: Option<u8>,
}

impl PartialDate {
    /// Reads the date a paper's `date` field starts with (`2024`,
    /// `2024-03`, `2024-03-14`, `2024-03-14T10:00`, `2024/3/14`); `None`
    /// when it does not start with a four-digit year.
    pub fn from_paper_date(text: &str) -> Option<PartialDate> {
        let text = text.trim();
        let year_digits: String = text.chars().take_while(char::is_ascii_digit).collect();
        let number = |digits: &str| digits.parse::<u8>().ok();
        let (year, month, day) = match year_digits.len() {
            4 => {
                let mut rest = text[4..].split(['-', '/']).skip(1).map(|part| {
                    let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
                    number(&digits)
                });
                (
                    year_digits.parse().ok()?,
                    rest.next().flatten(),
                    rest.next().flatten(),
                )
            }
            // Compact forms: YYYYMM and YYYYMMDD.
            6 | 8 => (
                year_digits[..4].parse().ok()?,
                number(&year_digits[4..6]),
                year_digits.get(6..8).and_then(number),
            ),
            _ => return Self::from_words(text),
        };
        let month = month.filter(|m| (1..=12).contains(m));
        let day = month.and_then(|m| day.filter(|&d| (1..=days_in_month(year, m)).contains(&d)));
        Some(PartialDate { year, month, day })
    }

    /// Reads a date written in words: a four-digit year with, optionally,
    /// an English month name (or its first three letters) and a day
    /// before or after it (`March 2021`, `14 Mar 2021`, `Mar. 14, 2021`).
    fn from_words(text: &str) -> Option<PartialDate> {
        let words: Vec<&str> = text
            .split(|c: char| c.is_whitespace() || c == ',' || c == '.')
            .filter(|w| !w.is_empty())
            .collect();
        let year: u16 = words
            .iter()
            .find(|w| w.len() == 4 && w.bytes().all(|b| b.is_ascii_digit()))?
            .parse()
            .ok()?;
        let month = words.iter().find_map(|w| crate::corpus::month_number(w));
        let day = month.and_then(|m| {
            words
                .iter()
                .filter(|w| (1..=2).contains(&w.len()))
                .find_map(|w| w.parse::<u8>().ok())
                .filter(|&d| (1..=days_in_month(year, m)).contains(&d))
        });
        Some(PartialDate { year, month, day })
    }

    /// The first and last day it covers, as (year, month, day).
    fn first(&self) -> (u16, u8, u8) {
        (self.year, self.month.unwrap_or(1), self.day.unwrap_or(1))
    }

    fn last(&self) -> (u16, u8, u8) {
        (self.year, self.month.unwrap_or(12), self.day.unwrap_or(31))
    }
}

impl FromStr for PartialDate {
    type Err = String;
    /// Parses `YYYY`, `YYYY-MM` or `YYYY-MM-DD` strictly.
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let bad = || format!("{s:?} is not a date: write YYYY, YYYY-MM or YYYY-MM-DD");
        let parts: Vec<&str> = s.trim().split('-').collect();
        let widths_ok = parts.len() <= 3
            && parts
                .iter()
                .zip([4, 2, 2])
                .all(|(p, w)| p.len() == w && p.bytes().all(|b| b.is_ascii_digit()));
        if !widths_ok {
            return Err(bad());
        }
        let year = parts[0].parse().map_err(|_| bad())?;
        let month = match parts.get(1) {
            Some(m) => Some(
                m.parse()
                    .ok()
                    .filter(|m| (1..=12).contains(m))
                    .ok_or_else(bad)?,
            ),
            None => None,
        };
        let day = match (parts.get(2), month) {
            (Some(d), Some(m)) => {
                let d: u8 = d.parse().map_err(|_| bad())?;
                let last = days_in_month(year, m);
                if !(1..=last).contains(&d) {
                    return Err(format!(
                        "{s:?} is not a date: {year:04}-{m:02} has {last} days (write YYYY, \
                         YYYY-MM or YYYY-MM-DD)"
                    ));
                }
                Some(d)
            }
            _ => None,
        };
        Ok(PartialDate { year, month, day })
    }
}

/// Days in `month` (1–12) of `year`, in the Gregorian calendar.
fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl fmt::Display for PartialDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}", self.year)?;
        if let Some(m) = self.month {
            write!(f, "-{m:02}")?;
        }
        if let Some(d) = self.day {
            write!(f, "-{d:02}")?;
        }
        Ok(())
    }
}

impl Serialize for PartialDate {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The date range and category prefixes a paper must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RecordFilter {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<PartialDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<PartialDate>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
}

impl RecordFilter {
    /// Whether it keeps every paper.
    pub fn is_empty(&self) -> bool {
        self.since.is_none() && self.until.is_none() && self.categories.is_empty()
    }

    /// Refuses a range that no date can be in (`since` after `until`) and
    /// an empty category prefix, saying which.
    pub fn check(&self) -> std::result::Result<(), String> {
        if let (Some(since), Some(until)) = (self.since, self.until) {
            if since.first() > until.last() {
                return Err(format!(
                    "--since {since} is after --until {until}, so no paper could be kept; swap them"
                ));
            }
        }
        if self.categories.iter().any(|c| c.trim().is_empty()) {
            return Err(
                "--category was given an empty value; give a category or its start \
                        (cs. or cs.CL)"
                    .to_string(),
            );
        }
        Ok(())
    }

    /// Whether `paper` matches the range and one of the prefixes.
    pub fn keeps(&self, paper: &Paper) -> bool {
        in_date_range(paper, self.since, self.until) && has_category_prefix(paper, &self.categories)
    }
}

/// Whether `paper`'s date overlaps `since..=until` (true when neither is
/// given; false for an unknown date when one is).
fn in_date_range(paper: &Paper, since: Option<PartialDate>, until: Option<PartialDate>) -> bool {
    if since.is_none() && until.is_none() {
        return true;
    }
    let Some(date) = paper.date.as_deref().and_then(PartialDate::from_paper_date) else {
        return false;
    };
    !(since.is_some_and(|s| date.last() < s.first())
        || until.is_some_and(|u| date.first() > u.last()))
}

/// Whether one of `paper`'s categories starts with one of `prefixes`,
/// ignoring case (true when there are no prefixes).
fn has_category_prefix(paper: &Paper, prefixes: &[String]) -> bool {
    if prefixes.is_empty() {
        return true;
    }
    paper.categories.iter().any(|c| {
        prefixes.iter().any(|want| {
            c.len() >= want.len()
                && c.is_char_boundary(want.len())
                && c[..want.len()].eq_ignore_ascii_case(want)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_strictly_for_filters_and_leniently_from_papers() {
        assert_eq!("2024".parse::<PartialDate>().unwrap().to_string(), "2024");
        assert_eq!(
            "2024-03".parse::<PartialDate>().unwrap().to_string(),
            "2024-03"
        );
        assert_eq!(
            "2024-03-14".parse::<PartialDate>().unwrap().to_string(),
            "2024-03-14"
        );
        for bad in [
            "24",
            "2024-3",
            "2024-13",
            "2024-03-32",
            "March 2024",
            "2024-03-14-01",
            "",
        ] {
            let err = bad.parse::<PartialDate>().unwrap_err();
            assert!(err.contains("YYYY-MM-DD"), "{bad}: {err}");
        }
        for (bad, days) in [("2021-02-29", "28 days"), ("2023-04-31", "30 days")] {
            let err = bad.parse::<PartialDate>().unwrap_err();
            assert!(err.contains(days), "{bad}: {err}");
        }
        assert!("2024-02-29".parse::<PartialDate>().is_ok());
        assert!("2000-02-29".parse::<PartialDate>().is_ok());
        assert!("1900-02-29".parse::<PartialDate>().is_err());
        let paper = |d: &str| PartialDate::from_paper_date(d).map(|d| d.to_string());
        assert_eq!(paper("20200101").as_deref(), Some("2020-01-01"));
        assert_eq!(paper("202003").as_deref(), Some("2020-03"));
        assert_eq!(paper("2020-02-30").as_deref(), Some("2020-02"));
        assert_eq!(paper("2020-13-45").as_deref(), Some("2020"));
        assert_eq!(paper("2024-03-14T10:00:00Z").as_deref(), Some("2024-03-14"));
        assert_eq!(paper("2024/3/5").as_deref(), Some("2024-03-05"));
        assert_eq!(paper("2023").as_deref(), Some("2023"));
        assert_eq!(paper("14 March 2024").as_deref(), Some("2024-03-14"));
        assert_eq!(paper("Mar. 5, 2021").as_deref(), Some("2021-03-05"));
        assert_eq!(paper("March 2021").as_deref(), Some("2021-03"));
        assert_eq!(paper("Sept 2020").as_deref(), Some("2020-09"));
        assert_eq!(paper("Marine studies, 2019").as_deref(), Some("2019"));
        assert_eq!(paper("Spring 2022").as_deref(), Some("2022"));
        assert_eq!(paper("n.d."), None);
    }

    #[test]
    fn a_record_filter_keeps_overlapping_dates_and_matching_prefixes() {
        let paper = |date: Option<&str>, categories: &[&str]| Paper {
            id: "x".into(),
            title: "t".into(),
            date: date.map(String::from),
            categories: categories.iter().map(|c| c.to_string()).collect(),
            ..Paper::default()
        };
        let all = RecordFilter::default();
        assert!(all.is_empty() && all.keeps(&paper(None, &[])));
        let field = RecordFilter {
            since: Some("2023-06".parse().unwrap()),
            until: Some("2024".parse().unwrap()),
            categories: vec!["cs.".into(), "HEP".into()],
        };
        assert!(!field.is_empty() && field.check().is_ok());
        let reversed = RecordFilter {
            since: Some("2024-02".parse().unwrap()),
            until: Some("2024-01".parse().unwrap()),
            ..RecordFilter::default()
        };
        assert!(reversed
            .check()
            .unwrap_err()
            .contains("--since 2024-02 is after --until 2024-01"));
        let same_month = RecordFilter {
            since: Some("2024-01".parse().unwrap()),
            until: Some("2024-01-15".parse().unwrap()),
            ..RecordFilter::default()
        };
        assert!(same_month.check().is_ok());
        assert!(field.keeps(&paper(Some("2023-06-30"), &["math.CO", "cs.LG"])));
        assert!(field.keeps(&paper(Some("2023"), &["hep-th"])));
        assert!(field.keeps(&paper(Some("2024-12-31"), &["CS.CL"])));
        assert!(!field.keeps(&paper(Some("2023-05-31"), &["cs.LG"])));
        assert!(!field.keeps(&paper(Some("2025-01"), &["cs.LG"])));
        assert!(!field.keeps(&paper(Some("2024-01-01"), &["math.CO", "stat.ML"])));
        assert!(!field.keeps(&paper(None, &["cs.LG"])));
        assert!(field.keeps(&paper(Some("June 2024"), &["cs.LG"])));
        assert!(!field.keeps(&paper(Some("Spring"), &["cs.LG"])));
        assert!(!field.keeps(&paper(Some("2024-01-01"), &[])));
    }
}
