//! The `drgan-studio` binary: the studio window without arguments, otherwise one subcommand
//! per task (see `cli/`).

use std::process::ExitCode;

use clap::Parser;
use drgan_studio::cli::{Cli, Command};

fn main() -> ExitCode {
    keep_freed_memory();
    cpu_as_burns_default_device();
    drgan_studio::device::keep_gpu_tuning();
    let args = match drgan_studio::cli::recipe_file::expand(std::env::args_os().collect()) {
        Ok(args) => args,
        Err(error) => {
            eprintln!("error: {error:#}");
            return ExitCode::from(2);
        }
    };
    let cli = Cli::parse_from(args);
    drgan_studio::data::prepare::set_pixel_budget(cli.max_pixels);
    let result = match cli.command {
        Some(Command::Synth(args)) => drgan_studio::cli::synth::run(&args),
        Some(Command::Train(args)) => drgan_studio::cli::train::run(&args),
        Some(Command::Inspect(args)) => drgan_studio::cli::inspect::run(&args),
        Some(Command::Bench(args)) => drgan_studio::cli::bench::run(&args),
        Some(Command::Eval(args)) => drgan_studio::cli::eval::run(&args),
        Some(Command::Rotate(args)) => drgan_studio::cli::rotate::run(&args),
        Some(Command::Export(args)) => drgan_studio::cli::export::run(&args),
        Some(Command::Import(args)) => drgan_studio::cli::import::run(&args),
        Some(Command::Judge(args)) => drgan_studio::cli::judge::run(&args),
        Some(Command::GpuCache(args)) => drgan_studio::cli::gpu_cache::run(&args),
        Some(Command::Window(args)) => drgan_studio::cli::window::run(args),
        None => drgan_studio::cli::window::run(Default::default()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if error.is::<drgan_studio::cli::train::Interrupted>() => {
            eprintln!("{error}");
            ExitCode::from(130)
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Lets glibc's allocator keep freed blocks of up to 32 MiB for reuse. By default it maps every
/// block above 128 KiB afresh and hands it back when freed, so each training step faulted in,
/// and zeroed, every activation and gradient buffer anew.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator thresholds; it is called before any other thread
    // exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

/// The studio always names the device it runs on; burn falls back to its default device only
/// inside a few helpers (loading an optimizer's state, for one), and that default is the first
/// GPU backend compiled in: CUDA, which panics where there is no NVIDIA driver, else wgpu.
/// Making the CPU the default keeps a CPU run from starting a GPU driver (and its loader's
/// warnings) and from needing one; state loaded there moves to a GPU run's device on use. The
/// tests that run the library in-process get the same from `.cargo/config.toml`.
fn cpu_as_burns_default_device() {
    let wanted = std::env::var("BURN_DEVICE").ok().filter(|name| matches!(name.to_lowercase().as_str(), "flex" | "wgpu"));
    if wanted.is_none() {
        // SAFETY: called first thing in `main`, before any other thread exists.
        unsafe { std::env::set_var("BURN_DEVICE", "flex") };
    }
}
