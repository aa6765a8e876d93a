//! `drgan-studio window` (also what `drgan-studio` alone runs): the studio window.

use std::path::PathBuf;

use crate::app::heatmap::MapKind;
use crate::data::align::Landmarks;
use crate::app::{View, WindowOptions, run_window};

/// Options of `window`.
#[derive(Debug, Default, clap::Args)]
pub struct WindowArgs {
    /// The view to show first.
    #[arg(long, value_enum)]
    pub view: Option<View>,
    /// A run folder to open in the Train view.
    #[arg(long)]
    pub run: Option<PathBuf>,
    /// Evaluate the built-in model on a synthetic set at start (see the Evaluate view).
    #[arg(long)]
    pub evaluate: bool,
    /// Save a screenshot of the window to this PNG once everything has loaded, then close
    /// (stored settings are ignored, so it shows the defaults).
    #[arg(long)]
    pub screenshot: Option<PathBuf>,
    /// Show this run's newest generator in Explore instead of the built-in model.
    #[arg(long)]
    pub explore_run: Option<PathBuf>,
    /// Photos of one person to fuse in Explore (with --explore-run's model when it is a
    /// multi-image one, otherwise the built-in multi-image model).
    #[arg(long, num_args = 2..)]
    pub fuse: Vec<PathBuf>,
    /// A second face: Explore's face is shown half way to its identity, with the identity slider.
    #[arg(long)]
    pub blend: Option<PathBuf>,
    /// A run whose newest generator Explore shows beside the built-in model (same preset).
    #[arg(long)]
    pub compare: Option<PathBuf>,
    /// The map Explore's difference view shows first.
    #[arg(long, value_enum)]
    pub map: Option<MapKind>,
    /// A photo to open in Explore.
    #[arg(long)]
    pub image: Option<PathBuf>,
    /// With --image: `x1,y1,x2,y2,x3,y3`, its image-left eye, image-right eye and mouth; the
    /// alignment window opens with them placed and shows the crop.
    #[arg(long, requires = "image", allow_hyphen_values = true)]
    pub landmarks: Option<Landmarks>,
    /// The window's size, `WIDTHxHEIGHT` in points (default 1280x820, or the size it last had).
    #[arg(long, value_parser = parse_size)]
    pub size: Option<[f32; 2]>,
}

/// `WIDTHxHEIGHT`, each at least the window's minimum (720×480).
fn parse_size(text: &str) -> Result<[f32; 2], String> {
    let (width, height) = text
        .split_once('x')
        .ok_or_else(|| format!("{text:?}: write WIDTHxHEIGHT, e.g. 1024x700"))?;
    let number = |part: &str| {
        part.trim()
            .parse::<f32>()
            .map_err(|e| format!("{part:?}: {e}"))
    };
    let size = [number(width)?, number(height)?];
    if size[0] < 720.0 || size[1] < 480.0 || size.iter().any(|v| !v.is_finite() || *v > 16384.0) {
        return Err(format!("{text}: the window is 720x480 to 16384x16384"));
    }
    Ok(size)
}

/// Opens the window; returns when it is closed.
pub fn run(args: WindowArgs) -> anyhow::Result<()> {
    run_window(WindowOptions {
        view: args.view,
        run: args.run,
        evaluate: args.evaluate,
        screenshot: args.screenshot,
        explore_run: args.explore_run,
        fuse: args.fuse,
        blend: args.blend,
        compare: args.compare,
        map: args.map,
        image: args.image,
        landmarks: args.landmarks,
        size: args.size,
    })
}
