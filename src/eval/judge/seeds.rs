//! Whose synthetic people are whose. A synthetic person depends on its set's seed and its index
//! (`SynthSpec::identity`), so sets of different seeds hold different people. The project's own
//! sets (training, evaluation, the window's, the tests') use seeds below [`PROJECT_SEEDS_END`];
//! the built-in judge's people come from three seeds of its own, far above them, so the judge
//! has never seen a person any model is trained or evaluated on, and it is measured on people it
//! never saw either.

use crate::synth::SynthSpec;

/// Seeds below this are the project's face sets (the README's table says which are whose).
pub const PROJECT_SEEDS_END: u64 = 1 << 32;
/// The people the built-in judge learns from.
pub const TRAINING: u64 = 0x4A55_4447_0000_0001;
/// The people its familiarity threshold is calibrated on.
pub const CALIBRATION: u64 = 0x4A55_4447_0000_0002;
/// The people its own figures are measured on.
pub const TEST: u64 = 0x4A55_4447_0000_0003;
/// Lighting conditions the judge's people are rendered under (the standard lights, twice
/// round with dimmer key lights the second time).
pub const LIGHTS: usize = 12;

/// The set of `identities` people of `seed` under every light.
pub fn people(seed: u64, identities: usize) -> SynthSpec {
    SynthSpec {
        identities,
        seed,
        lights: LIGHTS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// The random-generator seed a synthetic person is drawn from, as `SynthSpec::identity`
    /// computes it.
    fn person_seed(seed: u64, index: usize) -> u64 {
        seed ^ ((index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03)
    }

    #[test]
    fn the_judges_people_are_none_of_the_project_sets_people() {
        // Check the person seeds themselves: the judge's first 3,000 people of each seed against
        // the first 100,000 people of every seed up to 10,000 (training sets use 0–3, the
        // evaluations 7–29, the window 2026, the tests small numbers).
        let indices = 0..100_000usize;
        let streams: HashSet<u64> = indices.map(|i| person_seed(0, i)).collect();
        for judge_seed in [TRAINING, CALIBRATION, TEST] {
            for index in 0..3_000 {
                let wanted = person_seed(judge_seed, index);
                for project_seed in 0..=10_000u64 {
                    assert!(
                        !streams.contains(&(wanted ^ project_seed)),
                        "judge seed {judge_seed:#x} person {index} is person of project seed {project_seed}"
                    );
                }
            }
        }
        // And the judge's three sets among themselves.
        let mut seen = HashSet::new();
        for judge_seed in [TRAINING, CALIBRATION, TEST] {
            for index in 0..3_000 {
                assert!(seen.insert(person_seed(judge_seed, index)));
            }
        }
        assert!(TRAINING >= PROJECT_SEEDS_END);
    }

    #[test]
    fn the_person_seed_here_is_the_renderers() {
        use rand::SeedableRng;
        let spec = people(TRAINING, 3);
        let mut rng = rand_pcg::Pcg64::seed_from_u64(person_seed(TRAINING, 2));
        assert_eq!(spec.identity(2), crate::synth::Identity::random(&mut rng));
    }
}
