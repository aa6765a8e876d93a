//! Splitting a face set by identity: test identities are never seen in training.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};

/// Identity names on each side of the split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Split {
    /// Identities the model trains on; D's identity class `i` is `train[i]`.
    pub train: Vec<String>,
    /// Identities held out for samples and evaluation.
    pub test: Vec<String>,
}

impl Split {
    /// A seeded split holding out `test_fraction` of the identities (at least one, and at
    /// least one left to train on). Needs two identities or more.
    pub fn by_identity(names: &[String], test_fraction: f32, seed: u64) -> anyhow::Result<Self> {
        if names.len() < 2 {
            anyhow::bail!(
                "the face set has {} identit{}; training needs at least two (one to train on, one to test)",
                names.len(),
                if names.len() == 1 { "y" } else { "ies" }
            );
        }
        let mut shuffled = names.to_vec();
        shuffled.shuffle(&mut Pcg64::seed_from_u64(seed ^ 0x5EED_5EED));
        let test_count = ((names.len() as f32 * test_fraction).round() as usize).clamp(1, names.len() - 1);
        let test = shuffled.split_off(names.len() - test_count);
        Ok(Self { train: shuffled, test })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_seeded_and_disjoint() {
        let names: Vec<String> = (0..10).map(|i| format!("p{i}")).collect();
        let a = Split::by_identity(&names, 0.2, 3).unwrap();
        assert_eq!(a, Split::by_identity(&names, 0.2, 3).unwrap());
        assert_eq!((a.train.len(), a.test.len()), (8, 2));
        assert!(a.test.iter().all(|t| !a.train.contains(t)));
        assert!(Split::by_identity(&names[..1], 0.2, 3).is_err());
    }
}
