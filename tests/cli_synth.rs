//! `drgan-studio synth`: the synthetic face set on disk.

use assert_cmd::Command;

fn synth(out: &std::path::Path, seed: &str) -> assert_cmd::assert::Assert {
    Command::cargo_bin("drgan-studio")
        .unwrap()
        .args(["synth", "--identities", "3", "--seed", seed, "--size", "48", "--lights", "2", "--out"])
        .arg(out)
        .assert()
}

#[test]
fn synth_writes_pngs_and_a_manifest_deterministically() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    synth(&a, "5").success();
    synth(&b, "5").success();
    let manifest = std::fs::read_to_string(a.join("manifest.csv")).unwrap();
    let mut lines = manifest.lines();
    assert_eq!(lines.next(), Some("path,identity,yaw"));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 3 * 9 * 2);
    let yaws: std::collections::BTreeSet<i32> = rows.iter().map(|r| r.rsplit(',').next().unwrap().parse().unwrap()).collect();
    assert_eq!(yaws.into_iter().collect::<Vec<_>>(), vec![-60, -45, -30, -15, 0, 15, 30, 45, 60]);
    for row in &rows {
        let path = row.split(',').next().unwrap();
        let image = image::open(a.join(path)).unwrap();
        assert_eq!((image.width(), image.height()), (48, 48));
        assert_eq!(std::fs::read(a.join(path)).unwrap(), std::fs::read(b.join(path)).unwrap(), "same seed, same pixels");
    }
}

#[test]
fn synth_refuses_zero_identities() {
    let dir = tempfile::tempdir().unwrap();
    Command::cargo_bin("drgan-studio")
        .unwrap()
        .args(["synth", "--identities", "0", "--out"])
        .arg(dir.path())
        .assert()
        .failure()
        .stderr(predicates::str::contains("a synthetic set has 1 to 100000 identities (asked for 0)"));
}
