//! `drgan-studio eval`: the paper's identification protocol plus the ground-truth measures, on
//! identities the run never trained on, as a table and optionally JSON.

use std::path::PathBuf;

use anyhow::Context;

use crate::data::formats::OpenOptions;
use crate::device::{self, DeviceChoice};
use crate::eval::evaluate::{
    EvalOptions, EvalReport, Instruments, evaluate, held_out_identities, row_fractions,
};
use crate::eval::judge::{self, Judge};
use crate::synth::SynthSpec;
use crate::train::run::{Loaded, load_generator, open_faces};
use crate::train::{DataSource, RunDir};

/// Arguments of `eval`.
#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// The run folder.
    #[arg(long)]
    pub run: PathBuf,
    /// The checkpoint step (default: the newest).
    #[arg(long)]
    pub checkpoint: Option<u64>,
    /// Evaluate on this face set (default: the run's own test identities).
    #[arg(long, conflicts_with = "synthetic")]
    pub data: Option<PathBuf>,
    /// Evaluate on a synthetic set of this many identities (all unseen unless it is the run's
    /// own training set, whose test identities are then used).
    #[arg(long)]
    pub synthetic: Option<usize>,
    /// Seed of the synthetic set.
    #[arg(long, default_value_t = 7, requires = "synthetic")]
    pub seed: u64,
    /// Lighting conditions of the synthetic set.
    #[arg(long, default_value_t = 1, requires = "synthetic", value_parser = clap::value_parser!(u64).range(1..=64))]
    pub lights: u64,
    /// Where the model runs.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    /// Real training images the independent pose classifier learns from.
    #[arg(long, default_value_t = EvalOptions::default().classifier_images)]
    pub classifier_images: usize,
    /// Passes of the pose classifier over them.
    #[arg(long, default_value_t = EvalOptions::default().classifier_epochs as u64, value_parser = clap::value_parser!(u64).range(1..))]
    pub classifier_epochs: u64,
    /// Also write the report as one JSON object to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// The identity judge's folder (default: the run's own judge for its face set, the
    /// built-in one for synthetic faces).
    #[arg(long)]
    pub judge: Option<PathBuf>,
}

/// Runs the evaluation and prints it.
pub fn run(args: &EvalArgs) -> anyhow::Result<()> {
    let chosen = device::choose(args.device)?;
    eprintln!("device: {} — {}", chosen.name, chosen.reason);
    let run = RunDir::new(&args.run);
    let Loaded { config, value: rotator, passed_over, .. } = load_generator(&run, args.checkpoint, &chosen.device)?;
    for note in &passed_over {
        eprintln!("{note}");
    }
    let source = match (&args.data, args.synthetic) {
        (Some(path), _) => DataSource::Folder(path.clone()),
        (None, Some(identities)) => DataSource::Synthetic(SynthSpec { identities, seed: args.seed, lights: args.lights as usize }),
        (None, None) => config.data.clone(),
    };
    let options = OpenOptions { pose_bins: config.model.pose_bins.clone(), cfp_two_bins: config.training.cfp_two_bins };
    let faces = open_faces(&source, &options)?;
    let only = held_out_identities(&config, &source);
    let eval_options = EvalOptions {
        classifier_images: args.classifier_images,
        classifier_epochs: args.classifier_epochs as usize,
        ..EvalOptions::default()
    };
    let identity_judge = match &args.judge {
        Some(dir) => Some(Judge::read(dir, &chosen.device)?),
        None => judge::for_data(Some(&args.run), &source, &chosen.device)?,
    };
    match &identity_judge {
        Some(judge) => eprintln!("identity judge: {}", judge.summary()),
        None => eprintln!(
            "identity judge: none for {} (make one with `drgan-studio judge train --run {}`)",
            faces.origin,
            args.run.display()
        ),
    }
    let instruments = Instruments {
        pose: None,
        judge: identity_judge.as_ref(),
    };
    let mut progress = stage_printer();
    let mut report = evaluate(
        &rotator,
        &config,
        &faces,
        only.as_ref(),
        &eval_options,
        instruments,
        &chosen.device,
        &mut progress,
    )?
    .report;
    report.run = args.run.display().to_string();
    if let Some(judge) = &identity_judge {
        report
            .notes
            .extend(judge.caveats(&source, &faces, only.as_ref()));
    }
    print!("{}", table(&report));
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?).with_context(|| format!("writing {}", path.display()))?;
        println!("report written to {}", path.display());
    }
    Ok(())
}

/// Prints each stage of an evaluation once, with the seconds since the evaluation began (the
/// stages' own progress within them, "rotating to every pose: 41 %", is left out).
fn stage_printer() -> impl FnMut(&str, f32) {
    let started = std::time::Instant::now();
    let mut last = String::new();
    move |what: &str, _| {
        let stage = what.split(':').next().unwrap_or(what);
        if stage != last {
            eprintln!("… {stage} ({:.1} s)", started.elapsed().as_secs_f64());
            last = stage.to_owned();
        }
    }
}

fn cell(value: Option<f64>, percent: bool) -> String {
    match value {
        Some(v) if percent => format!("{:>6.1}", v * 100.0),
        Some(v) => format!("{v:>6.3}"),
        None => format!("{:>6}", "—"),
    }
}

fn row(name: &str, values: &[Option<f64>], percent: bool) -> String {
    let cells: Vec<String> = values.iter().map(|&v| cell(v, percent)).collect();
    format!("{name:<26}{}\n", cells.join(""))
}

/// The report as a readable table.
pub fn table(report: &EvalReport) -> String {
    let mut out = format!(
        "eval of {} at step {} on {}: {} test identities, {} images, {:.1} s\n\n",
        report.run, report.checkpoint, report.data, report.identities, report.images, report.seconds
    );
    let header: Vec<String> = report.pose_yaws.iter().map(|y| format!("{:>6}", format!("{y:+.0}°"))).collect();
    out.push_str(&format!("{:<26}{}\n", "per pose bin", header.join("")));
    out.push_str(&row("rank-1 % (f(x))", &report.rank1_per_bin, true));
    out.push_str(&row("rank-1 % (f(G(x, 0°)))", &report.rank1_frontalized_per_bin, true));
    out.push_str(&row("pose control %", &report.pose_control_per_bin, true));
    out.push_str(&row(
        "identity cosine (G's f)",
        &report.identity_cosine_per_bin,
        false,
    ));
    if report.judge.is_some() {
        out.push_str(&row(
            "judge: rank-1 % raw",
            &report.judge_rank1_per_bin,
            true,
        ));
        out.push_str(&row(
            "judge: rank-1 % frontal.",
            &report.judge_rank1_frontalized_per_bin,
            true,
        ));
        out.push_str(&row(
            "judge: similarity x, G(x,c)",
            &report.judge_identity_per_bin,
            false,
        ));
        out.push_str(&row(
            "judge: same person %",
            &report.judge_identity_kept_per_bin,
            true,
        ));
    }
    if let Some(table) = &report.ssim_table {
        out.push_str("\nSSIM of G(x, c) vs the true rendering (rows: input pose, columns: requested c)\n");
        for (yaw, values) in report.pose_yaws.iter().zip(table) {
            let cells: Vec<Option<f64>> = values.iter().map(|&v| Some(v)).collect();
            out.push_str(&row(&format!("  input {yaw:+.0}°"), &cells, false));
        }
    }
    let confusions = [
        (&report.pose_confusion, "G(x, c) (rows: requested c", "asked"),
        (&report.pose_classifier_confusion, "the real test images (rows: their pose", "real"),
    ];
    for (confusion, what, label) in confusions {
        let Some(confusion) = confusion else { continue };
        out.push_str(&format!("\nthe pose classifier on {what}, columns: the bin it sees, % of the row)\n"));
        for (yaw, shares) in report.pose_yaws.iter().zip(row_fractions(confusion)) {
            let cells: Vec<Option<f64>> = shares.into_iter().map(Some).collect();
            out.push_str(&row(&format!("  {label} {yaw:+.0}°"), &cells, true));
        }
    }
    out.push('\n');
    let summary = [
        ("rank-1 average, non-frontal", cell(report.rank1_avg, true) + " %"),
        ("rank-1 average, frontalized", cell(report.rank1_frontalized_avg, true) + " %"),
        ("verification EER", cell(report.eer, true) + " %"),
        ("TAR at FAR 1 %", cell(report.tar_at_far_1pct, true) + " %"),
        ("frontal SSIM average", cell(report.ssim_frontal_avg, false)),
        ("SSIM average, every pose pair", cell(report.ssim_mean, false)),
        ("pose control", cell(report.pose_control_acc, true) + " %"),
        ("pose classifier on real", cell(report.pose_classifier_test_acc, true) + " %"),
        ("G's softness, as a blur", report.softness_blur_px.map_or_else(|| "—".to_owned(), |s| format!("σ {s:.1} px"))),
        ("pose classifier on real, that soft", cell(report.pose_classifier_softened_acc, true) + " %"),
        ("pose error, mean", cell(report.pose_error_degrees, false) + " °"),
        ("pose read > 1 bin off", cell(report.pose_far_off, true) + " %"),
        ("pose kept from the input", cell(report.pose_kept_from_input, true) + " %"),
    ];
    for (name, value) in summary {
        out.push_str(&format!("{name:<30}{value}\n"));
    }
    if let Some(group) = report.fused_group {
        let fused = [
            (
                format!("rank-1, {group} photos fused"),
                cell(report.rank1_fused_avg, true) + " %",
            ),
            (
                "rank-1, the same photos singly".to_owned(),
                cell(report.rank1_single_same_photos, true) + " %",
            ),
            (
                format!("frontal SSIM, {group} fused"),
                cell(report.ssim_frontal_fused_avg, false),
            ),
            (
                "frontal SSIM, the same singly".to_owned(),
                cell(report.ssim_frontal_single_same_photos, false),
            ),
            (
                format!("judge: rank-1, {group} fused"),
                cell(report.judge_rank1_fused_frontal, true) + " %",
            ),
            (
                "judge: rank-1, the same singly".to_owned(),
                cell(report.judge_rank1_single_frontal_same_photos, true) + " %",
            ),
        ];
        for (name, value) in fused {
            out.push_str(&format!("{name:<30}{value}\n"));
        }
    }
    if let Some(judge) = &report.judge {
        out.push_str(&format!(
            "\nthe identity judge (a face recogniser trained apart from every model): {judge}\n"
        ));
        let judged = [
            (
                "judge: rank-1, raw probes",
                cell(report.judge_rank1_avg, true) + " %",
            ),
            (
                "judge: rank-1, frontalized",
                cell(report.judge_rank1_frontalized_avg, true) + " %",
            ),
            (
                "judge: TAR at FAR 1 %, raw",
                cell(report.judge_tar_at_far_1pct, true) + " %",
            ),
            (
                "judge: TAR at FAR 1 %, front.",
                cell(report.judge_tar_at_far_1pct_frontalized, true) + " %",
            ),
            (
                "judge: G's faces, same person",
                cell(report.judge_identity_kept, true) + " %",
            ),
            (
                "judge: test faces unfamiliar",
                cell(report.judge_unfamiliar_share, true) + " %",
            ),
        ];
        for (name, value) in judged {
            out.push_str(&format!("{name:<30}{value}\n"));
        }
    }
    if !report.worst_identities.is_empty() {
        let worst: Vec<String> = report.worst_identities.iter().take(5).map(|(n, c)| format!("{n} {c:.3}")).collect();
        out.push_str(&format!("{:<30}{}\n", "worst-kept identities", worst.join(", ")));
    }
    for note in &report.notes {
        out.push_str(&format!("note: {note}\n"));
    }
    out
}
