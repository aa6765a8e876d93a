//! `drgan-studio gpu-cache`: the GPU's tuning results (and, in a build with the `spirv` feature,
//! its compiled SPIR-V kernels) as one file, made once on a card and brought to another machine
//! with the same card, so that its first training step does not tune again.
//!
//! The folder is the one [`crate::device::keep_gpu_tuning`] names. A bundle is cubecl's own
//! format: every entry is keyed by the cubecl version and the adapter it was measured on, so a
//! bundle from another card is read and never used (it costs nothing else); one from another
//! cubecl version is refused.

use std::path::PathBuf;

/// The cubecl version this binary is built with (Cargo.toml pins it; a test keeps them equal).
const CUBECL_VERSION: &str = "0.11.3";

/// Arguments of `gpu-cache`.
#[derive(Debug, clap::Args)]
pub struct GpuCacheArgs {
    /// What to do with the cache.
    #[command(subcommand)]
    pub action: GpuCacheAction,
}

/// `gpu-cache export` or `gpu-cache import`.
#[derive(Debug, clap::Subcommand)]
pub enum GpuCacheAction {
    /// Write this machine's GPU tuning results into one bundle file.
    Export {
        /// The bundle file to write (replaced if it is a bundle already).
        file: PathBuf,
        /// A name for the bundle, e.g. the card's ("NVIDIA H100 Linux").
        #[arg(long, default_value = "drgan-studio")]
        name: String,
    },
    /// Add a bundle's entries to this machine's GPU cache (entries it has already stay).
    Import {
        /// A bundle file written by `gpu-cache export`.
        file: PathBuf,
    },
}

/// Runs the action and prints what it moved.
pub fn run(args: &GpuCacheArgs) -> anyhow::Result<()> {
    let folder = cubecl::environment::root();
    match &args.action {
        GpuCacheAction::Export { file, name } => {
            if !cubecl::environment::path().is_file() {
                anyhow::bail!("there is no GPU cache in {} yet: run `bench --device gpu` or train on the GPU once first", folder.display());
            }
            // The records are cubecl's account of how the cache was built, not what a launch reads.
            let options = cubecl::bundle::ExportOptions { name: name.clone(), excluded_namespaces: vec!["records".to_owned()], ..Default::default() };
            let manifest = cubecl::bundle::export(&[&folder], file, &options).map_err(|error| anyhow::anyhow!("could not write {}: {error}", file.display()))?;
            let bundle = cubecl::bundle::SqliteBundle::open(file).map_err(|error| anyhow::anyhow!("could not read back {}: {error}", file.display()))?;
            println!("wrote {} (\"{}\", cubecl {}) from {}:", file.display(), manifest.name, manifest.cubecl_version, folder.display());
            for namespace in bundle.summary() {
                println!("  {:>6} entries  {}", namespace.entries, namespace.namespace);
            }
        }
        GpuCacheAction::Import { file } => {
            if !file.is_file() {
                anyhow::bail!("there is no file {}", file.display());
            }
            let bundle = cubecl::bundle::SqliteBundle::open(file).map_err(|error| anyhow::anyhow!("{} is not a GPU cache bundle: {error}", file.display()))?;
            let manifest = bundle.manifest();
            if manifest.cubecl_version != CUBECL_VERSION {
                anyhow::bail!(
                    "{} (\"{}\") was made with cubecl {}; this studio uses cubecl {CUBECL_VERSION} and would never read its entries",
                    file.display(),
                    manifest.name,
                    manifest.cubecl_version
                );
            }
            // cubecl keeps entries in memory, silently, where it cannot open the folder's database.
            std::fs::create_dir_all(&folder).map_err(|error| anyhow::anyhow!("the GPU cache folder {} cannot be made: {error}", folder.display()))?;
            let report = cubecl::bundle::import(&bundle);
            if report.failed > 0 || !cubecl::environment::path().is_file() {
                anyhow::bail!("the entries of {} could not be kept in {} (a full disk or a folder without write access?)", file.display(), folder.display());
            }
            println!(
                "{} (\"{}\"): {} entries added to {}, {} already there",
                file.display(),
                manifest.name,
                report.imported,
                folder.display(),
                report.skipped
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_cubecl_version_named_is_the_one_cargo_toml_pins() {
        let pin = format!("cubecl = {{ version = \"={}\"", super::CUBECL_VERSION);
        assert!(include_str!("../../Cargo.toml").contains(&pin), "Cargo.toml does not pin {pin:?}");
    }
}
