//! Pose-invariant identification (the paper's Multi-PIE protocol) and verification, on feature
//! vectors: nothing here knows about models or images.

use crate::model::rotator::cosine;

/// A feature with its labels.
#[derive(Clone, Debug)]
pub struct Labelled {
    /// Identity index.
    pub identity: usize,
    /// Pose bin.
    pub bin: usize,
    /// The feature `f(x)`.
    pub feature: Vec<f32>,
}

/// The identity of the gallery feature (identity, feature) most similar (cosine) to `probe`.
pub fn nearest<'a>(gallery: impl IntoIterator<Item = (usize, &'a [f32])>, probe: &[f32]) -> Option<usize> {
    gallery
        .into_iter()
        .map(|(identity, feature)| (identity, cosine(feature, probe)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(identity, _)| identity)
}

/// Rank-1 identification rate per pose bin: each probe is matched to its most similar gallery
/// feature; `None` for bins without probes.
pub fn rank1_per_bin(gallery: &[Labelled], probes: &[Labelled], num_bins: usize) -> Vec<Option<f64>> {
    let mut hits = vec![0usize; num_bins];
    let mut counts = vec![0usize; num_bins];
    for probe in probes {
        counts[probe.bin] += 1;
        if nearest(gallery.iter().map(|g| (g.identity, g.feature.as_slice())), &probe.feature) == Some(probe.identity) {
            hits[probe.bin] += 1;
        }
    }
    hits.iter().zip(&counts).map(|(&h, &c)| (c > 0).then(|| h as f64 / c as f64)).collect()
}

/// The mean of the defined values among `bins` (`None` when none is defined).
pub fn mean_over(values: &[Option<f64>], bins: impl IntoIterator<Item = usize>) -> Option<f64> {
    let defined: Vec<f64> = bins.into_iter().filter_map(|b| values.get(b).copied().flatten()).collect();
    (!defined.is_empty()).then(|| defined.iter().sum::<f64>() / defined.len() as f64)
}

/// The similarities of every probe with every gallery feature, split into same-identity
/// (genuine) and different-identity (impostor) pairs.
pub fn genuine_and_impostor(gallery: &[Labelled], probes: &[Labelled]) -> (Vec<f32>, Vec<f32>) {
    let (mut genuine, mut impostor) = (Vec::new(), Vec::new());
    for probe in probes {
        for g in gallery {
            let score = cosine(&g.feature, &probe.feature);
            if g.identity == probe.identity {
                genuine.push(score)
            } else {
                impostor.push(score)
            }
        }
    }
    (genuine, impostor)
}

/// A verification ROC: true-accept rate against false-accept rate as the threshold falls.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Roc {
    /// `[far, tar]` points from (0, 0) to (1, 1).
    pub points: Vec<[f64; 2]>,
    /// Equal error rate: where the false-accept rate equals the false-reject rate.
    pub eer: f64,
    /// True-accept rate at a false-accept rate of 1 % (the best threshold that stays within it).
    pub tar_at_far_1pct: f64,
}

/// The ROC of similarity scores of genuine (same identity) and impostor (different) pairs;
/// `None` when either list is empty.
pub fn roc(genuine: &[f32], impostor: &[f32]) -> Option<Roc> {
    if genuine.is_empty() || impostor.is_empty() {
        return None;
    }
    // Every pair, highest score first; ties are accepted together.
    let mut scored: Vec<(f32, bool)> = genuine.iter().map(|&s| (s, true)).chain(impostor.iter().map(|&s| (s, false))).collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (g, i) = (genuine.len() as f64, impostor.len() as f64);
    let mut points = vec![[0.0, 0.0]];
    let (mut accepted_genuine, mut accepted_impostor) = (0usize, 0usize);
    // Grouped by `total_cmp`, so every group holds at least one pair and a NaN ends its own.
    for tied in scored.chunk_by(|a, b| a.0.total_cmp(&b.0).is_eq()) {
        let genuine_here = tied.iter().filter(|(_, genuine)| *genuine).count();
        accepted_genuine += genuine_here;
        accepted_impostor += tied.len() - genuine_here;
        points.push([accepted_impostor as f64 / i, accepted_genuine as f64 / g]);
    }
    let tar_at_far_1pct = points.iter().filter(|p| p[0] <= 0.01 + 1e-12).map(|p| p[1]).fold(0.0, f64::max);
    Some(Roc { eer: equal_error_rate(&points), tar_at_far_1pct, points })
}

/// Where FAR = FRR = 1 − TAR along the ROC, interpolated linearly between points.
fn equal_error_rate(points: &[[f64; 2]]) -> f64 {
    for pair in points.windows(2) {
        let ([f0, t0], [f1, t1]) = (pair[0], pair[1]);
        // d = FAR − FRR = far + tar − 1 rises along the curve.
        let (d0, d1) = (f0 + t0 - 1.0, f1 + t1 - 1.0);
        if d0 <= 0.0 && d1 >= 0.0 {
            let t = if d1 > d0 { -d0 / (d1 - d0) } else { 0.0 };
            return f0 + t * (f1 - f0);
        }
    }
    0.5
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(identity: usize, bin: usize, feature: Vec<f32>) -> Labelled {
        Labelled { identity, bin, feature }
    }

    #[test]
    fn identical_features_give_rank1_of_one_and_swapped_ones_zero() {
        let gallery = vec![item(0, 1, vec![1.0, 0.0]), item(1, 1, vec![0.0, 1.0])];
        let probes = vec![item(0, 0, vec![1.0, 0.0]), item(1, 2, vec![0.0, 1.0]), item(0, 2, vec![0.0, 1.0])];
        assert_eq!(rank1_per_bin(&gallery, &probes, 3), vec![Some(1.0), None, Some(0.5)]);
        assert_eq!(mean_over(&[Some(1.0), None, Some(0.5)], [0, 1, 2]), Some(0.75));
        assert_eq!(mean_over(&[None], [0]), None);
    }

    #[test]
    fn separable_scores_give_a_perfect_roc_and_equal_ones_a_diagonal() {
        let perfect = roc(&[0.9, 0.8], &[0.1, 0.2, 0.3]).expect("a roc");
        assert_eq!(perfect.eer, 0.0);
        assert_eq!(perfect.tar_at_far_1pct, 1.0);
        let chance = roc(&[0.5, 0.5], &[0.5, 0.5]).expect("a roc");
        assert_eq!(chance.points, vec![[0.0, 0.0], [1.0, 1.0]]);
        assert!((chance.eer - 0.5).abs() < 1e-12);
        assert_eq!(chance.tar_at_far_1pct, 0.0);
        assert!(roc(&[], &[0.1]).is_none());
    }

    #[test]
    fn a_known_overlap_gives_its_eer() {
        // Genuine 0.9, 0.6; impostor 0.7, 0.1: one error each way at the threshold between
        // 0.7 and 0.6, so FAR = FRR = 0.5 there.
        let curve = roc(&[0.9, 0.6], &[0.7, 0.1]).expect("a roc");
        assert_eq!(curve.points, vec![[0.0, 0.0], [0.0, 0.5], [0.5, 0.5], [0.5, 1.0], [1.0, 1.0]]);
        assert!((curve.eer - 0.5).abs() < 1e-12);
        assert_eq!(curve.tar_at_far_1pct, 0.5);
    }

    /// Found by a hostile tester: a NaN score never matched itself, so the loop never moved on.
    #[test]
    fn a_nan_score_ends_the_curve_instead_of_looping() {
        let curve = roc(&[f32::NAN, 0.9], &[0.1, f32::NAN]).expect("a roc");
        assert_eq!(curve.points.len(), 4, "{:?}", curve.points);
        assert_eq!(curve.points.last(), Some(&[1.0, 1.0]));
    }
}
