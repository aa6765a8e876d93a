//! The G/D balance: how many G updates follow each D update.

use serde::{Deserialize, Serialize};

/// SPEC: alternate 1:1, and give G more steps while D is too strong.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Balance {
    /// G updates per D update normally.
    pub g_steps: usize,
    /// G updates per D update while D is strong.
    pub g_steps_when_d_strong: usize,
    /// D counts as strong while its accuracy (the mean of its identity accuracy on real faces
    /// and its fake-detection accuracy) is at least this.
    pub d_strong_accuracy: f32,
}

impl Default for Balance {
    fn default() -> Self {
        Self { g_steps: 1, g_steps_when_d_strong: 4, d_strong_accuracy: 0.9 }
    }
}

impl Balance {
    /// D's accuracy as the balance reads it.
    pub fn d_accuracy(id_acc_real: f32, fake_acc: f32) -> f32 {
        (id_acc_real + fake_acc) / 2.0
    }

    /// How many G updates the next step makes, given D's accuracy in the last step.
    pub fn g_steps_after(&self, last_d_accuracy: Option<f32>) -> usize {
        match last_d_accuracy {
            Some(acc) if acc >= self.d_strong_accuracy => self.g_steps_when_d_strong,
            _ => self.g_steps,
        }
        .max(1)
    }

    /// `G updates per D update: 1, 4 while D's accuracy ≥ 0.90`.
    pub fn describe(&self) -> String {
        format!(
            "G updates per D update: {}, {} while D's accuracy ≥ {:.2}",
            self.g_steps, self.g_steps_when_d_strong, self.d_strong_accuracy
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strong_d_gets_more_g_steps() {
        let b = Balance::default();
        assert_eq!(b.g_steps_after(None), 1);
        assert_eq!(b.g_steps_after(Some(0.5)), 1);
        assert_eq!(b.g_steps_after(Some(0.95)), 4);
    }
}
