//! `drgan-studio judge`: make the identity judge (the built-in one for synthetic faces, or one
//! for a run's face set of real photos) and print its own figures.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::data::formats::OpenOptions;
use crate::device::{self, DeviceChoice};
use crate::eval::judge::training::{self, Progress, Schedule, SyntheticRecipe};
use crate::eval::judge::{self, Judge, JudgeQuality, quality};
use crate::model::PoseBins;
use crate::train::run::open_faces;
use crate::train::run_dir::write_atomically;
use crate::train::{DataSource, RunDir};

/// Arguments of `judge`.
#[derive(Debug, clap::Args)]
pub struct JudgeArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: JudgeAction,
}

/// The judge's subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum JudgeAction {
    /// Train a judge: the built-in kind on synthetic people (default), or one for a run's face
    /// set (`--run`) on the real photos of its training people.
    Train(TrainJudgeArgs),
    /// Print a judge's own figures (the built-in judge without `--judge`); a judge of synthetic
    /// people is measured again.
    Report(ReportArgs),
}

/// Arguments of `judge train`.
#[derive(Debug, clap::Args)]
pub struct TrainJudgeArgs {
    /// Make the judge of this run's face set: trained on the photos of the run's training
    /// people, measured on its held-out ones, written to RUN/judge and used by the run.
    #[arg(long, conflicts_with = "out")]
    pub run: Option<PathBuf>,
    /// Where to write a judge of synthetic people (judge.json and judge.bpk).
    #[arg(long, required_unless_present = "run")]
    pub out: Option<PathBuf>,
    /// Synthetic people to learn from.
    #[arg(long, default_value_t = 2400, value_parser = clap::value_parser!(u64).range(2..=20_000))]
    pub identities: u64,
    /// Views rendered of each.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=200))]
    pub renders: u64,
    /// Synthetic people the figures are measured on.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(2..=5_000))]
    pub test_identities: u64,
    /// Synthetic people the familiarity threshold is calibrated on.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(2..=5_000))]
    pub calibration_identities: u64,
    /// Optimizer steps.
    #[arg(long, default_value_t = 8000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub steps: u64,
    /// Faces per step.
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u64).range(4..=4096))]
    pub batch: u64,
    /// Adam's peak learning rate.
    #[arg(long, default_value_t = 2e-3)]
    pub lr: f64,
    /// Seed of weights, batches and augmentations.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Where it trains.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    /// Make the judge around the network of the judge in this folder instead of training one
    /// (the familiarity model, the gate for pictures of no one and the calibration are made
    /// again, and its figures measured again; synthetic judges).
    #[arg(long, conflicts_with = "run")]
    pub network_from: Option<PathBuf>,
}

/// Arguments of `judge report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The judge's folder (or a run folder holding one in `judge/`); the built-in judge when
    /// not given.
    #[arg(long)]
    pub judge: Option<PathBuf>,
    /// Measure again on this many synthetic people of the judge's test seed (synthetic judges).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(2..=5_000))]
    pub identities: u64,
    /// Where it runs.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    /// Write the figures measured again into the judge's `judge.json` (after the measuring code
    /// changed; the weights stay as they are).
    #[arg(long, requires = "judge")]
    pub update: bool,
}

/// Runs `judge`.
pub fn run(args: &JudgeArgs) -> anyhow::Result<()> {
    match &args.action {
        JudgeAction::Train(args) => train(args),
        JudgeAction::Report(args) => report(args),
    }
}

fn train(args: &TrainJudgeArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.lr.is_finite() && args.lr > 0.0 && args.lr < 1.0,
        "the learning rate must be in (0, 1) (got {})",
        args.lr
    );
    let chosen = device::choose(args.device)?;
    eprintln!("device: {} — {}", chosen.name, chosen.reason);
    let schedule = Schedule {
        steps: args.steps as usize,
        batch: args.batch as usize,
        learning_rate: args.lr,
        seed: args.seed,
    };
    // As typed, whatever path the binary was run from.
    let command = std::iter::once("drgan-studio".to_owned())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    let mut progress = progress_printer();
    match (&args.run, &args.out) {
        (Some(run_path), _) => {
            let run = RunDir::new(run_path);
            let config = run
                .read_config()
                .with_context(|| format!("{} is not a run folder", run_path.display()))?;
            anyhow::ensure!(
                matches!(config.data, DataSource::Folder(_)),
                "{} trains on synthetic faces, which the built-in judge already knows; `judge train --run` is for a face set of real photos",
                run_path.display()
            );
            // Held from the start: a run another process trains gets no judge written into it
            // after hours of training.
            let lock = run.lock()?;
            let options = OpenOptions {
                pose_bins: config.model.pose_bins.clone(),
                cfp_two_bins: config.training.cfp_two_bins,
            };
            let faces = open_faces(&config.data, &options)?;
            let made = training::face_set_judge(
                &faces,
                &config.data,
                &config.split.train,
                &config.split.test,
                &schedule,
                &command,
                &chosen.device,
                &mut progress,
            )?;
            write_judge(&made, &run_path.join(judge::RUN_FOLDER))?;
            drop(lock);
            print!("{}", report_text(&made));
            println!("written to {}", run_path.join(judge::RUN_FOLDER).display());
        }
        (None, Some(out)) => {
            let recipe = SyntheticRecipe {
                identities: args.identities as usize,
                renders: args.renders as usize,
                calibration_identities: args.calibration_identities as usize,
                test_identities: args.test_identities as usize,
            };
            let trained = match &args.network_from {
                Some(folder) => {
                    let earlier = Judge::read(folder, &chosen.device)?;
                    Some(training::Trained {
                        network: earlier.network(),
                        command: earlier
                            .card
                            .network_from
                            .clone()
                            .unwrap_or(earlier.card.command.clone()),
                    })
                }
                None => None,
            };
            let made = training::synthetic_judge(
                &recipe,
                &schedule,
                &command,
                trained,
                &chosen.device,
                &mut progress,
            )?;
            write_judge(&made, out)?;
            print!("{}", report_text(&made));
            println!("written to {}", out.display());
        }
        (None, None) => anyhow::bail!(
            "name --out (a judge of synthetic people) or --run (a judge of the run's face set)"
        ),
    }
    Ok(())
}

/// A printer of training progress: one line per report, about every 50 steps.
fn progress_printer() -> impl FnMut(&Progress) + Send {
    let started = std::time::Instant::now();
    move |p: &Progress| {
        if p.steps == 0 {
            eprintln!("… {} ({:.0} s)", p.stage, started.elapsed().as_secs_f64());
        } else if (p.step - 1) % 500 == 0 || p.step == p.steps {
            let elapsed = started.elapsed().as_secs_f64();
            let left = ((p.steps - p.step) * p.batch) as f64 / p.images_per_second.max(1e-9);
            eprintln!(
                "step {}/{} · loss {:.3} · right {:.1} % · {:.0} faces/s · {:.0} s, about {:.0} s to go",
                p.step,
                p.steps,
                p.loss,
                100.0 * p.accuracy,
                p.images_per_second,
                elapsed,
                left
            );
        }
    }
}

/// Writes a judge's two files into `dir` (each atomically; the weights first, so a card never
/// names weights that are not there), the card's checksum that of the weights written.
pub fn write_judge(judge: &Judge, dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("making {}", dir.display()))?;
    let weights = judge.weight_bytes()?;
    let card = judge::JudgeCard {
        weights_sha256: crate::train::run_dir::sha256_hex(&weights),
        ..judge.card.clone()
    };
    write_atomically(&dir.join(judge::WEIGHTS_FILE), &weights)?;
    write_atomically(
        &dir.join(judge::CARD_FILE),
        serde_json::to_string_pretty(&card)?.as_bytes(),
    )
}

fn report(args: &ReportArgs) -> anyhow::Result<()> {
    let chosen = device::choose(args.device)?;
    eprintln!("device: {} — {}", chosen.name, chosen.reason);
    let folder = args.judge.as_ref().map(|path| {
        let inner = path.join(judge::RUN_FOLDER);
        if inner.join(judge::CARD_FILE).exists() {
            inner
        } else {
            path.clone()
        }
    });
    let mut judge = match &folder {
        None => Judge::built_in(&chosen.device)?,
        Some(folder) => Judge::read(folder, &chosen.device)?,
    };
    if judge.card.data.is_none() {
        let bins = PoseBins::default();
        let people = args.identities as usize;
        let faces =
            quality::synthetic_faces(judge::seeds::TEST, people, &bins, judge::network::INPUT)?;
        let described = format!(
            "{people} unseen synthetic people (seed {:#x}), 9 poses, lights 0 and 1",
            judge::seeds::TEST
        );
        let (threshold, measured) = quality::measure(&judge, &faces, &bins.yaws, &described)?;
        eprintln!(
            "measured again on the same people: threshold {threshold:.4} (its card says {:.4})",
            judge.card.threshold
        );
        judge.card.threshold = threshold;
        judge.card.quality = JudgeQuality {
            unfamiliar_share: training::unfamiliar_share_across_sizes(&judge, people, &bins)?,
            ..measured
        };
    }
    print!("{}", report_text(&judge));
    if let (true, Some(folder)) = (args.update, &folder) {
        write_atomically(
            &folder.join(judge::CARD_FILE),
            serde_json::to_string_pretty(&judge.card)?.as_bytes(),
        )?;
        println!(
            "the figures above written into {}",
            folder.join(judge::CARD_FILE).display()
        );
    }
    Ok(())
}

/// A judge's card as a readable report.
pub fn report_text(judge: &Judge) -> String {
    let card = &judge.card;
    let q = &card.quality;
    let percent = |v: Option<f64>| v.map_or("—".to_owned(), |v| format!("{:.1} %", 100.0 * v));
    let mut out = format!("{}\n", judge.summary());
    out.push_str(&format!("  learned from: {}\n", card.trained_on));
    out.push_str(&format!(
        "  measured on: {} ({} faces)\n",
        q.measured_on, q.faces
    ));
    out.push_str(&format!(
        "  threshold (1 % of different-person pairs above it): {:.4}\n",
        card.threshold
    ));
    out.push_str(&format!(
        "  same person, every pose against frontal, above it: {}\n",
        percent(q.tar_all_poses)
    ));
    if let Some(yaw) = q.profile_yaw {
        out.push_str(&format!(
            "  ±{yaw:.0}° against frontal, TAR at FAR 1 %: {}\n",
            percent(q.tar_profile)
        ));
        out.push_str(&format!(
            "  ±{yaw:.0}° blurred by σ = {} px against frontal, TAR at FAR 1 %: {}\n",
            quality::SOFT_SIGMA,
            percent(q.tar_profile_blurred)
        ));
    }
    out.push_str(&format!(
        "  every pose blurred by σ = {} px against frontal, TAR at FAR 1 %: {}\n",
        quality::SOFT_SIGMA,
        percent(q.tar_blurred)
    ));
    out.push_str(&format!(
        "  rank-1 over every pair of two poses: {}",
        percent(q.rank1_pose_pairs)
    ));
    if let Some((gallery, probe, rate)) = q.rank1_worst_pair {
        out.push_str(&format!(
            " (worst: gallery {gallery:+.0}°, probe {probe:+.0}°: {:.1} %)",
            100.0 * rate
        ));
    }
    out.push('\n');
    out.push_str("  negative controls (share of comparisons below the threshold; highest and mean similarity):\n");
    for control in &q.controls {
        out.push_str(&format!(
            "    {:<46} {:>7} over {:>6} comparisons; highest {:.3}, mean {:.3}\n",
            control.name,
            format!("{:.2} %", 100.0 * control.below_threshold),
            control.comparisons,
            control.highest,
            control.mean
        ));
    }
    out.push_str(&format!(
        "  familiarity threshold {:.3}; unseen faces it flags: {}\n",
        card.familiarity_threshold,
        percent(q.unfamiliar_share)
    ));
    if let Some(gate) = &card.no_one {
        out.push_str(&format!("  pictures of no one: above {:.3} similarity to their direction; faces it sees no one in: {}\n", gate.threshold, percent(q.no_one_share)));
    }
    out
}
