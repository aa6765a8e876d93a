//! The repository stays small enough to travel to a lent GPU machine beside a binary: the device
//! call carries the working tree and the carried folders within 64 MiB, and
//! `scripts/gpu_bench.sh pack` needs about 22 MiB of that for the binary (built with
//! `external-weights`, xz) and the Vulkan loader. A new asset that pushes the tree past its share
//! fails here, not on the GPU machine.

use std::path::Path;
use std::process::Command;

/// What the files git tracks may weigh together.
const TREE_BUDGET_MIB: f64 = 42.0;

#[test]
fn the_tracked_tree_leaves_room_for_a_binary_on_the_gpu_machine() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let Ok(listed) = Command::new("git").args(["ls-files", "-z", "--cached", "--others", "--exclude-standard"]).current_dir(root).output() else {
        eprintln!("no git here: the tree's size was not checked");
        return;
    };
    if !listed.status.success() {
        eprintln!("not a git checkout: the tree's size was not checked");
        return;
    }
    let mut sizes: Vec<(u64, String)> = listed
        .stdout
        .split(|&b| b == 0)
        .filter(|name| !name.is_empty())
        .map(|name| String::from_utf8_lossy(name).into_owned())
        .filter_map(|name| std::fs::metadata(root.join(&name)).ok().map(|m| (m.len(), name)))
        .collect();
    let total_mib = sizes.iter().map(|(size, _)| *size as f64).sum::<f64>() / (1024.0 * 1024.0);
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    let largest: Vec<String> = sizes.iter().take(5).map(|(size, name)| format!("{name} ({:.1} MiB)", *size as f64 / (1024.0 * 1024.0))).collect();
    assert!(
        total_mib <= TREE_BUDGET_MIB,
        "the files git sees weigh {total_mib:.1} MiB, over the {TREE_BUDGET_MIB} MiB that leaves room for a binary on a lent GPU machine (scripts/gpu_bench.sh); the largest: {}",
        largest.join(", ")
    );
}
