//! The weights the binary carries (the built-in models' generators and the identity judge):
//! embedded at build time, or, in a build with the `external-weights` feature, read at run time
//! from `$DRGAN_STUDIO_ASSETS`, else `assets/` in the working folder. That build is 20 MB
//! smaller, for carrying to a machine that has the repository beside it (a lent GPU machine
//! takes the working tree and a binary within 64 MiB: `scripts/gpu_bench.sh`).

/// The bytes of the repository's file `assets/$path`, as an `anyhow::Result<Vec<u8>>`.
macro_rules! asset_bytes {
    ($path:literal) => {{
        #[cfg(not(feature = "external-weights"))]
        let bytes: anyhow::Result<Vec<u8>> = Ok(include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/", $path)).to_vec());
        #[cfg(feature = "external-weights")]
        let bytes = $crate::assets::read($path);
        bytes
    }};
}
pub(crate) use asset_bytes;

/// Reads `assets/<path>` at run time (builds with `external-weights`).
#[cfg(feature = "external-weights")]
pub fn read(path: &str) -> anyhow::Result<Vec<u8>> {
    use anyhow::Context;
    let root = std::env::var_os("DRGAN_STUDIO_ASSETS").filter(|dir| !dir.is_empty()).map_or_else(|| std::path::PathBuf::from("assets"), std::path::PathBuf::from);
    let file = root.join(path);
    std::fs::read(&file).with_context(|| format!("this build reads its weights from the repository's assets folder, and {} cannot be read (set DRGAN_STUDIO_ASSETS to that folder)", file.display()))
}
