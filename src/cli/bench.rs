//! `drgan-studio bench`: what the project's speed targets are measured by. The full training
//! step (D on real and fake, G forward and backward, the paper's recipe, as the PyTorch
//! reference takes it) in images per second per preset and batch; the Explore sweep and a
//! single redraw; the data loader; a quick evaluation; and, with `--peer`, the PyTorch
//! reference run side by side. `--json` writes it all as one object.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;
use serde::Serialize;

use crate::data::formats::{self, OpenOptions};
use crate::data::loader::{DecodeCache, batch_for_step};
use crate::data::prepare::{centred_input, load_size};
use crate::data::{BatchPlan, FaceSet, ImageSource, LabelledImage, SkipReport, Split};
use crate::device::{self, ChosenDevice, DeviceChoice};
use crate::eval::evaluate::{EvalOptions, Instruments, evaluate};
use crate::model::rotator::{Rotator, one_hot};
use crate::model::{Generator, ModelConfig, PoseBins, Preset, Upsample};
use crate::synth::SynthSpec;
use crate::train::run_dir::write_atomically;
use crate::train::{Balance, DataSource, Recipe, RunConfig, TrainSettings, Trainer};

/// Arguments of `bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Presets to measure.
    #[arg(long, value_enum, num_args = 1.., default_values_t = [Preset::Tiny, Preset::Small])]
    pub presets: Vec<Preset>,
    /// Real images per step (several: each is measured).
    #[arg(long, num_args = 1.., default_values_t = [16], value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=4096))]
    pub batch: Vec<usize>,
    /// Timed steps per preset and batch (after one untimed warm-up step).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub steps: u64,
    /// Where the model runs.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    /// Measure the data path instead: the loader's images per second at 96×96 on one core, and
    /// the time from opening a manifest of this many rows to the first finished training step.
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=MAX_LOADER_ROWS))]
    pub loader: Option<usize>,
    /// Timed Explore sweeps (and single redraws) per preset; 0 skips them.
    #[arg(long, default_value_t = 20, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=MAX_SAMPLES))]
    pub interactive: usize,
    /// Skip the quick evaluation of the built-in model.
    #[arg(long)]
    pub no_eval: bool,
    /// A command that measures the same step elsewhere (e.g. `python3 torch_drgan_ref.py`): it
    /// is run with `PRESET BATCH STEPS` appended, right after this project's figure, and must
    /// print a JSON line with `img_per_s`.
    #[arg(long)]
    pub peer: Option<String>,
    /// Write every figure as one JSON object to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// The decoder's upsampling: `transposed` (the paper's network, as PyTorch's reference has
    /// it) or `resize` (the studio recipe's).
    #[arg(long, value_enum, default_value_t = Upsample::Transposed)]
    pub upsample: Upsample,
}

/// The most manifest rows `--loader` makes (each a hard link and a row, in a temporary folder).
const MAX_LOADER_ROWS: u64 = 1_000_000;

/// The most timed sweeps `--interactive` takes.
const MAX_SAMPLES: u64 = 100_000;

/// The machine the figures were taken on.
#[derive(Debug, Serialize)]
struct Machine {
    cpu: String,
    cores: usize,
    features: Vec<&'static str>,
}

/// Median and 95th percentile of a set of timings, in milliseconds.
#[derive(Debug, Serialize)]
struct Percentiles {
    p50: f64,
    p95: f64,
    samples: usize,
}

impl Percentiles {
    fn of(mut millis: Vec<f64>) -> Self {
        millis.sort_by(f64::total_cmp);
        let at = |q: f64| millis.get(((millis.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(f64::NAN);
        Self { p50: at(0.5), p95: at(0.95), samples: millis.len() }
    }
}

/// The peer's figures and ours over theirs.
#[derive(Debug, Serialize)]
struct Peer {
    command: String,
    train_img_per_s: BTreeMap<String, BTreeMap<String, f64>>,
    ratio: BTreeMap<String, BTreeMap<String, f64>>,
}

/// A quick evaluation's wall time and what it evaluated.
#[derive(Debug, Serialize)]
struct EvalTiming {
    secs: f64,
    what: String,
}

/// What `bench --json` writes.
#[derive(Debug, Serialize)]
struct Report {
    machine: Machine,
    device: String,
    device_reason: String,
    /// The block the GPU runs: the fused one (`src/kernels/cube`) or burn's modules.
    gpu_block: &'static str,
    /// How the fused block's 3×3 convolutions and weight gradients run: `tuned`, `burn` or
    /// `product`.
    gpu_conv: &'static str,
    /// The cooperative-matrix tiles the GPU offers the kernels (`tensor_core_tiles`).
    gpu_tensor_core_tiles: Vec<String>,
    step: &'static str,
    /// The decoder's upsampling the figures are for.
    upsample: &'static str,
    train_img_per_s: BTreeMap<String, BTreeMap<String, f64>>,
    train_gflop_per_image: BTreeMap<String, f64>,
    train_gflops: BTreeMap<String, BTreeMap<String, f64>>,
    first_step_secs: BTreeMap<String, BTreeMap<String, f64>>,
    /// GPU kernels launched by one training step (0 on the CPU backend, which launches none).
    gpu_kernels_per_step: BTreeMap<String, BTreeMap<String, usize>>,
    /// GPU kernels launched by one Explore sweep (0 on the CPU backend).
    gpu_kernels_per_sweep: BTreeMap<String, usize>,
    /// The kernels one training step launches most, with their launches per step.
    gpu_commonest_kernels: BTreeMap<String, BTreeMap<String, Vec<(String, usize)>>>,
    /// G encoder, G decoder, D (Nd = 10), in millions, BatchNorm statistics included.
    parameters_millions: BTreeMap<String, [f64; 3]>,
    sweep_ms: BTreeMap<String, Percentiles>,
    redraw_ms: BTreeMap<String, Percentiles>,
    loader_img_per_s: f64,
    eval_secs: Option<EvalTiming>,
    peer: Option<Peer>,
}

/// Prints one line per measurement, and writes the JSON report when asked.
pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let chosen = device::choose(args.device)?;
    println!("device: {} — {}", chosen.name, chosen.reason);
    let tiles = device::tensor_core_tiles(&chosen);
    if !chosen.name.starts_with("cpu") {
        println!("GPU block: {} (set {}=burn for burn's modules)", crate::kernels::gpu_block(), crate::kernels::GPU_BLOCK_VARIABLE);
        println!(
            "its 3×3 convolutions and weight gradients: {} (set {}=burn or product for one way only)",
            crate::kernels::gpu_conv().name(),
            crate::kernels::GPU_CONV_VARIABLE
        );
        println!("tensor-core tiles offered to the kernels: {}", if tiles.is_empty() { "none".to_owned() } else { tiles.join(", ") });
    }
    if let Some(rows) = args.loader {
        loader_throughput()?;
        return time_to_first_step(rows, &chosen.device);
    }
    let mut report = Report {
        machine: machine(),
        device: chosen.name.clone(),
        device_reason: chosen.reason.clone(),
        gpu_block: crate::kernels::gpu_block(),
        gpu_conv: crate::kernels::gpu_conv().name(),
        gpu_tensor_core_tiles: tiles,
        upsample: args.upsample.name(),
        step: "the paper recipe's step (D on real and fake, then G), as the PyTorch reference takes it",
        train_img_per_s: BTreeMap::new(),
        train_gflop_per_image: BTreeMap::new(),
        train_gflops: BTreeMap::new(),
        first_step_secs: BTreeMap::new(),
        gpu_kernels_per_step: BTreeMap::new(),
        gpu_commonest_kernels: BTreeMap::new(),
        gpu_kernels_per_sweep: BTreeMap::new(),
        parameters_millions: BTreeMap::new(),
        sweep_ms: BTreeMap::new(),
        redraw_ms: BTreeMap::new(),
        loader_img_per_s: 0.0,
        eval_secs: None,
        peer: args.peer.as_ref().map(|command| Peer { command: command.clone(), train_img_per_s: BTreeMap::new(), ratio: BTreeMap::new() }),
    };
    println!("machine: {} ({} cores; {})", report.machine.cpu, report.machine.cores, report.machine.features.join(" "));
    // Written after every figure, so that a run stopped part way (a time limit on a lent GPU
    // machine) leaves what it measured.
    let save = |report: &Report| -> anyhow::Result<()> {
        match &args.json {
            Some(path) => write_atomically(path, serde_json::to_string_pretty(report)?.as_bytes())
                .with_context(|| format!("writing {}", path.display())),
            None => Ok(()),
        }
    };
    for &preset in &args.presets {
        let name = preset.name().to_owned();
        for &batch in &args.batch {
            let (rate, config) = train_rate(preset, batch, args.steps, args.upsample, &chosen)?;
            let (img_per_s, first_step) = (rate.img_per_s, rate.first_step_secs);
            let flops = config.train_step_flops() as f64;
            println!(
                "{:<6} {}×{}  batch {:>3}: {:>7.1} img/s  ({:.3} s per step, {} steps, {:.1} GFLOP/s at {:.2} GFLOP per image; first step {:.1} s)",
                preset.name(),
                preset.image_size(),
                preset.image_size(),
                batch,
                img_per_s,
                batch as f64 / img_per_s,
                args.steps,
                img_per_s * flops / 1e9,
                flops / 1e9,
                first_step
            );
            if rate.kernels_per_step > 0 {
                let commonest: Vec<String> = rate.commonest_kernels.iter().map(|(kernel, count)| format!("{count} {kernel}")).collect();
                println!("{:<6} batch {:>3}: {} GPU kernels per step; most launched: {}", preset.name(), batch, rate.kernels_per_step, commonest.join(", "));
            }
            report.gpu_kernels_per_step.entry(name.clone()).or_default().insert(batch.to_string(), rate.kernels_per_step);
            report.gpu_commonest_kernels.entry(name.clone()).or_default().insert(batch.to_string(), rate.commonest_kernels);
            report.first_step_secs.entry(name.clone()).or_default().insert(batch.to_string(), first_step);
            let [encoder, decoder, discriminator] = rate.parameters.map(|p| p as f64 / 1e6);
            report.parameters_millions.insert(name.clone(), [encoder, decoder, discriminator]);
            report.train_img_per_s.entry(name.clone()).or_default().insert(batch.to_string(), img_per_s);
            report.train_gflops.entry(name.clone()).or_default().insert(batch.to_string(), img_per_s * flops / 1e9);
            report.train_gflop_per_image.insert(name.clone(), flops / 1e9);
            if let (Some(peer), Some(command)) = (&mut report.peer, &args.peer) {
                let theirs = peer_rate(command, preset, batch, args.steps)?;
                println!("{:<6} peer ({command}): {theirs:.1} img/s; ratio {:.2}×", preset.name(), img_per_s / theirs);
                peer.train_img_per_s.entry(name.clone()).or_default().insert(batch.to_string(), theirs);
                peer.ratio.entry(name.clone()).or_default().insert(batch.to_string(), img_per_s / theirs);
            }
            save(&report)?;
        }
        if let Some([encoder, decoder, discriminator]) = report.parameters_millions.get(&name) {
            println!("{:<6} parameters: G enc {encoder:.2} M, G dec {decoder:.2} M, D {discriminator:.2} M (Nd 10)", preset.name());
        }
        if args.interactive > 0 {
            let (sweep, redraw, sweep_kernels) = interactive(preset, args.interactive, args.upsample, &chosen.device)?;
            println!(
                "{:<6} Explore sweep (encode + {} poses): p50 {:.1} ms, p95 {:.1} ms, {sweep_kernels} GPU kernels; one pose redrawn from a cached encoding: p50 {:.1} ms, p95 {:.1} ms",
                preset.name(),
                PoseBins::default().len(),
                sweep.p50,
                sweep.p95,
                redraw.p50,
                redraw.p95
            );
            report.gpu_kernels_per_sweep.insert(name.clone(), sweep_kernels);
            report.sweep_ms.insert(name.clone(), sweep);
            report.redraw_ms.insert(name, redraw);
            save(&report)?;
        }
    }
    report.loader_img_per_s = loader_throughput()?;
    if !args.no_eval {
        let timing = eval_timing(&chosen.device)?;
        println!("evaluation: {:.1} s ({})", timing.secs, timing.what);
        report.eval_secs = Some(timing);
    }
    save(&report)?;
    if let Some(path) = &args.json {
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// The CPU's name, core count and the vector features the matrix products can use.
fn machine() -> Machine {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| info.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split(':').nth(1)).map(|name| name.trim().to_owned()))
        .unwrap_or_else(|| std::env::consts::ARCH.to_owned());
    let mut features = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        let known = [
            ("avx2", std::arch::is_x86_feature_detected!("avx2")),
            ("fma", std::arch::is_x86_feature_detected!("fma")),
            ("avx512f", std::arch::is_x86_feature_detected!("avx512f")),
            ("avx512bw", std::arch::is_x86_feature_detected!("avx512bw")),
            ("avx512vl", std::arch::is_x86_feature_detected!("avx512vl")),
        ];
        features.extend(known.iter().filter(|(_, on)| *on).map(|(name, _)| *name));
    }
    Machine { cpu, cores: std::thread::available_parallelism().map_or(1, |n| n.get()), features }
}

/// A training step's speed: images per second once warm, and the first step's seconds (kernel
/// compilation and autotuning on a GPU).
struct Rate {
    img_per_s: f64,
    first_step_secs: f64,
    /// GPU kernels one step launches, counted on steps after the timed ones.
    kernels_per_step: usize,
    /// The kernels launched most in a step, and how often.
    commonest_kernels: Vec<(String, usize)>,
    /// Parameters of G's encoder, G's decoder and D.
    parameters: [usize; 3],
}

/// Training steps whose GPU kernels `bench` counts (after the timed ones).
const COUNTED_STEPS: u64 = 3;

/// How many of the kernels launched most `bench` names.
const COMMONEST_KERNELS: usize = 8;

/// Images per second through the paper recipe's full step for `preset` at `batch`.
fn train_rate(preset: Preset, batch: usize, steps: u64, upsample: Upsample, chosen: &ChosenDevice) -> anyhow::Result<(Rate, ModelConfig)> {
    let spec = SynthSpec { identities: 12, seed: 1, lights: 1 };
    let faces = FaceSet::synthetic(spec.clone(), PoseBins::default())?;
    let split = Split::by_identity(&faces.identity_names, 0.2, 0)?;
    let config = RunConfig {
        model: ModelConfig { upsample, ..ModelConfig::new(preset, split.train.len()) },
        training: TrainSettings {
            // The warm-up step, the timed ones and those whose kernels are counted.
            steps: steps + 1 + COUNTED_STEPS,
            batch_size: batch,
            learning_rate: 2e-4,
            beta1: 0.5,
            beta2: 0.999,
            seed: 0,
            checkpoint_every: u64::MAX,
            // Always one G update per step, so every step costs the same.
            balance: Balance { g_steps: 1, g_steps_when_d_strong: 1, d_strong_accuracy: 1.0 },
            flip: false,
            test_fraction: 0.2,
            device: chosen_choice(chosen),
            cfp_two_bins: false,
            eval_every: 0,
            recipe: Recipe::default(),
            multi: None,
        },
        data: DataSource::Synthetic(spec),
        split,
        started_from: None,
    };
    let model = config.model.clone();
    let mut trainer = Trainer::new(config, &faces, &chosen.device, None)?;
    let parameters = trainer.parameter_counts();
    let started = Instant::now();
    trainer.train_step()?;
    trainer.flush()?;
    let first_step_secs = started.elapsed().as_secs_f64();
    let started = Instant::now();
    for _ in 0..steps {
        trainer.train_step()?;
    }
    trainer.flush()?;
    let img_per_s = (steps as usize * batch) as f64 / started.elapsed().as_secs_f64();
    // Apart from the timed steps, so that counting costs them nothing; over several steps, so
    // that work a step leaves queued for the next one (burn's fusion runs kernels lazily) counts
    // once on average.
    let (counted, kernels) = device::count_gpu_kernels(|| -> anyhow::Result<()> {
        for _ in 0..COUNTED_STEPS {
            trainer.train_step()?;
        }
        trainer.flush()?;
        Ok(())
    });
    counted?;
    let per_step = |count: usize| count.div_ceil(COUNTED_STEPS as usize);
    let kernels_per_step = per_step(kernels.total());
    let commonest_kernels = kernels.commonest(COMMONEST_KERNELS).into_iter().map(|(name, count)| (name.to_owned(), per_step(count))).collect();
    Ok((Rate { img_per_s, first_step_secs, kernels_per_step, commonest_kernels, parameters }, model))
}

fn chosen_choice(chosen: &ChosenDevice) -> DeviceChoice {
    if chosen.name.starts_with("cpu") {
        DeviceChoice::Cpu
    } else if chosen.name.starts_with("cuda") {
        DeviceChoice::Cuda
    } else {
        DeviceChoice::Gpu
    }
}

/// Runs the peer command for one preset and batch and reads its `img_per_s`.
fn peer_rate(command: &str, preset: Preset, batch: usize, steps: u64) -> anyhow::Result<f64> {
    let line = format!("{command} {} {batch} {steps}", preset.name());
    let output = std::process::Command::new("sh").arg("-c").arg(&line).output().with_context(|| format!("running the peer `{line}`"))?;
    anyhow::ensure!(output.status.success(), "the peer `{line}` failed: {}", String::from_utf8_lossy(&output.stderr).trim());
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find_map(|v| v["img_per_s"].as_f64())
        .with_context(|| format!("the peer `{line}` printed no JSON line with img_per_s: {stdout}"))
}

/// Timings of the Explore sweep (one face encoded and drawn at every pose bin) and of one pose
/// redrawn from a cached encoding, with freshly initialised weights of `preset`, and the GPU
/// kernels one sweep launches.
fn interactive(preset: Preset, samples: usize, upsample: Upsample, device: &burn::prelude::Device) -> anyhow::Result<(Percentiles, Percentiles, usize)> {
    let config = ModelConfig { upsample, ..ModelConfig::new(preset, 10) };
    let rotator = Rotator::from_generator(config.clone(), Generator::new(&config, device), 0, format!("fresh {} weights", preset.name()), device);
    let spec = Arc::new(SynthSpec { identities: 1, seed: 3, lights: 1 });
    let face = centred_input(&ImageSource::Synthetic { spec, person: 0, yaw: 30.0, light: 0 }, preset.image_size()).map_err(|e| anyhow::anyhow!("{}", e.reason()))?;
    let num_poses = config.num_poses();
    let codes: Vec<Vec<f32>> = (0..num_poses).map(|bin| one_hot(bin, num_poses)).collect();
    // One untimed call of each, so first-use costs (allocation, shader compilation) are not counted.
    let encoded = rotator.encode(&face)?;
    rotator.rotate(&face, &codes, 0)?;
    rotator.draw(&encoded, &codes[..1], 0)?;
    let (swept, launches) = device::count_gpu_kernels(|| rotator.rotate(&face, &codes, 0));
    swept?;
    let mut sweeps = Vec::with_capacity(samples);
    let mut redraws = Vec::with_capacity(samples);
    for i in 0..samples {
        let started = Instant::now();
        rotator.rotate(&face, &codes, i as u64)?;
        sweeps.push(started.elapsed().as_secs_f64() * 1e3);
        let started = Instant::now();
        rotator.draw(&encoded, &codes[i % num_poses..i % num_poses + 1], i as u64)?;
        redraws.push(started.elapsed().as_secs_f64() * 1e3);
    }
    Ok((Percentiles::of(sweeps), Percentiles::of(redraws), launches.total()))
}

/// Wall time of a quick evaluation of the built-in model (ten unseen synthetic people, no pose
/// classifier).
fn eval_timing(device: &burn::prelude::Device) -> anyhow::Result<EvalTiming> {
    let config = crate::app::shipped::config()?;
    let rotator = crate::app::shipped::rotator(device)?;
    let spec = SynthSpec { identities: 10, seed: 7, lights: 1 };
    let faces = FaceSet::synthetic(spec.clone(), config.model.pose_bins.clone())?;
    let options = EvalOptions {
        classifier_images: 0,
        ..EvalOptions::default()
    };
    let judge = crate::eval::judge::Judge::built_in(device)?;
    let started = Instant::now();
    evaluate(
        &rotator,
        &config,
        &faces,
        None,
        &options,
        Instruments {
            pose: None,
            judge: Some(&judge),
        },
        device,
        &mut |_, _| {},
    )?;
    let what = format!(
        "built-in {} model on {} unseen synthetic people × {} poses, no pose classifier, the identity judge",
        config.model.preset.name(),
        spec.identities,
        config.model.num_poses()
    );
    Ok(EvalTiming { secs: started.elapsed().as_secs_f64(), what })
}

/// Distinct image files behind the rows of the loader benchmark's manifest.
const DISTINCT_FILES: usize = 256;

/// Rendered 128×128 PNG faces in `dir` and their labelled images.
fn loader_files(dir: &std::path::Path) -> anyhow::Result<(Vec<PathBuf>, Vec<LabelledImage>)> {
    let spec = SynthSpec { identities: 32, seed: 3, lights: 1 };
    let bins = PoseBins::default();
    let files: Vec<PathBuf> = (0..DISTINCT_FILES)
        .map(|i| {
            let path = dir.join(format!("face{i}.png"));
            spec.render(i % spec.identities, bins.yaws[i % bins.len()], 0, 128).save(&path)?;
            Ok(path)
        })
        .collect::<anyhow::Result<_>>()?;
    let images = files
        .iter()
        .enumerate()
        .map(|(i, path)| LabelledImage { source: ImageSource::File(path.clone()), class: i % spec.identities, bin: i % bins.len() })
        .collect();
    Ok((files, images))
}

/// The loader's images per second on one core: decode + resize + crop of PNG files for a 96×96
/// model, without the in-memory cache (what a set too large for memory costs).
fn loader_throughput() -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let (_, images) = loader_files(dir.path())?;
    let plan = BatchPlan::single(96, 64, true, 0, PoseBins::default());
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
    let skipped = Mutex::new(SkipReport::default());
    let uncached = DecodeCache::uncached(load_size(plan.input_size));
    let started = Instant::now();
    let batches = 8;
    pool.install(|| (0..batches).try_for_each(|step| batch_for_step(&images, &plan, step, &uncached, &skipped).map(drop)))
        .map_err(anyhow::Error::msg)?;
    let per_sec = (batches as usize * plan.batch_size) as f64 / started.elapsed().as_secs_f64();
    println!("loader: {per_sec:.0} images/s prepared for a 96×96 model (128×128 PNG → 110×110 → random 96×96 crop, flip) on one core");
    Ok(per_sec)
}

/// Time from opening a manifest of `rows` rows (hard links to a few hundred rendered faces) to
/// the first finished training step of the paper preset.
fn time_to_first_step(rows: usize, device: &burn::prelude::Device) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (files, _) = loader_files(dir.path())?;
    let bins = PoseBins::default();
    let set = dir.path().join("large");
    std::fs::create_dir(&set)?;
    let mut writer = csv::Writer::from_path(set.join(formats::manifest::FILE_NAME))?;
    writer.write_record(["path", "identity", "yaw"])?;
    for row in 0..rows {
        let name = format!("{row}.png");
        std::fs::hard_link(&files[row % DISTINCT_FILES], set.join(&name))?;
        writer.write_record([name.as_str(), &format!("person{}", row % 1000), &bins.yaws[row % bins.len()].to_string()])?;
    }
    writer.flush()?;
    let started = Instant::now();
    let faces = formats::open(&set, &OpenOptions::default())?;
    let opened = started.elapsed().as_secs_f64();
    let split = Split::by_identity(&faces.identity_names, 0.2, 0)?;
    let config = RunConfig {
        model: ModelConfig::new(Preset::Paper, split.train.len()),
        training: TrainSettings {
            steps: 1,
            batch_size: 8,
            learning_rate: 2e-4,
            beta1: 0.5,
            beta2: 0.999,
            seed: 0,
            checkpoint_every: 1,
            balance: Balance::default(),
            flip: false,
            test_fraction: 0.2,
            device: DeviceChoice::Cpu,
            cfp_two_bins: false,
            eval_every: 0,
            recipe: Recipe::default(),
            multi: None,
        },
        data: DataSource::Folder(set.clone()),
        split,
        started_from: None,
    };
    let mut trainer = Trainer::new(config, &faces, device, None)?;
    let ready = started.elapsed().as_secs_f64();
    trainer.train_step()?;
    trainer.flush()?;
    let first_step = started.elapsed().as_secs_f64();
    println!(
        "{rows}-row manifest: read in {opened:.2} s, trainer ready in {ready:.2} s, first paper-preset step (batch 8) done at {first_step:.2} s"
    );
    Ok(())
}
